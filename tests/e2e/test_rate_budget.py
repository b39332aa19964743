"""Discord's per-channel edit limit, counted as Discord counts it: when a write arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.config import JobSettings
from bot.domain import GuildConfig, GuildLimits
from sandbox.discord.world import Channel, Member, User
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, is_result

MEMBERS = 60
CHANNELS = 3


async def test_sixty_members_at_once_in_three_channels_meet_no_429(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # Twenty jobs a channel share its 5 edits per 5 s: under the burst a progress edit leaves the
    # bot later than it was chosen, and a budget stamped before the answer came back let a sixth
    # edit arrive inside Discord's window (a 429).
    pacing = JobSettings(timeout_seconds=90, poll_interval_seconds=5, progress_edit_seconds=0.5)
    box = make_sandbox(
        jobs=pacing, proxy=FakeMjProxy(step_seconds=0.3, progress_steps=6, core_size=15), max_jobs=15
    )
    emu = box.emulator
    guild = emu.world.guild
    channels = [Channel(emu.ids.next(), f"burst-{n}", 10 + n) for n in range(CHANNELS)]
    people = [User(emu.ids.next(), f"member{n}") for n in range(MEMBERS)]
    guild.channels.extend(channels)
    guild.members.extend(Member(person, []) for person in people)
    async with Running(box):
        assert box.bot is not None
        limits = GuildLimits(user_concurrent=5, queue_length=1000)
        await box.bot.store.set_guild_config(guild.id, GuildConfig(limits=limits))
        await asyncio.gather(
            *(
                emu.slash(person.id, channels[n % CHANNELS].id, "imagine", prompt=f"harbour {n}")
                for n, person in enumerate(people)
            )
        )

        def finished() -> bool | None:
            done = sum(1 for c in channels for m in emu.messages(c.id) if is_result(m))
            return done == MEMBERS or None

        await emu.wait_for(finished, 80)
        edits = [c for c in emu.calls if c.method == "PATCH" and "/channels/" in c.path]
        assert edits, "no progress edit went through the channel"
        assert emu.rate_limited == [], [(c.method, c.path) for c in emu.rate_limited]


async def test_an_edit_slow_on_its_way_does_not_make_the_sixth_a_429(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # The first progress edit of the channel reaches Discord 0.8 s after it left: Discord's window
    # starts then, so the edit the budget allows 5.2 s after it left would arrive inside it.
    pacing = JobSettings(timeout_seconds=30, poll_interval_seconds=5, progress_edit_seconds=0.3)
    box = make_sandbox(jobs=pacing, proxy=FakeMjProxy(step_seconds=0.4, progress_steps=12), max_jobs=4)
    async with Running(box):
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        emu.delay_in_transit("PATCH /channels/*/messages/*", 0.8)
        for n in range(4):
            await emu.slash(bob.id, art.id, "imagine", prompt=f"a slow harbour {n}")

        def finished() -> bool | None:
            return sum(1 for m in emu.messages(art.id) if is_result(m)) == 4 or None

        await emu.wait_for(finished, 30)
        edits = [c for c in emu.calls if c.method == "PATCH" and c.path.startswith("/channels/")]
        assert len(edits) > 6, len(edits)
        assert emu.rate_limited == [], [(c.method, c.path) for c in emu.rate_limited]
