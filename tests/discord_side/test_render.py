"""Job messages stay within Discord's limits whatever the prompt, the link, the buttons and the
server's language; they are in that language but for what the service and the job's record said."""

from __future__ import annotations

import discord
import pytest

from bot.discord_side.render import (
    MAX_CONTENT,
    cancel_button,
    job_content,
    job_view,
    result_embed,
    short_final,
)
from bot.domain import ErrorKind, Job, JobKind, JobStatus, ResultButton

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


@pytest.mark.parametrize("locale", [None, "zh-CN", "ja"])
@pytest.mark.parametrize("link_length", [0, 100, 900, 1700, 1990, 5000])
def test_content_fits_and_a_link_is_whole_or_absent(link_length: int, locale: str | None) -> None:
    link = "https://cdn.example/" + "a" * link_length if link_length else None
    content = job_content(_job(), link, locale)
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
    assert short_final(_job(kind=JobKind.IMAGINE, prompt="owl", image_url=link), "ja") == (
        "**owl** - <@4>（完了しましたが、結果をここに表示できませんでした：下のリンクを開いてください。）\n"
        + link
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": JobStatus.QUEUED}, "**owl** - <@4>（開始待ち）"),
        (
            {"status": JobStatus.SUBMITTED, "queue_position": 2, "queue_length": 3},
            "**owl** - <@4>（開始待ち：キューの 3 件中 2 番目）",
        ),
        (
            {"status": JobStatus.QUEUED, "error_kind": ErrorKind.QUEUE_FULL},
            "**owl** - <@4>（開始待ち：画像サービスが混み合っているため、ボットが再試行します）",
        ),
        ({"status": JobStatus.IN_PROGRESS, "progress": 40}, "**owl** - <@4> (40%)"),
        ({"status": JobStatus.CANCELLED}, "**owl** - <@4>（キャンセル済み）"),
        (
            {
                "kind": JobKind.VARIATION,
                "action_custom_id": "MJ::JOB::variation::3::abc",
                "image_url": "https://cdn.example/x.png",
            },
            "**owl** - <@4> のバリエーション #3",
        ),
        # The stored reason is shown as the service wrote it.
        (
            {
                "status": JobStatus.FAILURE,
                "error_kind": ErrorKind.TIMEOUT,
                "error_detail": "no answer in 600 s",
            },
            "**owl** - <@4>（失敗）\n"
            "❌ ジョブに時間がかかりすぎたため停止しました。もう一度お試しください。\n"
            "> no answer in 600 s",
        ),
    ],
)
def test_a_job_message_is_in_the_servers_language(fields: dict[str, object], expected: str) -> None:
    job = _job(**{"kind": JobKind.IMAGINE, "prompt": "owl", "ignored_words": [], **fields})
    assert job_content(job, locale="ja") == expected


def test_the_bots_own_words_on_a_job_message_follow_the_server_and_the_services_do_not() -> None:
    described = _job(kind=JobKind.DESCRIBE, result_text="1️⃣ an owl")
    embed = result_embed(described, "zh-CN")
    assert embed is not None and embed.title == "选一个提示词来生成图片"
    assert cancel_button(1, "zh-CN").label == "取消"
    assert cancel_button(1).label == "Cancel"
    upscaled = _job(kind=JobKind.UPSCALE, buttons=[ResultButton(custom_id="v", label="Vary (Strong)")])
    view = job_view(upscaled, locale="zh-CN")
    assert view is not None and [getattr(b, "label", None) for b in view.children] == ["Vary (Strong)"]


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
