"""/aimg creations cards and the 👍/👎 buttons showing the member's vote, end to end."""

from __future__ import annotations

import pytest

from sandbox.discord import Message
from sandbox.fake_aimg import SAMPLE_PROMPTS, FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id, is_result


def _channel(box: Sandbox) -> int:
    return box.emulator.channel("after-dark").id


async def _made(box: Sandbox, prompt: str) -> Message:
    emu = box.emulator
    seen = {m.id for m in emu.messages(_channel(box))}
    await emu.slash(emu.world.member.id, _channel(box), "aimg", subcommand="generate", prompt=prompt)
    return await emu.wait_for_message(_channel(box), lambda m: m.id not in seen and is_result(m), timeout=10)


def _style(message: Message, label: str) -> int:
    return next(
        int(c["style"])
        for row in message.components
        for c in row["components"]
        if (c.get("label") or c.get("emoji", {}).get("name")) == label
    )


async def test_creations_show_prompt_model_and_thumbnail(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    await _made(aimg_sandbox, "a *tidal* lighthouse")
    inter = await emu.slash(emu.world.member.id, _channel(aimg_sandbox), "aimg", subcommand="creations")
    page = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None), 10)
    [card] = page.embeds
    [item] = fake_aimg.items.values()
    details = [r for r in fake_aimg.requests if r.path == "/getItemDetails"]
    assert details and details[-1].query["imageID"] == item.id
    assert card["description"] == "a \\*tidal\\* lighthouse"  # the prompt, as text
    assert card["title"].startswith("1. ") and card["title"] != "1. image"  # the model's name
    assert card["thumbnail"]["url"] == card["url"]
    assert "👍 0 👎 0" in card["fields"][0]["value"]
    assert emu.violations == []


async def test_like_and_dislike_buttons_show_the_members_vote(aimg_sandbox: Sandbox) -> None:
    emu = aimg_sandbox.emulator
    bob = emu.world.member.id
    result = await _made(aimg_sandbox, "a red fox")
    grey, green = 2, 3

    async def press(label: str, expected: tuple[int, int]) -> None:
        click = await emu.click(bob, result.id, custom_id(result, label))
        await emu.wait_for(lambda: next((m for m in click.ephemeral), None))
        shown = lambda: (  # noqa: E731
            (_style(emu.message(result.id), "👍"), _style(emu.message(result.id), "👎")) == expected or None
        )
        await emu.wait_for(shown, timeout=10)

    assert (_style(result, "👍"), _style(result, "👎")) == (grey, grey)
    await press("👍", (green, grey))
    await press("👎", (grey, green))
    await press("👎", (grey, grey))  # taken back
    assert emu.violations == []


async def test_the_prompt_offers_aimgs_sample_prompts(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _channel(aimg_sandbox)
    every = await emu.autocomplete(bob, channel, "aimg", "prompt", subcommand="generate", prompt="")
    assert [c["value"] for c in every] == [p["positivePrompt"] for p in SAMPLE_PROMPTS]
    typed = await emu.autocomplete(bob, channel, "aimg", "prompt", subcommand="generate", prompt="fox")
    assert [c["value"] for c in typed] == ["fox", "a red fox in fresh snow, telephoto"]
    assert fake_aimg.count("/getSamplePrompts") == 1  # kept, not asked per keystroke


@pytest.mark.parametrize("fake_aimg", [{"tier": 0, "step_seconds": 0.2}], indirect=True)
async def test_a_model_allowing_one_job_runs_them_one_after_the_other(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _channel(aimg_sandbox)
    for prompt in ("first wave", "second wave"):
        await emu.slash(bob, channel, "aimg", subcommand="generate", prompt=prompt, video=True)
    await emu.wait_for(
        lambda: len([m for m in emu.messages(channel) if is_result(m)]) == 2 or None, timeout=20
    )
    videos = [r for r in fake_aimg.requests if r.path == "/generateVideo"]
    # The second waited in the bot's queue for the first to finish: AIMG never refused it.
    assert len(videos) == 2
    assert not [m for m in emu.messages(channel) if "concurrent" in m.content.lower()]
