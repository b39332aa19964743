"""Which shards a process runs (`mjbot run --shards`, `[discord] shards`), which guilds it owns, and
its share of the global budget (bot/shards.py)."""

from __future__ import annotations

import re

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.shards import global_share, owns, parse_shards, shard_of


@pytest.mark.parametrize(
    ("text", "ids"), [("0-3", [0, 1, 2, 3]), ("5", [5]), ("0-1, 6,1", [0, 1, 6]), ("2-2", [2])]
)
def test_shard_lists(text: str, ids: list[int]) -> None:
    assert parse_shards(text) == ids


@pytest.mark.parametrize(("text", "why"), [("0-", "not a list"), ("a", "not a list"), ("3-1", "backwards")])
def test_shard_lists_that_are_not(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_shards(text)


def test_the_environment_sets_the_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MJBOT_DISCORD_SHARDS", "0-3")
    monkeypatch.setenv("MJBOT_DISCORD_SHARD_COUNT", "8")
    assert load_settings().discord.shard_ids == [0, 1, 2, 3]


def test_the_command_line_overrides_the_environment_keeping_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MJBOT_DISCORD_SHARDS", "0-3")
    monkeypatch.setenv("MJBOT_DISCORD_SHARD_COUNT", "8")
    monkeypatch.setenv("MJBOT_DISCORD_DEV_GUILD_ID", "42")
    discord = load_settings(discord={"shards": "4-7"}).discord
    assert (discord.shard_ids, discord.shard_count, discord.dev_guild_id) == ([4, 5, 6, 7], 8, 42)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--shards", "0-3"], "shards needs shard_count"),
        (["--shards", "0-8", "--shard-count", "8"], r"shard ids run from 0 to shard_count - 1 \(7\)"),
        (["--shards", "x", "--shard-count", "8"], "not a list of shard ids"),
    ],
)
def test_mjbot_run_refuses_shards_it_cannot_run(
    args: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *args]) == 2
    assert re.search(why, capsys.readouterr().err)


def test_ownership_and_the_global_share() -> None:
    guild = (1234 << 22) | 99  # shard 1234 % 8 == 2
    assert shard_of(guild, 8) == 2
    assert owns(guild, [0, 1, 2, 3], 8) and not owns(guild, [4, 5, 6, 7], 8)
    assert owns(guild, None, None)  # one process runs every shard
    # Two processes with four shards each never together pass 48 writes a second.
    assert global_share(48, [0, 1, 2, 3], 8) + global_share(48, [4, 5, 6, 7], 8) == 48
    assert global_share(48, [0, 1, 2], 8) == 18 and global_share(48, [5], 100) == 1
    assert global_share(48, None, None) == 48
    with pytest.raises(ConfigError):
        load_settings(discord={"shards": "1"})
