"""Job messages stay within Discord's limits whatever the prompt, the link and the buttons."""

from __future__ import annotations

import discord
import pytest

from bot.discord_side.render import MAX_CONTENT, job_content, job_view, short_final
from bot.domain import Job, JobKind, JobStatus, ResultButton

#: Markdown characters: escaping doubles the prompt's length.
MARKDOWN_PROMPT = "*_~`|" * 800


def _job(**fields: object) -> Job:
    base: dict[str, object] = {
        "id": 1,
        "guild_id": 2,
        "channel_id": 3,
        "owner_id": 4,
        "kind": JobKind.BLEND,
        "prompt": MARKDOWN_PROMPT,
        "status": JobStatus.SUCCESS,
        "ignored_words": ["x" * 400],
    }
    return Job.model_validate({**base, **fields})


@pytest.mark.parametrize("link_length", [0, 100, 900, 1700, 1990, 5000])
def test_content_fits_and_a_link_is_whole_or_absent(link_length: int) -> None:
    link = "https://cdn.example/" + "a" * link_length if link_length else None
    content = job_content(_job(), link)
    assert len(content) <= MAX_CONTENT
    if link is not None and link in content:
        assert content.endswith(f"\n{link}")
    else:
        assert "https://" not in content


def test_a_long_link_takes_room_from_the_prompt() -> None:
    link = "https://cdn.example/" + "a" * 900
    assert job_content(_job(), link).endswith(link)
    assert job_content(_job(), link).count("…") == 1


def test_short_final_names_what_happened_with_the_link() -> None:
    link = "https://cdn.example/x.png"
    text = short_final(_job(image_url=link))
    assert "could not be shown here" in text and text.endswith(f"\n{link}")
    assert len(short_final(_job(image_url="https://cdn.example/" + "a" * 3000))) <= MAX_CONTENT


@pytest.mark.parametrize("count", [1, 24, 25, 40])
async def test_an_upscale_shows_5_rows_of_5_at_most_and_keeps_its_link(count: int) -> None:
    buttons = [ResultButton(custom_id=f"b{n}", label=f"B{n}") for n in range(count)]
    view = job_view(_job(kind=JobKind.UPSCALE, buttons=buttons, image_url="https://cdn.example/x.png"))
    assert view is not None
    rows = [item.row for item in view.children]
    assert len(view.children) <= 25 and max(r or 0 for r in rows) <= 4
    last = view.children[-1]
    assert isinstance(last, discord.ui.Button) and last.url == "https://cdn.example/x.png"
    assert len(view.children) == min(count, 24) + 1
