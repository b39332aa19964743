"""Who may see and act on AIMG results, and where: the age gate on every path that shows or starts
AIMG content, members' own AIMG sessions, and buttons kept to their own server."""

from __future__ import annotations

import time

import httpx

from bot.domain import JobKind, JobStatus
from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import TEST_SESSION_ID, FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id, is_result
from tests.e2e.test_aimg import _after_dark, _ephemeral, _generate, _generations, _result, _seen

AGE = "only in age-restricted channels"


def _job_id(result: Message) -> int:
    """The job a result message shows, from its New seed button (``mjb:r:<job>:<index>``)."""
    return int(custom_id(result, "New seed").split(":")[2])


async def _setup(box: Sandbox, channel_id: int, subcommand: str, **options: object) -> None:
    emu = box.emulator
    done = await emu.slash(emu.world.admin.id, channel_id, "setup", subcommand=subcommand, **options)
    await emu.wait_for(lambda: next((m for m in done.ephemeral if not m.loading), None))


async def _art_result(box: Sandbox, prompt: str) -> Message:
    """Bob's AIMG result in #art, which an admin allowed (the allowance is withdrawn later)."""
    emu = box.emulator
    art = emu.channel("art").id
    await _setup(box, art, "channel", enabled=True, aimg_allowed=True)
    await emu.slash(emu.world.member.id, art, "aimg", subcommand="generate", prompt=prompt, model="photoreal")
    return await emu.wait_for_message(art, is_result, timeout=10)


