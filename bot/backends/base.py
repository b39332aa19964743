"""The interface every backend module implements, and the registry that picks one by kind."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.domain import Dimensions, SettingsState, SubmitResult, TaskSnapshot


@dataclass(frozen=True)
class AccountOption:
    """One ``account.options`` key a backend reads: the whole value must match ``pattern``;
    ``example`` shows an admin what fits."""

    pattern: re.Pattern[str]
    example: str


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


# Optional capabilities: a backend implements those its API offers. The engine checks with
# isinstance() and tells the member clearly when the account's service lacks one.


@runtime_checkable
class SupportsModal(Protocol):
    async def modal(
        self, task_id: str, prompt: str | None = None, mask_png: bytes | None = None
    ) -> SubmitResult:
        """Confirm a task waiting in MODAL state, with the prompt (and mask) the member gave."""
        ...


@runtime_checkable
class SupportsBlend(Protocol):
    async def blend(
        self,
        images: Sequence[bytes],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult: ...


@runtime_checkable
class SupportsDescribe(Protocol):
    async def describe(
        self, image: bytes, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...


@runtime_checkable
class SupportsShorten(Protocol):
    async def shorten(self, prompt: str, *, hook_url: str | None = None, state: str = "") -> SubmitResult: ...


@runtime_checkable
class SupportsCancel(Protocol):
    async def cancel(self, task_id: str) -> None: ...


@runtime_checkable
class SupportsSettings(Protocol):
    """The service keeps Midjourney settings itself, per account (TheNextLeg's /settings)."""

    async def settings_state(self) -> SettingsState: ...

    async def press_setting(self, label: str) -> SettingsState: ...


@runtime_checkable
class SupportsGenerate(Protocol):
    """Generation with explicit, backend-specific parameters (AIMG's model, size, steps…)."""

    async def generate(self, params: Mapping[str, str], *, state: str = "") -> SubmitResult: ...


@runtime_checkable
class SupportsRemix(Protocol):
    async def remix(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press button ``custom_id`` of task ``task_id`` with an edited prompt (Midjourney's Remix).

        Returns the started task; BackendError(INVALID_INPUT) when the service cannot remix.
        """
        ...
