"""The interface every backend module implements, and the registry that picks one by kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.domain import SubmitResult, TaskSnapshot


class Backend(Protocol):
    """One backend account's API, mapped onto the domain model. No Discord knowledge here.

    Every method raises :class:`bot.domain.BackendError` on failure, whatever the transport said.
    ``hook_url`` is where the backend should push task updates (``None``: poll only); ``state`` is
    an opaque string the backend echoes back in the task.
    """

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...

    async def fetch(self, task_id: str) -> TaskSnapshot | None:
        """The task as the backend sees it now; ``None`` when the backend does not know it."""
        ...

    def parse_push(self, body: Any) -> TaskSnapshot:
        """A webhook body (already JSON-decoded) as a snapshot; BackendError(INVALID_INPUT) if malformed."""
        ...
