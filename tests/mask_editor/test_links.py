"""Editor links: signed, bound to job, button and member, expiring."""

from __future__ import annotations

import time

import pytest

from bot.mask_editor import LinkError, LinkSigner

KEY = b"k" * 32


def test_a_link_names_its_job_button_and_member() -> None:
    signer = LinkSigner(KEY)
    link = signer.verify(signer.issue(42, 7, 1001, 55))
    assert (link.job_id, link.index, link.user_id, link.channel_id) == (42, 7, 1001, 55)
    assert link.expires > time.time() + 14 * 60


def test_two_links_for_the_same_button_differ() -> None:
    signer = LinkSigner(KEY)
    assert signer.issue(1, 1, 1, 1) != signer.issue(1, 1, 1, 1)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "eyJqIjo5OTksImkiOjcsInUiOjEwMDEsImUiOjk5OTk5OTk5OTksIm4iOiJ4In0" + t[t.index(".") :],
        lambda t: t.replace(".", ""),
        lambda t: t + "." * 500,
        lambda t: "ü" + t,
    ],
)
def test_a_changed_token_is_refused(tamper: object) -> None:
    signer = LinkSigner(KEY)
    token = tamper(signer.issue(42, 7, 1001, 55))  # type: ignore[operator]
    with pytest.raises(LinkError) as refused:
        signer.verify(token)
    assert refused.value.status == 403


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = LinkSigner(b"x" * 32).issue(42, 7, 1001, 55)
    with pytest.raises(LinkError):
        LinkSigner(KEY).verify(token)


def test_a_link_expires_after_15_minutes() -> None:
    signer = LinkSigner(KEY)
    token = signer.issue(42, 7, 1001, 55, now=time.time() - 15 * 60 - 1)
    with pytest.raises(LinkError) as refused:
        signer.verify(token)
    assert refused.value.status == 410
    assert "expired" in str(refused.value)
