"""Hostile text end to end: banned patterns that would stall the loop, suffixes that carry banned
words, refusals quoting long matches, and control, bidi or invisible characters in what members type."""

from __future__ import annotations

import time

import pytest

from sandbox.discord import Interaction
from sandbox.fake_aimg import FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


async def _answer(box: Sandbox, inter: Interaction) -> str:
    """The bot's first private answer to ``inter``, once it has text."""

    def text() -> str | None:
        return next((m.content for m in inter.ephemeral if m.content.strip() and not m.loading), None)

    return await box.emulator.wait_for(text, timeout=10)


async def _ban(box: Sandbox, text: str, *, regex: bool = False) -> str:
    emu = box.emulator
    inter = await emu.slash(
        emu.world.admin.id, emu.channel("art").id, "setup", subcommand="words add", text=text, regex=regex
    )
    return await _answer(box, inter)


def _submitted_prompts(box: Sandbox) -> list[object]:
    return [r.json["prompt"] for r in box.proxy.requests if r.path == "/mj/submit/imagine"]


async def test_a_catastrophic_pattern_is_matched_without_stalling_the_bot(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art, general = emu.world.admin, emu.world.member, emu.channel("art"), emu.channel("general")
    assert "now refused" in await _ban(sandbox, "(a+)+$", regex=True)

    # Python's backtracking matcher takes 2^n steps on this prompt: the loop would stall for ever.
    adversarial = "a" * 3999 + "!"
    await emu.slash(bob.id, art.id, "imagine", prompt=adversarial)
    started = time.monotonic()
    info = await emu.slash(alice.id, general.id, "info")
    await emu.wait_for_response(info, timeout=5)
    assert time.monotonic() - started < 1.0
    # The pattern does not match (the prompt ends with "!"): the job is accepted and sent.
    await emu.wait_for(lambda: adversarial in _submitted_prompts(sandbox) or None, timeout=10)

    refusal = await _answer(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt="a" * 4000))
    # The match is 4000 characters; the refusal quotes at most 100 of them and fits one message.
    assert refusal.startswith("Your prompt contains “" + "a" * 99 + "…”")
    assert len(refusal) < 300
    assert emu.violations == []


async def test_a_long_banned_match_is_quoted_short(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    assert "now refused" in await _ban(sandbox, r"z{10,}", regex=True)
    refusal = await _answer(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt="z" * 3000))
    assert "does not allow" in refusal
    assert len(refusal) <= 200
    assert emu.violations == []
    assert _submitted_prompts(sandbox) == []


async def test_patterns_re2_cannot_match_are_refused_at_setup(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    for pattern in (r"(\w)\1", r"(?<!sea )monster", r"kraken(?=s)"):
        answer = await _ban(sandbox, pattern, regex=True)
        assert "cannot use that pattern" in answer, answer
        assert "backreferences or lookarounds" in answer
    listing = await _answer(
        sandbox, await emu.slash(emu.world.admin.id, emu.channel("art").id, "setup", subcommand="words list")
    )
    assert "no patterns" in listing
    # A plain word with the same characters is still a word, matched whole as before.
    assert "now refused" in await _ban(sandbox, "c++")
    refusal = await _answer(
        sandbox,
        await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt="I love C++ code"),
    )
    assert "contains “c++”" in refusal


async def test_a_suffix_cannot_carry_a_banned_word(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    assert "now refused" in await _ban(sandbox, "kraken")

    refused = await _answer(
        sandbox, await emu.slash(bob.id, art.id, "prefer", subcommand="suffix", text="kraken")
    )
    assert refused == "The suffix contains “kraken”, which this server does not allow. Choose another."

    # A suffix set before the admin banned one of its words: the prompt is checked as it is sent.
    kept = await _answer(
        sandbox, await emu.slash(bob.id, art.id, "prefer", subcommand="suffix", text="sea monster --ar 16:9")
    )
    assert "now end with" in kept
    assert "now refused" in await _ban(sandbox, r"sea\s+monster", regex=True)
    refusal = await _answer(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt="a calm lake"))
    assert "With your /settings flags and /prefer suffix added" in refusal
    assert "“sea monster”" in refusal
    assert _submitted_prompts(sandbox) == []


async def test_control_bidi_and_invisible_text_is_refused(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    cases = {
        # RIGHT-TO-LEFT OVERRIDE: the "- @bob" the bot writes after the prompt would read reversed.
        "a cat \u202e": "text-direction control characters",
        "a cat \u2066dog\u2069": "text-direction control characters",
        "\u200b\u2060\u3164 \ufeff": "only invisible characters",
        "a cat\x1b[31m": "control characters",
    }
    for prompt, reason in cases.items():
        refusal = await _answer(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt=prompt))
        assert reason in refusal, (prompt, refusal)
    suffix = await _answer(
        sandbox, await emu.slash(bob.id, art.id, "prefer", subcommand="suffix", text="--ar 16:9 \u202e")
    )
    assert suffix.startswith("The suffix contains text-direction control characters")
    assert _submitted_prompts(sandbox) == []
    # Right-to-left scripts, emoji and line breaks are plain text.
    await emu.slash(bob.id, art.id, "imagine", prompt="قطة 🦊 חתול\nby the sea")
    await emu.wait_for(lambda: "قطة 🦊 חתול\nby the sea" in _submitted_prompts(sandbox) or None, timeout=10)


async def test_a_negative_prompt_with_control_characters_never_reaches_aimg(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    after_dark = emu.channel("after-dark").id
    for negative, reason in (("blurry\x00", "control characters"), ("\u202eblurry", "text-direction")):
        inter = await emu.slash(
            emu.world.member.id, after_dark, "aimg", subcommand="generate", prompt="a fox", negative=negative
        )
        refusal = await _answer(aimg_sandbox, inter)
        assert refusal.startswith("The negative prompt contains"), refusal
        assert reason in refusal
    assert [r for r in fake_aimg.requests if r.path in ("/generateImage", "/generateVideo")] == []


async def test_report_details_with_bidi_controls_never_reach_aimg(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, after_dark = emu.world.member.id, emu.channel("after-dark").id
    await emu.slash(bob, after_dark, "aimg", subcommand="generate", prompt="a red fox")
    result = await emu.wait_for_message(after_dark, is_result, timeout=10)
    click = await emu.click(bob, result.id, custom_id(result, "🚩"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    done = await emu.submit_modal(
        click, click.modal["custom_id"], {"Category": ["Spam"], "Details (optional)": "posted by \u202etob a"}
    )
    refusal = await _answer(aimg_sandbox, done)
    assert refusal.startswith("The report contains text-direction control characters")
    assert fake_aimg.count("/reportItems") == 0


async def test_a_modal_prompt_with_bidi_controls_is_refused(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    await emu.slash(bob.id, art.id, "imagine", prompt="a castle on a hill")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    await emu.click(bob.id, grid.id, custom_id(grid, "U2"))
    upscale = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Custom Zoom"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    done = await emu.submit_modal(
        click, click.modal["custom_id"], {"Prompt": "a castle \u2067at night", "Zoom (1 to 2)": "1.5"}
    )
    refusal = await _answer(sandbox, done)
    assert refusal.startswith("The prompt contains text-direction control characters"), refusal
    assert [r for r in sandbox.proxy.requests if r.path == "/mj/submit/modal"] == []
