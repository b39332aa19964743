"""Reading the expiry Discord signs into its attachment URLs."""

from __future__ import annotations

from bot.jobs.image_urls import expired, expires_at

SIGNED = "https://cdn.discordapp.com/attachments/1/2/a.png?ex=6750a2c0&is=674f5140&hm=abc123&"


def test_the_expiry_is_the_ex_parameter_in_hex_seconds() -> None:
    assert expires_at(SIGNED) == 0x6750A2C0


def test_a_link_expires_at_its_ex_time() -> None:
    assert not expired([SIGNED], now=0x6750A2C0 - 1)
    assert expired([SIGNED], now=0x6750A2C0)
    assert expired(["https://example.com/fresh.png", SIGNED], now=0x6750A2C0 + 1)  # any one is enough


def test_links_without_a_readable_expiry_are_not_judged() -> None:
    for url in ("https://example.com/a.png", "https://cdn.discordapp.com/a.png?ex=zz&hm=1"):
        assert expires_at(url) is None
        assert not expired([url], now=1e12)
