"""Discord's rate budgets for the writes of job messages through the channel (the publisher,
``bot/discord_side/publisher.py``, schedules every such write against them):

* the global budget (about 50 requests/s per bot token): at most ``GLOBAL_WRITES`` writes in any
  ``GLOBAL_WINDOW``, so the bot never meets a 429;
* the per-channel budgets (about 5 posts and 5 edits per 5 s each): at most ``CHANNEL_WRITES``
  per ``CHANNEL_WINDOW`` per channel and kind.

A budgeted write's slot is taken when the write is chosen and stamped when its answer comes back:
Discord's windows count a write when it arrives, which is no later than its answer (a request
that waits on its way must not let the next window's first write arrive inside this one).
"""

from __future__ import annotations

import time
from collections import deque

from bot.domain import Job

#: Discord's per-channel budget for each of posts and edits (observed: 5 per 5 s). The window is
#: a little longer than Discord's so that jitter in when requests arrive never makes a sixth.
CHANNEL_WRITES = 5
CHANNEL_WINDOW = 5.2
#: Discord's global budget is 50 requests/s per token. Two spare requests cover the few writes
#: outside the publisher; the longer window absorbs arrival jitter (48 / 1.05 s ≈ 45.7/s, 91%).
GLOBAL_WRITES = 48
GLOBAL_WINDOW = 1.05

#: A channel budget: (channel id, "post" | "edit").
Bucket = tuple[int, str]


def bucket(job: Job) -> Bucket:
    """The channel budget ``job``'s next write through the channel spends."""
    return (job.channel_id, "post" if job.message_id is None else "edit")


class Window:
    """At most ``limit`` writes in any ``window`` seconds: the writes chosen but not yet sent,
    and a log of send times, oldest first (so a check looks only at the log's front)."""

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._pending = 0
        self._sent: deque[float] = deque()

    def free(self, now: float) -> int:
        """Writes that may go now."""
        horizon = now - self._window
        sent = self._sent
        while sent and sent[0] <= horizon:
            sent.popleft()
        return self._limit - self._pending - len(sent)

    def free_at(self, now: float) -> float | None:
        """When a write may go: ``now`` or later, or None when only a pending write's completion
        can free a slot."""
        if self.free(now) > 0:
            return now
        return self._sent[0] + self._window if self._sent else None

    def take(self) -> None:
        self._pending += 1

    def sent(self, at: float) -> None:
        """A pending write was answered at ``at``: now, by the monotonic clock, so the log stays
        in order by appending."""
        self._pending -= 1
        self._sent.append(at)

    def give_back(self) -> None:
        """A pending write that sent nothing after all."""
        self._pending -= 1


class Slot:
    """One write counted against the global budget and its channel's (``bucket``): pending until
    its answer comes back, then logged at that time."""

    def __init__(self, bucket: Bucket, *windows: Window) -> None:
        self.bucket = bucket
        self._windows = windows
        self._pending = True
        for window in windows:
            window.take()

    def send(self) -> None:
        """The request's answer came back now: Discord counted it at this moment or before."""
        if self._pending:
            self._pending = False
            now = time.monotonic()
            for window in self._windows:
                window.sent(now)

    def release(self) -> None:
        """The write is over: a slot it never used is given back."""
        if self._pending:
            self._pending = False
            for window in self._windows:
                window.give_back()
