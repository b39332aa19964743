"""/aimg end to end: the real bot, the Discord emulator and the fake AIMG service over loopback."""

from __future__ import annotations

import re
import sys

import httpx
import pytest

from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import REPORT_QUEUES, TEST_SESSION_ID, FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import buttons, custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def _after_dark(box: Sandbox) -> int:
    return box.emulator.channel("after-dark").id


async def _generate(box: Sandbox, **options: object) -> Interaction:
    emu = box.emulator
    return await emu.slash(emu.world.member.id, _after_dark(box), "aimg", subcommand="generate", **options)


async def _workflow(box: Sandbox, **options: object) -> Interaction:
    emu = box.emulator
    return await emu.slash(emu.world.member.id, _after_dark(box), "aimg", subcommand="workflow", **options)


async def _ephemeral(box: Sandbox, interaction: Interaction, needle: str) -> str:
    def found() -> str | None:
        return next((m.content for m in interaction.ephemeral if needle in m.content), None)

    return await box.emulator.wait_for(found, timeout=10)


async def _result(box: Sandbox, after: frozenset[int] | set[int] = frozenset()) -> Message:
    return await box.emulator.wait_for_message(
        _after_dark(box), lambda m: m.id not in after and is_result(m), timeout=10
    )


def _seen(box: Sandbox) -> set[int]:
    return {m.id for m in box.emulator.messages(_after_dark(box))}


def _generations(fake: FakeAimg) -> list[dict[str, object]]:
    return [r.json for r in fake.requests if r.path in ("/generateImage", "/generateVideo")]


def _bodies(fake: FakeAimg, path: str) -> list[dict[str, object]]:
    return [r.json for r in fake.requests if r.path == path]


def _modal_input(interaction: Interaction, label: str) -> dict[str, object]:
    """The component a modal shows under ``label`` (a type-18 label around it)."""
    assert interaction.modal is not None
    for row in interaction.modal["components"]:
        if row.get("label") == label:
            component: dict[str, object] = row["component"]
            return component
    raise LookupError(f"no input {label!r} in {interaction.modal}")


async def test_generate_with_defaults(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    inter = await _generate(aimg_sandbox, prompt="a lighthouse at dusk")
    result = await _result(aimg_sandbox)
    # The command's own public response became the job's message.
    assert inter.original is not None and result.id == inter.original.id
    assert result.content.startswith("**a lighthouse at dusk** - <@")
    assert result.attachments[0].data.startswith(b"\x89PNG")
    # f222 has no variations; feedback buttons on their own row.
    assert buttons(result) == [["New seed", "Use these settings"], ["👍", "👎", "🗑️", "🚩"]]
    [request] = _generations(fake_aimg)
    assert request["modelName"] == "f222" and request["steps"] == 20 and request["width"] == 512
    assert {r.session for r in fake_aimg.requests} == {TEST_SESSION_ID}
    assert aimg_sandbox.emulator.violations == []


async def test_each_validation_error_names_the_range(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"steps": 5}, "Steps must be between 10 and 50 for F222"),
        ({"cfg": 20.0}, "CFG scale must be between 1 and 12"),
        ({"size": "1024x1024"}, "choose one of 512, 768"),
        ({"size": "768x768"}, "allows at most 393216"),
        ({"size": "huge"}, "is not WIDTHxHEIGHT"),
        ({"sampler": "LMS"}, "choose one of DPM++ 2M Karras, Euler a"),
        ({"model": "photoreal", "steps": 45}, "between 20 and 40 for Photoreal"),
        ({"model": "pro-xl"}, "needs PRO tier 2; this account is tier 1"),
        ({"model": "model3", "steps": 40}, "between 10 and 30 for Motion"),
        ({"video": True, "model": "f222"}, "F222 makes images"),
    ]
    for options, needle in cases:
        inter = await _generate(aimg_sandbox, prompt="a cat", **options)
        await _ephemeral(aimg_sandbox, inter, needle)
    assert _generations(fake_aimg) == []  # refused before the API was called


