"""AIMG sign-in end to end: a wrong code typed again, the 18+ confirmation, and /aimg logout
ending the session at AIMG."""

from __future__ import annotations

import pytest

from bot.jobs import aimg_items
from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id

_ADULT = "I am 18 or older (type YES)"


async def _said(box: Sandbox, interaction: Interaction, needle: str) -> str:
    found = lambda: next((m.content for m in interaction.ephemeral if needle in m.content), None)  # noqa: E731
    return await box.emulator.wait_for(found, timeout=10)


async def _enter(box: Sandbox, prompt: Message, code: str) -> Interaction:
    emu = box.emulator
    bob = emu.world.member.id
    click = await emu.click(bob, prompt.id, custom_id(prompt, "Enter code"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    return await emu.submit_modal(click, click.modal["custom_id"], {"One-time code": code, _ADULT: "YES"})


async def _sign_in(box: Sandbox, fake: FakeAimg, email: str) -> Message:
    emu = box.emulator
    inter = await emu.slash(
        emu.world.member.id, emu.channel("after-dark").id, "aimg", subcommand="login", email=email
    )
    await _said(box, inter, "one-time code")
    [prompt] = [m for m in inter.ephemeral if "one-time code" in m.content]
    return prompt


async def test_a_wrong_code_can_be_typed_again_and_the_18_plus_confirmation_is_sent(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    email = "carol@example.test"
    prompt = await _sign_in(aimg_sandbox, fake_aimg, email)
    code = fake_aimg.otp_for(email)
    assert code is not None
    wrong = await _enter(aimg_sandbox, prompt, "000000" if code != "000000" else "111111")
    said = await _said(aimg_sandbox, wrong, "wrong")
    assert said == "That one-time code is wrong or has expired. Click **Enter code** to type it again."
    # The same code request stands: the right code, typed on the same message, signs in.
    right = await _enter(aimg_sandbox, prompt, code)
    await _said(aimg_sandbox, right, f"Signed in as {email}")
    assert len([r for r in fake_aimg.requests if r.path == "/requestOTP"]) == 1
    attempts = [r.json for r in fake_aimg.requests if r.path == "/authenticateUser"]
    assert [a["isAtLeast18Confirmed"] for a in attempts] == [True, True]
    session = next(r.session for r in fake_aimg.requests if r.path == "/authenticateUser")
    assert session is not None and fake_aimg._sessions[session].adult_confirmed


async def test_logout_signs_the_session_out_at_aimg(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = aimg_sandbox.emulator
    email = "dave@example.test"
    prompt = await _sign_in(aimg_sandbox, fake_aimg, email)
    code = fake_aimg.otp_for(email)
    assert code is not None
    await _said(aimg_sandbox, await _enter(aimg_sandbox, prompt, code), "Signed in")
    session = next(r.session for r in fake_aimg.requests if r.path == "/authenticateUser")
    out = await emu.slash(emu.world.member.id, emu.channel("after-dark").id, "aimg", subcommand="logout")
    await _said(aimg_sandbox, out, "signed out of AIMG")
    [sign_out] = [r for r in fake_aimg.requests if r.path == "/signOutUser"]
    assert sign_out.session == session and session not in fake_aimg._sessions
    # AIMG not answering in time: the account is still forgotten here, and the member is told the truth.
    prompt = await _sign_in(aimg_sandbox, fake_aimg, email)
    code = fake_aimg.otp_for(email)
    assert code is not None
    await _said(aimg_sandbox, await _enter(aimg_sandbox, prompt, code), "Signed in")
    monkeypatch.setattr(aimg_items, "SIGN_OUT_WAIT", 0.2)
    fake_aimg.faults.response_delay = 1.0
    out = await emu.slash(emu.world.member.id, emu.channel("after-dark").id, "aimg", subcommand="logout")
    await _said(aimg_sandbox, out, "did not confirm the sign-out")
    fake_aimg.faults.response_delay = 0.0
    again = await emu.slash(emu.world.member.id, emu.channel("after-dark").id, "aimg", subcommand="logout")
    await _said(aimg_sandbox, again, "no AIMG account linked")
