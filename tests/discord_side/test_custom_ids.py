"""The custom-id scheme (bot/discord_side/custom_ids.py): every id the bot renders is one a
registered DynamicItem parses back, and forged ids are nobody's."""

from __future__ import annotations

import re

import discord
import pytest

from bot.discord_side import custom_ids
from bot.discord_side.render import job_view
from bot.domain import Job, JobKind, JobStatus, ResultButton
from cogs.buttons import CancelButtonItem, ResultButtonItem
from cogs.settings import ToggleItem, VersionSelectItem

#: The largest ids the store hands out and the most buttons a message holds.
BIGGEST_JOB, LAST_INDEX = 10**18 - 1, 24
ITEMS = (ResultButtonItem, CancelButtonItem, ToggleItem, VersionSelectItem)


def _parsers(custom_id: str) -> list[str]:
    """The registered DynamicItems whose template takes ``custom_id`` (as discord.py matches them)."""
    return [item.__name__ for item in ITEMS if item.__discord_ui_compiled_template__.fullmatch(custom_id)]


def _job(status: JobStatus) -> Job:
    buttons = [ResultButton(custom_id=f"MJ::JOB::upsample::{n}::h", label=f"U{n}") for n in range(1, 5)]
    return Job(
        id=BIGGEST_JOB, guild_id=1, channel_id=2, owner_id=3, kind=JobKind.IMAGINE, prompt="p",
        status=status, buttons=buttons, image_url="https://cdn.example/x.png",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("made", "parser"),
    [
        (custom_ids.result(BIGGEST_JOB, LAST_INDEX), "ResultButtonItem"),
        (custom_ids.cancel(BIGGEST_JOB), "CancelButtonItem"),
        (custom_ids.toggle(12), "ToggleItem"),
        (custom_ids.VERSION, "VersionSelectItem"),
    ],
)
def test_each_id_is_parsed_by_one_item(made: str, parser: str) -> None:
    assert _parsers(made) == [parser]
    assert len(made) <= 100  # Discord's limit on a custom_id


@pytest.mark.parametrize(
    "forged", ["mjb:r:1234567890123456789:0", "mjb:r:1:1000", "mjb:c:", "mjb:r:1:2:3", "x"]
)
def test_forged_ids_are_nobodys(forged: str) -> None:
    assert _parsers(forged) == []


@pytest.mark.parametrize("status", [JobStatus.IN_PROGRESS, JobStatus.SUCCESS])
async def test_rendered_buttons_are_the_registered_items(status: JobStatus) -> None:
    view = job_view(_job(status))
    assert view is not None
    ids = [item.custom_id for item in view.children if isinstance(item, discord.ui.Button) and item.custom_id]
    expected = ["CancelButtonItem"] if status is JobStatus.IN_PROGRESS else ["ResultButtonItem"] * 4
    assert [name for made in ids for name in _parsers(made)] == expected
    # The ids carry the job (and each button's index) back to the click's handler.
    parsed = [re.fullmatch(custom_ids.RESULT, made) or re.fullmatch(custom_ids.CANCEL, made) for made in ids]
    assert [m and m["job"] for m in parsed] == [str(BIGGEST_JOB)] * len(ids)
    if status is JobStatus.SUCCESS:
        assert [m and m["idx"] for m in parsed] == ["0", "1", "2", "3"]
