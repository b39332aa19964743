"""What an account can do depends on the account, not only its kind: midjourney-proxy's open-source
flavour has no /shorten, Remix, cancel or seed. End to end: refused before a job is made, naming the
service and its flavour; jobs routed to an account that can run them; no prompt editor, no Remix
toggle and no cancel call where they cannot work."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain import BackendKind
from sandbox.discord import Interaction, Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.fake_nextleg import FakeNextLeg
from sandbox.runner import ExtraBackend, Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result

OSS_CANNOT_SHORTEN = (
    "This server's midjourney-proxy (open-source) account can't shorten prompts from the bot yet. "
    "Ask a server admin for another image service."
)


async def _said(box: Sandbox, inter: Interaction, text: str) -> str:
    found = await box.emulator.wait_for(
        lambda: next((m for m in inter.ephemeral if text in m.content), None), 10
    )
    return found.content


async def _panel_labels(box: Sandbox) -> set[str]:
    emu = box.emulator
    inter = await emu.slash(emu.world.member.id, emu.channel("art").id, "settings")
    panel: Message = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.components), None), 15)
    return {label for row in buttons(panel) for label in row}


async def test_shorten_on_the_open_source_proxy_is_refused_before_a_job(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(bob.id, art.id, "shorten", prompt="a long prompt about many things")
        assert await _said(box, inter, "can't shorten") == OSS_CANNOT_SHORTEN
        assert [m for m in emu.messages(art.id) if not m.flags & 64] == []  # "thinking…" withdrawn
        assert box.bot is not None
        assert await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5) == []
        assert proxy.requests == []
        assert emu.violations == []


async def test_shorten_goes_to_the_account_that_can_shorten(make_sandbox: Callable[..., Sandbox]) -> None:
    # Two proxies answer in the channel; only the C# one has /shorten, so every /shorten goes there.
    oss = FakeMjProxy(flavour="oss", step_seconds=0.02)
    csharp = FakeMjProxy(flavour="csharp", secret="c-sharp", step_seconds=0.02)
    account = ExtraBackend(
        csharp, BackendKind.MJ_PROXY, "csharp-proxy", secret="c-sharp", options={"flavour": "csharp"}
    )
    async with Running(make_sandbox(proxy=oss, extra=[account])) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        for n in range(1, 5):
            await emu.slash(bob.id, art.id, "shorten", prompt=f"a long prompt number {n} about things")
            await emu.wait_for(
                lambda n=n: len([m for m in emu.messages(art.id) if _ended(m)]) == n or None, 15
            )
        assert not [m for m in emu.messages(art.id) if "(Failed)" in m.content]
        assert csharp.count("/mj/submit/shorten") == 4
        assert [r.path for r in oss.requests if r.path.startswith("/mj/submit/")] == []
        assert emu.violations == []


def _ended(message: Message) -> bool:
    """A job's message once it ended (its Cancel button gone)."""
    return "Cancel" not in str(buttons(message)) and (
        "(Failed)" in message.content or bool(message.components)
    )


async def test_no_remix_on_the_open_source_proxy(make_sandbox: Callable[..., Sandbox]) -> None:
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob, guild = emu.channel("art"), emu.world.member, emu.world.guild.id
        # Neither offered nor taken: no Remix toggle in /settings, /prefer remix refused.
        assert "Remix mode" not in await _panel_labels(box)
        inter = await emu.slash(bob.id, art.id, "prefer", subcommand="remix")
        said = await _said(box, inter, "Remix mode would change nothing here")
        assert said.startswith("midjourney-proxy (open-source) can't remix prompts")
        # A member whose Remix is on (from another server's service) gets no prompt editor:
        # the variation runs as it is.
        assert box.bot is not None
        prefs = await box.bot.store.user_prefs(guild, bob.id)
        await box.bot.store.set_user_prefs(guild, bob.id, prefs.model_copy(update={"remix": True}))
        await emu.slash(bob.id, art.id, "imagine", prompt="a cat on a wall")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        seen = {m.id for m in emu.messages(art.id)}
        click = await emu.click(bob.id, grid.id, custom_id(grid, "V2"))
        await emu.wait_for_response(click)
        assert click.modal is None
        await emu.wait_for_message(art.id, lambda m: m.id not in seen and is_result(m), timeout=10)
        assert proxy.count("/mj/submit/change") == 1
        assert emu.violations == []


async def test_a_job_no_service_here_can_do_is_refused_naming_it(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    account = ExtraBackend(
        fake, BackendKind.NEXTLEG, "tnl", secret=fake.secret, options={"min_interval": "0"}
    )
    async with Running(make_sandbox(extra=[account], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(bob.id, art.id, "shorten", prompt="a long prompt about many things")
        assert await _said(box, inter, "can't shorten") == (
            "This server's TheNextLeg account can't shorten prompts from the bot yet. "
            "Ask a server admin for another image service."
        )
        assert [r for r in fake.requests if r.path.startswith("/v2/")] == []
        assert emu.violations == []
