"""Request-body validation against Discord's official OpenAPI 3.1 spec (sandbox/discord_openapi.json)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import Issue

JSON = dict[str, Any]
MAX_REPORTED = 10


def load_spec() -> JSON:
    spec: JSON = json.loads(resources.files("sandbox").joinpath("discord_openapi.json").read_text("utf-8"))
    return spec


Validators = tuple[jsonschema_rs.Validator, Draft202012Validator]
#: The bundled spec and its compiled validators, shared by every emulator of the process:
#: compiling one route's schema takes ~15 ms, and each test starts its own emulator.
_SHARED: tuple[JSON, dict[tuple[str, str], Validators | None]] | None = None


class SpecValidator:
    """Validators per (method, spec path template), compiled on first use and cached.

    OpenAPI 3.1 schemas are JSON Schema 2020-12. The request schema is validated with the spec's
    `components` mounted at the root, so its `#/components/schemas/...` references resolve.

    Two validators per schema: jsonschema-rs says whether a body is valid, and only a body it
    refuses goes through jsonschema, whose error tree :func:`_most_specific` reads; jsonschema
    alone is too slow for the load benchmark (docs/sandbox.md).
    """

    def __init__(self, spec: JSON | None = None) -> None:
        global _SHARED
        if spec is None:
            if _SHARED is None:
                _SHARED = (load_spec(), {})
            self._spec, self._cache = _SHARED
        else:
            self._spec, self._cache = spec, {}

    def prepare(self, routes: Iterable[tuple[str, str]]) -> None:
        """Compile the validators of these (method, template) now rather than on first use (the
        load benchmark does, so that a compilation does not count as the bot's latency)."""
        for method, template in routes:
            self._validators(method, template)

    def _validators(self, method: str, template: str) -> Validators | None:
        key = (method.lower(), template)
        if key not in self._cache:
            operation = self._spec["paths"].get(template, {}).get(key[0], {})
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                self._cache[key] = None
            else:
                mounted = {**schema, "components": self._spec["components"]}
                self._cache[key] = (
                    jsonschema_rs.Draft202012Validator(mounted),
                    Draft202012Validator(mounted),
                )
        return self._cache[key]

    def check(self, method: str, template: str, body: Any) -> list[Issue]:
        validators = self._validators(method, template)
        if validators is None:
            return []
        fast, explaining = validators
        tolerated = tolerate_known_quirks(body)
        if fast.is_valid(tolerated):
            return []
        errors = list(explaining.iter_errors(tolerated))
        if not errors:
            return []
        return [_issue(_most_specific(e)) for e in errors[:MAX_REPORTED]]


def _leaves(error: ValidationError) -> list[ValidationError]:
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _most_specific(error: ValidationError) -> ValidationError:
    """The error a human wants from a failed anyOf/oneOf union.

    Component and callback unions are discriminated by `type`: the branches whose `type` does not
    match only say "2 is not one of [10]". Skip those and report the deepest remaining failure
    (e.g. the button's custom_id maxLength), else fall back to jsonschema's best_match.
    """
    leaves = [
        leaf
        for leaf in _leaves(error)
        if not (
            leaf.absolute_path and leaf.absolute_path[-1] == "type" and leaf.validator in ("enum", "const")
        )
    ]
    if not leaves:
        return best_match([error]) or error
    return max(leaves, key=lambda leaf: len(leaf.absolute_path))


def _issue(error: ValidationError) -> Issue:
    path = tuple(p for p in error.absolute_path)
    return Issue(path, f"SCHEMA_{str(error.validator).upper()}", error.message[:300])


def tolerate_known_quirks(body: Any) -> Any:
    """`body` with what Discord accepts but its spec forbids rewritten to the spec's form (a copy;
    `body` itself when there is nothing to rewrite).

    Two quirks, each limited to its field:
    - New uploads reference their `files[n]` part with an integer placeholder id (discord.py sends
      `{"id": 0, "filename": ...}`); the spec types `attachments[].id` as a snowflake string.
    - discord.py sends `allowed_mentions.users` / `.roles` as integer snowflakes; the spec says
      strings, Discord accepts both.
    """
    if not isinstance(body, dict):
        return body
    fixed = _tolerated(body)
    # Interaction callbacks nest the message under "data".
    if isinstance(body.get("data"), dict):
        data = _tolerated(body["data"])
        if data is not body["data"]:
            fixed = {**fixed, "data": data}
    return fixed


def _tolerated(target: JSON) -> JSON:
    """``target`` itself when it has neither quirk (most bodies: no copy), else a copy fixed."""
    changes: JSON = {}
    attachments = target.get("attachments")
    if isinstance(attachments, list) and any(
        isinstance(a, dict) and isinstance(a.get("id"), int) for a in attachments
    ):
        changes["attachments"] = [
            {**a, "id": str(a["id"])} if isinstance(a, dict) and isinstance(a.get("id"), int) else a
            for a in attachments
        ]
    mentions = target.get("allowed_mentions")
    if isinstance(mentions, dict):
        ids = {
            key: [str(v) if isinstance(v, int) else v for v in mentions[key]]
            for key in ("users", "roles")
            if isinstance(mentions.get(key), list) and any(isinstance(v, int) for v in mentions[key])
        }
        if ids:
            changes["allowed_mentions"] = {**mentions, **ids}
    return {**target, **changes} if changes else target
