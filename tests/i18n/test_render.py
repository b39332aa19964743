"""Which language a message is shown in, and how a message is filled in."""

from __future__ import annotations

from bot.i18n import Msg, joined, pick, render, said, tr
from bot.jobs.calls import UserError


def test_the_first_shipped_locale_wins_then_english() -> None:
    assert pick("fr", "ja") == "ja"
    assert pick("zh-CN", "ja") == "zh-CN"
    assert pick("fr", None) == "en-US"
    assert pick(None, None) == "en-US"
    # English is shipped (the source): an English member in a Japanese server reads English.
    assert pick("en-GB", "ja") == "en-GB"
    assert render(tr("Cancel"), "en-GB") == "Cancel"


def test_a_message_is_english_text_until_rendered() -> None:
    message = tr("Job #{job} is cancelled.", job=7)
    assert message == "Job #7 is cancelled."
    assert render(message, "zh-CN") == "任务 #7 已取消。"
    assert render(message, "ja") == "ジョブ #7 はキャンセルされました。"
    assert render(message, "fr") == "Job #7 is cancelled."


def test_values_that_are_messages_are_translated_too() -> None:
    message = tr("The {what} has only invisible characters. Type some words.", what=tr("prompt"))
    assert render(message, "ja") == "プロンプトには見えない文字しかありません。言葉を入力してください。"


def test_a_plain_string_is_shown_as_it_is() -> None:
    assert render("The engine's own sentence.", "zh-CN") == "The engine's own sentence."


def test_an_error_keeps_its_message() -> None:
    assert isinstance(said(UserError(tr("This button no longer works here."))), Msg)
    assert said(UserError("plain")) == "plain"


def test_joined_sentences_are_each_translated_with_the_languages_spacing() -> None:
    both = joined([tr("The prompt is empty."), tr("{model} does not support variations.", model="F222")])
    assert both == "The prompt is empty. F222 does not support variations."
    assert render(both, "ja") == "プロンプトが空です。F222 はバリエーションに対応していません。"
    assert render(both, "zh-CN") == "提示词为空。F222 不支持变体。"
    assert joined([]) == "" and joined([tr("The prompt is empty.")]) == "The prompt is empty."