async def test_autocomplete_follows_the_models(aimg_sandbox: Sandbox) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _after_dark(aimg_sandbox)
    models = await emu.autocomplete(
        bob, channel, "aimg", "model", subcommand="generate", prompt="x", model=""
    )
    assert [c["value"] for c in models] == ["f222", "photoreal", "pro-xl", "members", "model3"]
    assert "PRO tier 2" in models[2]["name"]
    sizes = await emu.autocomplete(
        bob, channel, "aimg", "size", subcommand="generate", prompt="x", model="photoreal", size=""
    )
    values = [c["value"] for c in sizes]
    assert "640x768" in values and "768x768" not in values  # maxResolution is 640x768
    samplers = await emu.autocomplete(
        bob, channel, "aimg", "sampler", subcommand="generate", prompt="x", model="photoreal", sampler=""
    )
    assert [c["value"] for c in samplers] == ["DPM++ 2M Karras", "Euler a", "DDIM"]


async def test_refused_outside_an_age_restricted_channel(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    inter = await emu.slash(
        emu.world.member.id, emu.channel("art").id, "aimg", subcommand="generate", prompt="a cat"
    )
    text = await _ephemeral(aimg_sandbox, inter, "age-restricted")
    assert "ask an admin to allow this one" in text
    assert fake_aimg.requests == []


async def test_has_error_body_is_shown_as_the_api_message(aimg_sandbox: Sandbox) -> None:
    await _generate(aimg_sandbox, prompt="something forbidden")
    failed = await aimg_sandbox.emulator.wait_for_message(
        _after_dark(aimg_sandbox), lambda m: "(Failed)" in m.content, timeout=10
    )
    assert "banned words (NSFW filter): forbidden" in failed.content


@pytest.mark.parametrize("fake_aimg", [{"step_seconds": 0.4}], indirect=True)
async def test_queue_position_is_shown_then_the_result(aimg_sandbox: Sandbox) -> None:
    emu = aimg_sandbox.emulator
    feed = emu.subscribe()
    await _generate(aimg_sandbox, prompt="first")
    await _generate(aimg_sandbox, prompt="second")  # waits behind the first (one worker)
    second = await emu.wait_for_message(
        _after_dark(aimg_sandbox), lambda m: m.content.startswith("**second**") and is_result(m), timeout=10
    )
    seen = []
    while not feed.empty():
        event = feed.get_nowait()
        if event.kind.startswith("message_") and event.data["message"]["id"] == str(second.id):
            seen.append(event.data["message"]["content"])
    # Its place as the submit answered, then with the queue's length as polling asks it.
    assert any(re.search(r"position 1 (of 1 )?in the queue", c) for c in seen), seen


async def test_variation_reroll_like_report_and_delete(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob = emu.world.member.id
    await _generate(aimg_sandbox, prompt="a red fox", model="photoreal", seed=42)
    first = await _result(aimg_sandbox)
    assert buttons(first)[0] == ["New seed", "Variation", "Use these settings"]

    before = _seen(aimg_sandbox)
    await emu.click(bob, first.id, custom_id(first, "Variation"))
    variation = await _result(aimg_sandbox, before)
    assert "Variations by" in variation.content
    assert "Use these settings" in buttons(variation)[0]  # follow-ups keep the generation's settings
    before = _seen(aimg_sandbox)
    await emu.click(bob, first.id, custom_id(first, "New seed"))
    await _result(aimg_sandbox, before)
    _, variation_request, reroll_request = _generations(fake_aimg)
    assert variation_request["seed"] == 42 and variation_request["subseed_strength"] == 0.3
    assert reroll_request["seed"] != 42

    click = await emu.click(bob, first.id, custom_id(first, "👍"))
    await _ephemeral(aimg_sandbox, click, "Liked")
    item = next(iter(fake_aimg.items.values()))
    assert item.likes

    # An admin (Manage Messages) may delete anyone's result; the message goes too.
    by_admin = await emu.click(emu.world.admin.id, variation.id, custom_id(variation, "🗑️"))
    await _ephemeral(aimg_sandbox, by_admin, "Deleted")
    await emu.wait_for(lambda: emu.message(variation.id).deleted or None)
    click = await emu.click(bob, first.id, custom_id(first, "🗑️"))
    await _ephemeral(aimg_sandbox, click, "Deleted")
    assert item.deleted
    assert emu.violations == []


async def test_use_these_settings_reopens_the_parameters(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob = emu.world.member.id
    await _generate(aimg_sandbox, prompt="a castle", model="photoreal", steps=30, negative="fog", seed=7)
    first = await _result(aimg_sandbox)
    click = await emu.click(bob, first.id, custom_id(first, "Use these settings"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    values = {c["label"]: c.get("value") for row in click.modal["components"] for c in row["components"]}
    assert values == {
        "Prompt": "a castle",
        "Negative prompt": "fog",
        "Steps": "30",
        "CFG scale": None,
        "Seed (empty: random)": "7",
    }
    before = _seen(aimg_sandbox)
    await emu.submit_modal(click, click.modal["custom_id"], {"Prompt": "a castle at night", "Steps": "25"})
    second = await _result(aimg_sandbox, before)
    assert "a castle at night" in second.content
    request = _generations(fake_aimg)[-1]
    assert (request["modelName"], request["steps"], request["seed"], request["negprompt"]) == (
        "photoreal",
        25,
        7,
        "fog",
    )


async def test_video_is_attached_and_shown_once(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    await _generate(aimg_sandbox, prompt="waves on a beach", video=True)
    result = await _result(aimg_sandbox)
    [video] = result.attachments
    assert video.filename.endswith(".gif")
    assert result.embeds == []  # not its first frame large beside it
    assert "Variation" not in str(buttons(result))
    assert _generations(fake_aimg)[0]["modelName"] == "model3"


async def test_otp_login_links_the_members_own_account(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _after_dark(aimg_sandbox)
    email = "bob@example.test"
    inter = await emu.slash(bob, channel, "aimg", subcommand="login", email=email)
    await _ephemeral(aimg_sandbox, inter, "one-time code")
    [prompt] = [m for m in inter.ephemeral if "one-time code" in m.content]
    click = await emu.click(bob, prompt.id, custom_id(prompt, "Enter code"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    code = fake_aimg.otp_for(email)
    assert code is not None
    no = await emu.submit_modal(
        click, click.modal["custom_id"], {"One-time code": code, "I am 18 or older (type YES)": "no"}
    )
    await _ephemeral(aimg_sandbox, no, "adults only")

    click = await emu.click(bob, prompt.id, custom_id(prompt, "Enter code"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    done = await emu.submit_modal(
        click, click.modal["custom_id"], {"One-time code": code, "I am 18 or older (type YES)": "YES"}
    )
    await _ephemeral(aimg_sandbox, done, "Signed in as bob@example.test")

    await _generate(aimg_sandbox, prompt="my own lighthouse")
    await _result(aimg_sandbox)
    own = [r.session for r in fake_aimg.requests if r.path == "/generateImage"]
    assert own and own[0] != TEST_SESSION_ID
    creations = await emu.slash(bob, channel, "aimg", subcommand="creations")
    text = await _ephemeral(aimg_sandbox, creations, "AIMG creations")
    assert "your own account" in text and "(1-1 of 1)" in text


async def test_creations_pages_with_previous_and_next(
    aimg_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # discord.py loads extensions as fresh module objects, registered in sys.modules.
    monkeypatch.setattr(sys.modules["cogs.aimg.creations"], "PAGE_SIZE", 1)
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _after_dark(aimg_sandbox)
    for prompt in ("one", "two"):
        before = _seen(aimg_sandbox)
        await _generate(aimg_sandbox, prompt=prompt)
        await _result(aimg_sandbox, before)
    inter = await emu.slash(bob, channel, "aimg", subcommand="creations")
    await _ephemeral(aimg_sandbox, inter, "(1-1 of 2)")
    [page] = [m for m in inter.ephemeral if "AIMG creations" in m.content]
    await emu.click(bob, page.id, custom_id(page, "Next"))
    await emu.wait_for(lambda: "(2-2 of 2)" in emu.message(page.id).content or None)
    await emu.click(bob, page.id, custom_id(page, "Previous"))
    await emu.wait_for(lambda: "(1-1 of 2)" in emu.message(page.id).content or None)


async def test_an_admin_signs_the_server_account_in_with_a_one_time_code_and_unlinks_members(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    alice, channel = emu.world.admin.id, _after_dark(aimg_sandbox)
    email = "studio@example.test"
    inter = await emu.slash(
        alice,
        channel,
        "setup",
        subcommand="account aimg_login",
        name="studio",
        email=email,
        base_url=fake_aimg.base_url,
    )
    await _ephemeral(aimg_sandbox, inter, "one-time code")
    [prompt] = [m for m in inter.ephemeral if "one-time code" in m.content]
    click = await emu.click(alice, prompt.id, custom_id(prompt, "Enter code"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    code = fake_aimg.otp_for(email)
    assert code is not None
    done = await emu.submit_modal(
        click, click.modal["custom_id"], {"One-time code": code, "I am 18 or older (type YES)": "yes"}
    )
    await _ephemeral(aimg_sandbox, done, "**studio** is this server's AIMG account")
    listing = await emu.slash(alice, channel, "setup", subcommand="account list")
    text = await emu.wait_for(lambda: next((str(m.embeds) for m in listing.ephemeral if m.embeds), None))
    assert "studio" in text
    assert "secret: set (hidden)" in text
    # The session id the code bought is sealed at rest and appears in no Discord payload.
    assert aimg_sandbox.bot is not None
    studio = next(a for a in await aimg_sandbox.bot.store.list_accounts() if a.name == "studio")
    assert not [c for c in emu.calls if studio.secret in str(c.body)]
    rows = await aimg_sandbox.bot.store._db.fetchall("SELECT secret FROM accounts WHERE name = 'studio'")
    assert str(rows[0][0]).startswith("enc:v1:")

    bob = emu.world.member.id
    out = await emu.slash(bob, channel, "aimg", subcommand="logout")
    await _ephemeral(aimg_sandbox, out, "no AIMG account linked")


async def test_report_asks_for_a_category_and_optional_details(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob = emu.world.member.id
    await _generate(aimg_sandbox, prompt="a red fox")
    result = await _result(aimg_sandbox)
    [item] = fake_aimg.items.values()

    click = await emu.click(bob, result.id, custom_id(result, "🚩"))
    await emu.wait_for_response(click)
    assert click.modal is not None and click.modal["title"] == "Report this item"
    categories = _modal_input(click, "Category")["options"]
    assert isinstance(categories, list) and [o["value"] for o in categories] == REPORT_QUEUES
    done = await emu.submit_modal(
        click, click.modal["custom_id"], {"Category": ["Spam"], "Details (optional)": "  posted by a bot "}
    )
    text = await _ephemeral(aimg_sandbox, done, "Reported")
    assert text == "🚩 Reported as Spam. Thanks: AIMG's moderators will review it."
    [report] = item.reports.values()
    assert (report.queue, report.information) == ("Spam", "posted by a bot")

    # Details are optional; AIMG refuses a second report of the item, and the member reads why.
    again = await emu.click(bob, result.id, custom_id(result, "🚩"))
    await emu.wait_for_response(again)
    assert again.modal is not None
    refused = await emu.submit_modal(again, again.modal["custom_id"], {"Category": ["Copyright"]})
    text = await _ephemeral(aimg_sandbox, refused, "did not report")
    assert text == "The image service did not report this item. (Service said: Item already reported.)"
    assert _bodies(fake_aimg, "/reportItems")[-1] == {"itemIds": [item.id], "reportQueue": "Copyright"}
    assert fake_aimg.count("/getReportQueues") == 1  # cached on the backend, like the models
    assert emu.violations == []


async def test_like_and_dislike_toggle_and_the_votes_survive_a_restart(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, alice = emu.world.member.id, emu.world.admin.id
    await _generate(aimg_sandbox, prompt="a red fox")
    result = await _result(aimg_sandbox)
    [item] = fake_aimg.items.values()

    async def press(user: int, label: str) -> str:
        click = await emu.click(user, result.id, custom_id(result, label))
        return await emu.wait_for(lambda: next((m.content for m in click.ephemeral), None))

    assert await press(bob, "👍") == "👍 Liked."
    assert item.likes
    # Members share the server's AIMG session, so its like: Alice's 👍 finds it liked already.
    assert await press(alice, "👍") == "👍 Liked."
    assert await press(bob, "👍") == "👍 Like removed."
    assert not item.likes
    assert await press(bob, "👍") == "👍 Liked."
    assert await press(bob, "👎") == "👎 Disliked."  # AIMG: a dislike replaces the like
    assert (bool(item.likes), bool(item.dislikes)) == (False, True)

    await aimg_sandbox.restart_bot()
    assert await press(bob, "👎") == "👎 Dislike removed."  # the vote was remembered
    assert not item.dislikes
    votes = [r.path for r in fake_aimg.requests if r.path.endswith("likeItems")]
    assert votes == [
        "/likeItems",
        "/likeItems",
        "/unlikeItems",
        "/likeItems",
        "/dislikeItems",
        "/undislikeItems",
    ]
    assert emu.violations == []


@pytest.mark.parametrize("fake_aimg", [{"step_seconds": 0.3}], indirect=True)
async def test_workflow_template_runs_like_a_generation(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _after_dark(aimg_sandbox)
    choices = await emu.autocomplete(
        bob, channel, "aimg", "template", subcommand="workflow", template="hi", prompt="x"
    )
    assert choices == [{"name": "txt2img-hires (steps 20-60)", "value": "txt2img-hires"}]

    feed = emu.subscribe()
    # Someone else's item holds the fake's one worker, so the run waits in AIMG's queue first.
    # (Made outside Discord: the channel's edit budget is then the run's own.)
    async with httpx.AsyncClient(
        base_url=fake_aimg.base_url, headers={"X-Session-ID": TEST_SESSION_ID}
    ) as http:
        assert (await http.post("/generateImage", json={"prompt": "elsewhere"})).json()["hasError"] is False
    inter = await _workflow(
        aimg_sandbox,
        template="txt2img-hires",
        prompt="a castle",
        negative="fog",
        size="768x1024",
        steps=30,
        seed=5,
    )
    result = await emu.wait_for_message(
        channel, lambda m: m.content.startswith("**a castle**") and is_result(m), timeout=10
    )
    assert inter.original is not None and result.id == inter.original.id
    assert result.attachments[0].data.startswith(b"\x89PNG")
    assert buttons(result) == [["New seed", "Use these settings"], ["👍", "👎", "🗑️", "🚩"]]
    assert _bodies(fake_aimg, "/2/enqueueWorkflow") == [
        {
            "workflowTemplateName": "txt2img-hires",
            "prompt": "a castle",
            "negprompt": "fog",
            "seed": 5,
            "steps": 30,
            "height": 1024,
            "width": 768,
        }
    ]
    shown = []
    while not feed.empty():
        event = feed.get_nowait()
        if event.kind.startswith("message_") and event.data["message"]["id"] == str(result.id):
            shown.append(event.data["message"]["content"])
    assert any("position 1 of 1 in the queue" in c for c in shown), shown

    # New seed runs the workflow again with the run's parameters; "Use these settings" too.
    fake_aimg.step_seconds = 0.05
    before = _seen(aimg_sandbox)
    await emu.click(bob, result.id, custom_id(result, "New seed"))
    await _result(aimg_sandbox, before)
    reroll = _bodies(fake_aimg, "/2/enqueueWorkflow")[-1]
    assert reroll["workflowTemplateName"] == "txt2img-hires" and reroll["seed"] != 5
    assert {"name": "Steps", "value": "30"} in reroll["parameters"]  # type: ignore[operator]
    click = await emu.click(bob, result.id, custom_id(result, "Use these settings"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    before = _seen(aimg_sandbox)
    await emu.submit_modal(click, click.modal["custom_id"], {"Steps": "45"})
    await _result(aimg_sandbox, before)
    again = _bodies(fake_aimg, "/2/enqueueWorkflow")[-1]
    assert (again["workflowTemplateName"], again["steps"], again["seed"], again["width"]) == (
        "txt2img-hires",
        45,
        5,
        768,
    )
    assert emu.violations == []


async def test_workflow_options_are_checked_against_the_template(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"steps": 50}, "Steps must be between 10 and 40 for the txt2img-basic workflow (got 50)."),
        ({"size": "700x512"}, "Width must be between 512 and 1024 in steps of 64 for the txt2img-basic"),
        ({"cfg": 20.0}, "CFG Scale must be between 1 and 12 for the txt2img-basic workflow (got 20)."),
        ({"template": "nope"}, "There is no workflow template 'nope'; choose one of: txt2img-basic, "),
        ({"size": "big"}, "is not WIDTHxHEIGHT"),
    ]
    for options, needle in cases:
        inter = await _workflow(aimg_sandbox, **({"template": "txt2img-basic", "prompt": "a cat"} | options))
        await _ephemeral(aimg_sandbox, inter, needle)
    assert fake_aimg.count("/2/enqueueWorkflow") == 0  # refused before the API was called


@pytest.mark.parametrize("fake_aimg", [{"tier": 0}], indirect=True)
async def test_workflow_is_refused_when_aimg_says_the_account_is_not_pro(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    choices = await emu.autocomplete(
        emu.world.member.id, _after_dark(aimg_sandbox), "aimg", "template", subcommand="workflow", template=""
    )
    assert choices == []
    inter = await _workflow(aimg_sandbox, template="txt2img-basic", prompt="a cat")
    text = await _ephemeral(aimg_sandbox, inter, "PRO accounts only")
    assert text == (
        "AIMG runs workflow templates for PRO accounts only, and this account is not one. Use /aimg "
        "generate instead. (Service said: API2 endpoints can only be used with a PRO tier higher than 0. "
        "(error code 403))"
    )
    assert fake_aimg.count("/2/enqueueWorkflow") == 0