async def test_show_of_an_aimg_job_is_refused_outside_an_age_restricted_channel(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, art = emu.world.member.id, emu.channel("art").id
    await _generate(aimg_sandbox, prompt="an adult image")
    job = _job_id(await _result(aimg_sandbox))

    shown = await emu.slash(bob, art, "show", job=job)
    text = await _ephemeral(aimg_sandbox, shown, AGE)
    assert text.endswith("or ask an admin to allow this one.")
    assert [m for m in emu.messages(art) if m.visible_to is None] == []  # nothing posted there
    # Where AIMG is allowed, /show posts it again as before.
    again = await emu.slash(bob, _after_dark(aimg_sandbox), "show", job=job)
    await emu.wait_for(lambda: again.original if again.original and again.original.attachments else None)


async def test_buttons_and_modals_of_an_aimg_result_follow_the_channel_gate(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, art = emu.world.member.id, emu.channel("art").id
    result = await _art_result(aimg_sandbox, "a red fox")
    opened = await emu.click(bob, result.id, custom_id(result, "Use these settings"))
    await emu.wait_for_response(opened)
    assert opened.modal is not None
    # The admin withdraws the allowance: nothing on the result may make AIMG content there now.
    await _setup(aimg_sandbox, art, "channel", enabled=True, aimg_allowed=False)
    made = len(_generations(fake_aimg))
    for label in ("New seed", "Variation", "Use these settings", "👍", "🚩"):
        click = await emu.click(bob, result.id, custom_id(result, label))
        await _ephemeral(aimg_sandbox, click, AGE)
        assert click.modal is None, label
    submitted = await emu.submit_modal(opened, opened.modal["custom_id"], {"Steps": "25"})
    await _ephemeral(aimg_sandbox, submitted, AGE)
    assert len(_generations(fake_aimg)) == made
    assert [m.id for m in emu.messages(art)] == [result.id]
    assert [r.path for r in fake_aimg.requests if r.path.endswith("Items")] == []
    assert emu.violations == []


async def _link_own_account(box: Sandbox, fake: FakeAimg, user_id: int, email: str) -> None:
    """``user_id`` links their own AIMG account with /aimg login and the one-time code."""
    emu = box.emulator
    login = await emu.slash(user_id, _after_dark(box), "aimg", subcommand="login", email=email)
    await _ephemeral(box, login, "one-time code")
    [prompt] = [m for m in login.ephemeral if "one-time code" in m.content]
    click = await emu.click(user_id, prompt.id, custom_id(prompt, "Enter code"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    values = {"One-time code": fake.otp_for(email), "I am 18 or older (type YES)": "YES"}
    done = await emu.submit_modal(click, click.modal["custom_id"], values)
    await _ephemeral(box, done, "Signed in as")


def _sessions(fake: FakeAimg, path: str) -> list[str | None]:
    return [r.session for r in fake.requests if r.path == path]


async def test_a_members_own_aimg_session_runs_only_their_actions(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, alice = emu.world.member.id, emu.world.admin.id
    await _link_own_account(aimg_sandbox, fake_aimg, bob, "bob@example.test")
    await _generate(aimg_sandbox, prompt="bob's own fox", model="photoreal")
    result = await _result(aimg_sandbox)
    [own] = _sessions(fake_aimg, "/generateImage")
    assert own != TEST_SESSION_ID

    # A moderator's re-roll and like run on the server's account, not on Bob's session.
    before = _seen(aimg_sandbox)
    await emu.click(alice, result.id, custom_id(result, "New seed"))
    await _result(aimg_sandbox, before)
    assert _sessions(fake_aimg, "/generateImage") == [own, TEST_SESSION_ID]
    liked = await emu.click(alice, result.id, custom_id(result, "👍"))
    await _ephemeral(aimg_sandbox, liked, "Liked")
    assert _sessions(fake_aimg, "/likeItems") == [TEST_SESSION_ID]
    # Bob's own clicks still use his session.
    before = _seen(aimg_sandbox)
    await emu.click(bob, result.id, custom_id(result, "Variation"))
    await _result(aimg_sandbox, before)
    assert _sessions(fake_aimg, "/generateImage")[-1] == own

    # AIMG signs the server's session out: that click fails and takes the server's account out
    # of rotation; with none left, another person's click is refused rather than spend Bob's.
    async with httpx.AsyncClient(
        base_url=fake_aimg.base_url, headers={"X-Session-ID": TEST_SESSION_ID}
    ) as http:
        assert (await http.post("/signOutUser")).json()["payload"]["success"] is True
    await emu.click(alice, result.id, custom_id(result, "New seed"))
    await emu.wait_for_message(_after_dark(aimg_sandbox), lambda m: "(Failed)" in m.content, timeout=10)
    refused = await emu.click(alice, result.id, custom_id(result, "New seed"))
    text = await _ephemeral(aimg_sandbox, refused, "own AIMG account")
    assert text.startswith(f"This image was made with <@{bob}>'s own AIMG account")
    assert _sessions(fake_aimg, "/generateImage") == [own, TEST_SESSION_ID, own]
    assert emu.violations == []


async def test_delete_and_report_stay_with_the_owner_and_moderators_when_buttons_are_open(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, alice, channel = emu.world.member.id, emu.world.admin.id, _after_dark(aimg_sandbox)
    await _setup(aimg_sandbox, channel, "buttons", anyone=True)
    await emu.slash(alice, channel, "aimg", subcommand="generate", prompt="alice's fox")
    result = await _result(aimg_sandbox)
    [item] = fake_aimg.items.values()

    for label in ("🗑️", "🚩"):
        click = await emu.click(bob, result.id, custom_id(result, label))
        text = await _ephemeral(aimg_sandbox, click, "can delete or report")
        assert text == f"Only <@{alice}> or a moderator can delete or report this item."
        assert click.modal is None
    assert not item.deleted and not item.reports
    assert not emu.message(result.id).deleted
    # The other buttons stay open to anyone, as the setting says.
    liked = await emu.click(bob, result.id, custom_id(result, "👍"))
    await _ephemeral(aimg_sandbox, liked, "Liked")
    assert emu.violations == []


async def test_a_button_naming_another_servers_job_does_nothing(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob = emu.world.member.id
    await _generate(aimg_sandbox, prompt="a red fox")
    result = await _result(aimg_sandbox)
    here = _job_id(result)
    bot = aimg_sandbox.bot
    assert bot is not None
    # Bob's finished job in another server the bot serves (made on the same account for brevity).
    mine = await bot.store.get_job(here)
    assert mine is not None
    async with httpx.AsyncClient(
        base_url=fake_aimg.base_url, headers={"X-Session-ID": TEST_SESSION_ID}
    ) as http:
        made = (await http.post("/generateImage", json={"prompt": "elsewhere"})).json()["payload"]
    other = await bot.store.create_job(
        guild_id=mine.guild_id + 1,
        channel_id=mine.channel_id + 1,
        owner_id=bob,
        kind=JobKind.GENERATE,
        prompt="elsewhere",
        hook_secret="x",
        deadline=time.time() + 60,
        account_id=mine.account_id,
        params=mine.params,
    )
    await bot.store.update_job(
        other.id, status=JobStatus.SUCCESS, backend_task_id=made["imageID"], buttons=mine.buttons
    )
    # A crafted client sends this server's message with custom ids naming the other job.
    for row in emu.message(result.id).components:
        for component in row["components"]:
            component["custom_id"] = component["custom_id"].replace(f":{here}:", f":{other.id}:")
    made = len(_generations(fake_aimg))
    clicks: list[Interaction] = []
    for label in ("New seed", "Use these settings", "👍", "🗑️"):
        click = await emu.click(bob, result.id, custom_id(result, label))
        await _ephemeral(aimg_sandbox, click, "no longer works here")
        clicks.append(click)
    assert all(c.modal is None for c in clicks)
    assert len(_generations(fake_aimg)) == made
    assert [r.path for r in fake_aimg.requests if r.path.endswith("Items")] == []
