"""Discord-shaped error answers: status, JSON code and message, and the 50035 per-field error tree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Issue:
    """One invalid field of a request body, as Discord reports it inside `errors`."""

    path: tuple[str | int, ...]
    code: str
    message: str


class DiscordError(Exception):
    """An error answer. `violation` is False for answers that are not the bot's fault (faults, 404s)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSON | None = None,
        violation: bool = True,
    ) -> None:
        super().__init__(f"{status} (code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def error_tree(issues: Sequence[Issue]) -> JSON:
    """Nest issues the way Discord does: {"embeds": {"0": {"title": {"_errors": [...]}}}}."""
    tree: JSON = {}
    for issue in issues:
        node = tree
        for key in issue.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": issue.code, "message": issue.message})
    return tree


def invalid_form_body(issues: Sequence[Issue]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors=error_tree(issues))


def unknown(what: str, code: int, *, violation: bool = False) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}", violation=violation)
