"""Inspectable emulator state: plain dataclasses plus a change feed (`Store.emit`) for tests and UIs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .world import World

JSON = dict[str, Any]
T = TypeVar("T")

#: How often Store.wait_for looks again when nothing on the emulator changed, seconds.
RECHECK = 0.05
EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass
class StoredAttachment:
    id: int
    channel_id: int
    filename: str
    content_type: str
    data: bytes
    width: int | None = None
    height: int | None = None
    description: str | None = None
    #: When its URL was signed and until when it works (emulator-clock seconds; see payloads.attachment).
    issued: float = 0.0
    expires: float = float("inf")


@dataclass
class Message:
    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    tts: bool = False
    # Set for interaction responses and followups (their author is the application's webhook).
    interaction_id: int | None = None
    # An ephemeral message is visible only to this user and never reaches the gateway.
    visible_to: int | None = None
    edited_at: float | None = None
    deleted: bool = False
    #: The sender's nonce, for Discord's ``enforce_nonce`` de-duplication.
    nonce: str | None = None

    @property
    def ephemeral(self) -> bool:
        return self.visible_to is not None

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)


@dataclass
class Interaction:
    """One interaction the driver sent, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    data: JSON
    created_at: float
    # The message a component sits on (component clicks; modal submits opened from a component).
    message_id: int | None = None
    # The interaction whose type-9 answer opened the modal this submit closes.
    parent: Interaction | None = None
    acked: bool = False
    response_type: int | None = None
    response_data: JSON | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: JSON | None = None
    modal_submitted: bool = False
    choices: list[JSON] | None = None
    errors: list[Violation] = field(default_factory=list)

    @property
    def error(self) -> Violation | None:
        return self.errors[-1] if self.errors else None

    @property
    def ephemeral(self) -> list[Message]:
        """Messages of this interaction that only its user sees."""
        return [
            m for m in (self.original, *self.followups) if m is not None and m.ephemeral and not m.deleted
        ]


@dataclass
class CallRecord:
    method: str
    path: str
    route: str | None
    query: dict[str, str]
    body: Any
    files: list[tuple[str, int]]
    at: float
    status: int = 0
    #: Which limit refused it when `status` is 429: "global", "user" (its route) or "shared".
    scope: str | None = None


@dataclass
class Violation:
    method: str
    path: str
    route: str | None
    status: int
    code: int
    message: str
    errors: JSON | None
    body: Any
    at: float


@dataclass
class Event:
    kind: str
    data: JSON
    at: float = field(default_factory=time.time)


class Store:
    """All state of one emulator. Every mutation goes through `emit` so waiters and subscribers see it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.interactions: dict[int, Interaction] = {}
        # Registered application commands: key None is the global scope, else a guild id.
        self.commands: dict[int | None, list[JSON]] = {}
        self.calls: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.rate_limited: list[CallRecord] = []
        self.events: list[Event] = []
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._changed = asyncio.Event()

    def emit(self, kind: str, data: JSON) -> None:
        event = Event(kind, data)
        self.events.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        self.notify()

    def notify(self) -> None:
        """Wake every `wait_for`; they re-check their predicate. One Event per generation, no polling."""
        self._changed.set()
        self._changed = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.remove(queue)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109 (explicit per-call deadline)
        """Return the first truthy value of `predicate()`, re-evaluated after every state change
        and every ``RECHECK`` seconds: a test's predicate may read a fake backend's state too, which
        can change last, with nothing on Discord's side changing after it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), RECHECK)
        except TimeoutError:
            raise TimeoutError(
                f"the emulator state did not satisfy {predicate!r} within {timeout} s"
            ) from None

    def channel_messages(self, channel_id: int, *, viewer: int | None = None) -> list[Message]:
        """Messages of a channel, oldest first; ephemeral ones only for the user they belong to."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and not m.deleted and m.visible_to in (None, viewer)
        ]
