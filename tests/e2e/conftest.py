"""Fixtures that run the real bot against the Discord emulator and the fake midjourney-proxy."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import discord.gateway
import discord.http
import pytest
from PIL import Image

from bot.config import JobSettings, Settings
from bot.domain import BackendKind
from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import TEST_SESSION_ID, FakeAimg
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.fake_nextleg import FakeNextLeg
from sandbox.fake_useapi import FakeUseApi
from sandbox.runner import ExtraBackend, Sandbox

#: Fast job settings for tests: quick polling, short timeout, progress edits coalesced. A
#: queue-full rest (1.5–2.5 s) stays longer than the progress pacing, so its "will retry" is shown.
FAST_JOBS = JobSettings(
    timeout_seconds=20, poll_interval_seconds=0.3, progress_edit_seconds=0.5, queue_full_retry_seconds=2.0
)


@pytest.fixture
def make_sandbox(tmp_path: Path, store_url: str | None) -> Callable[..., Sandbox]:
    def make(
        *,
        jobs: JobSettings = FAST_JOBS,
        settings: Settings | None = None,
        proxy: FakeMjProxy | None = None,
        max_jobs: int = 3,
        extra: Sequence[ExtraBackend] = (),
        with_proxy: bool = True,
        allow_private_backends: bool = True,
    ) -> Sandbox:
        return Sandbox(
            settings or Settings(jobs=jobs),
            store_path=tmp_path / "mjbot.sqlite3",
            store_url=store_url,
            proxy=proxy or FakeMjProxy(step_seconds=0.1),
            max_jobs=max_jobs,
            extra=extra,
            with_proxy=with_proxy,
            allow_private_backends=allow_private_backends,
        )

    return make


@pytest.fixture
async def sandbox(make_sandbox: Callable[..., Sandbox]) -> AsyncIterator[Sandbox]:
    box = make_sandbox()
    async with Running(box):
        yield box


class Running:
    """Start a sandbox and always stop it, restoring discord.py's URLs for other tests."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)

    async def __aenter__(self) -> Sandbox:
        await self.box.start()
        return self.box

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.box.stop()
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved


def png_bytes(color: str = "red", size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def buttons(message: Message) -> list[list[str]]:
    """The message's button rows as labels (or emoji names when a button has no label)."""
    return [
        [c.get("label") or c.get("emoji", {}).get("name", "") for c in row["components"]]
        for row in message.components
    ]


def custom_id(message: Message, label: str) -> str:
    for row in message.components:
        for c in row["components"]:
            if (c.get("label") or c.get("emoji", {}).get("name")) == label:
                return str(c["custom_id"])
    raise LookupError(f"no button {label!r} on message {message.id}: {buttons(message)}")


def done_without_image(message: Message | None) -> Message | None:
    """``message`` when it shows a job done with no image of its own (a ❤️ bookmark, a repeated
    upscale), else None (for ``wait_for``)."""
    return message if message is not None and "(Done" in message.content else None


def is_result(message: Message) -> bool:
    return bool(message.attachments) and bool(message.components)


def is_answer(message: Message) -> bool:
    """A finished /describe or /shorten: its embed and buttons, none of them Cancel (the running
    job's message has an embed and a Cancel button too)."""
    return bool(message.embeds) and bool(message.components) and "Cancel" not in str(buttons(message))


@pytest.fixture
def fake_aimg(request: pytest.FixtureRequest) -> FakeAimg:
    """Fast by default; parametrize indirectly with FakeAimg's keyword arguments to change it."""
    return FakeAimg(**{"step_seconds": 0.05, **getattr(request, "param", {})})


@pytest.fixture
async def aimg_sandbox(make_sandbox: Callable[..., Sandbox], fake_aimg: FakeAimg) -> AsyncIterator[Sandbox]:
    """The sandbox plus an AIMG account on ``fake_aimg`` (AIMG commands work in #after-dark)."""
    aimg = ExtraBackend(fake=fake_aimg, kind=BackendKind.AIMG, name="sandbox-aimg", secret=TEST_SESSION_ID)
    async with Running(make_sandbox(extra=[aimg])) as box:
        yield box


def nextleg_backend(fake: FakeNextLeg, max_jobs: int = 3) -> ExtraBackend:
    """A TheNextLeg account on ``fake``, unpaced (the service's 3 s pacing would slow every test)."""
    return ExtraBackend(
        fake, BackendKind.NEXTLEG, "tnl", secret=fake.secret, max_jobs=max_jobs, options={"min_interval": "0"}
    )


def useapi_backend(
    fake: FakeUseApi, channel: str, *, name: str = "useapi", max_jobs: int = 3
) -> ExtraBackend:
    """A useapi.net account on ``fake`` that drives the Midjourney account of ``channel``."""
    return ExtraBackend(
        fake, BackendKind.USEAPI, name, secret=fake.secret, max_jobs=max_jobs, options={"channel": channel}
    )


def attachment_urls(inter: Interaction) -> list[str]:
    """The URLs Discord gave the bot for the command's attachments, in option order."""
    resolved = inter.data["resolved"]["attachments"]
    return [
        resolved[option["value"]]["url"] for option in inter.data["options"] if option["value"] in resolved
    ]
