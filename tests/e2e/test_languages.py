"""The bot speaks the member's language (docs/i18n.md): Discord's ``locale`` for private answers,
else the server's ``guild_locale``, else English; the server's language for what the channel sees;
the registered commands carry their translations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import FakeAimg
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result

#: A prompt with a control character (BEL): refused before anything is queued.
CONTROL_PROMPT = "a lighthouse\x07 at dusk"


async def _private(box: Sandbox, inter: Interaction) -> Message:
    """The bot's first private answer to ``inter`` with something in it."""

    def found() -> Message | None:
        return next((m for m in inter.ephemeral if (m.content.strip() or m.embeds) and not m.loading), None)

    return await box.emulator.wait_for(found, timeout=10)


def _option(command: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in command["options"] if o["name"] == name)


async def test_the_registered_commands_carry_their_translations(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    imagine = emu.driver.command("imagine")
    # Command names are Midjourney's and stay; their help is translated.
    assert not imagine.get("name_localizations")
    assert imagine["description_localizations"] == {
        "zh-CN": "根据文字提示词生成四张图片。",
        "ja": "テキストのプロンプトから画像を 4 枚作ります。",
    }
    prompt = _option(imagine, "prompt")
    assert prompt["name_localizations"] == {"zh-CN": "提示词", "ja": "プロンプト"}
    assert prompt["description_localizations"]["zh-CN"].startswith("要画什么")
    dimensions = _option(emu.driver.command("blend"), "dimensions")
    assert [c["name_localizations"]["ja"] for c in dimensions["choices"]] == [
        "縦長（2:3）",
        "正方形（1:1）",
        "横長（3:2）",
    ]
    # A service's name is the same in every language.
    setup = emu.driver.command("setup")
    add = next(
        o
        for group in setup["options"]
        if group["name"] == "account"
        for o in group["options"]
        if o["name"] == "add"
    )
    assert all(not c.get("name_localizations") for c in _option(add, "kind")["choices"])
    assert _option(add, "base_url")["name_localizations"] == {"zh-CN": "地址", "ja": "アドレス"}
    # Checked by the emulator against Discord's spec and name rules when the bot registered them.
    assert emu.violations == []


async def test_a_chinese_member_reads_chinese(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    bob.locale = "zh-CN"
    await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse at dusk")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    jobs = await _private(sandbox, await emu.slash(bob.id, art.id, "jobs"))
    assert jobs.embeds[0]["title"] == "你的任务（第 1 页）"
    assert "✅ 已完成" in jobs.embeds[0]["description"]
    assert jobs.embeds[0]["footer"]["text"].startswith("更早的任务：/jobs 页码:2")
    choices = await emu.autocomplete(bob.id, art.id, "show", "job", job="")
    assert choices[0]["name"].endswith("✅ 已完成: a lighthouse at dusk")

    refused = await emu.slash(bob.id, art.id, "imagine", prompt=CONTROL_PROMPT)
    assert (await _private(sandbox, refused)).content == "提示词包含控制字符。请以纯文本输入。"
    # The public "thinking…" message was taken back: only the first job's message is left.
    assert len([m for m in emu.messages(art.id) if not m.deleted]) == 1
    assert emu.violations == []


async def test_a_japanese_member_reads_japanese(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")
    bob.locale = "ja"
    refused = await emu.slash(
        bob.id, art.id, "imagine", prompt="a fox", image1=("notes.png", b"not an image", "image/png")
    )
    assert (await _private(sandbox, refused)).content == (
        "notes.png は PNG、JPEG、WebP、GIF のいずれの画像でもありません。画像ファイルを添付してください。"
    )

    await emu.slash(alice.id, art.id, "imagine", prompt="a red fox")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    click = await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    assert (await _private(sandbox, click)).content == f"これらのボタンを使えるのは <@{alice.id}> だけです。"
    # Midjourney's own button labels stay as the service names them.
    assert custom_id(emu.message(grid.id), "U1")

    panel = await _private(sandbox, await emu.slash(bob.id, art.id, "settings"))
    assert panel.content.startswith("**ここで設定を変更できます。**")
    labels = [c.get("label") for row in panel.components for c in row["components"]]
    assert "スタイル 高" in labels and "設定をリセット" in labels
    assert emu.violations == []


async def test_an_unknown_locale_reads_english_else_the_servers_language(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    bob.locale = "fr"
    refused = await emu.slash(bob.id, art.id, "imagine", prompt=CONTROL_PROMPT)
    assert (await _private(sandbox, refused)).content == (
        "The prompt contains control characters. Type it as plain text."
    )
    # No French catalog: the server's language comes next.
    await emu.set_server_locale("ja")
    refused = await emu.slash(bob.id, art.id, "imagine", prompt=CONTROL_PROMPT)
    assert (await _private(sandbox, refused)).content == (
        "プロンプトに制御文字が含まれています。プレーンテキストで入力してください。"
    )
    assert emu.violations == []


async def test_the_channel_reads_the_servers_language_and_the_member_their_own(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    await emu.set_server_locale("zh-CN")
    bob.locale = "ja"
    await emu.slash(bob.id, art.id, "imagine", prompt="a quiet harbor")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    job_id = int(custom_id(grid, "U1").split(":")[2])

    await emu.slash(bob.id, art.id, "show", job=job_id)
    shown = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    assert not shown.ephemeral
    assert shown.content.endswith(f"（任务 #{job_id}）")

    missing = await _private(sandbox, await emu.slash(bob.id, art.id, "show", job=job_id + 100))
    assert missing.content == f"このサーバーにジョブ #{job_id + 100} はありません。"
    assert emu.violations == []


def _writes(feed: Any, message_id: int) -> list[dict[str, Any]]:
    """Every state of message ``message_id`` the emulator has published since ``feed`` began."""
    seen = []
    while not feed.empty():
        event = feed.get_nowait()
        if event.kind.startswith("message_") and event.data["message"]["id"] == str(message_id):
            seen.append(event.data["message"])
    return seen


async def test_a_job_message_is_in_the_servers_language(make_sandbox: Callable[..., Sandbox]) -> None:
    # Steps slower than the progress pacing, so the waiting and progress states show.
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.4, progress_steps=3))) as box:
        emu = box.emulator
        bob, art = emu.world.member, emu.channel("art")
        await emu.set_server_locale("zh-CN")
        bob.locale = "ja"
        feed = emu.subscribe()
        await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse at dusk")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        seen = _writes(feed, grid.id)
        contents = [m["content"] for m in seen]
        assert f"**a lighthouse at dusk** - <@{bob.id}>（等待开始）" in contents, contents
        progress = [m for m in seen if m["content"].endswith("%)")]
        assert progress and all("取消" in str(m["components"]) for m in progress), seen
        # Midjourney's own buttons keep their names.
        assert buttons(grid)[0] == ["U1", "U2", "U3", "U4", "🔄"]
        await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
        upscale = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
        assert upscale.content == f"**a lighthouse at dusk** - 图片 #1 <@{bob.id}>"

        # A failure's line is the server's; the reason the service gave stays as it wrote it.
        box.proxy.faults.task_fails("Invalid value for --ar")
        await emu.slash(bob.id, art.id, "imagine", prompt="a wide shore --ar 99:1")
        failed = await emu.wait_for_message(art.id, lambda m: "（失败）" in m.content, timeout=10)
        assert "\n❌ 图像服务" in failed.content and failed.content.endswith("Invalid value for --ar")
        # What only the member reads is in the member's language.
        refused = await emu.slash(bob.id, art.id, "imagine", prompt=CONTROL_PROMPT)
        assert (await _private(box, refused)).content == (
            "プロンプトに制御文字が含まれています。プレーンテキストで入力してください。"
        )

        # Back to English: the next job's message is as it always was.
        await emu.set_server_locale("en-US")
        feed = emu.subscribe()
        await emu.slash(bob.id, art.id, "imagine", prompt="a quiet bay")
        grid = await emu.wait_for_message(art.id, lambda m: "quiet bay" in m.content and is_result(m), 10)
        seen = _writes(feed, grid.id)
        assert f"**a quiet bay** - <@{bob.id}> (Waiting to start)" in [m["content"] for m in seen], seen
        assert all("'Cancel'" in str(m["components"]) for m in seen if m["content"].endswith("%)"))
        assert emu.violations == []


async def test_aimgs_refusals_are_in_the_members_language(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    emu = aimg_sandbox.emulator
    bob, art, after_dark = emu.world.member, emu.channel("art"), emu.channel("after-dark")

    async def aimg(channel: int, subcommand: str, **options: object) -> str:
        inter = await emu.slash(bob.id, channel, "aimg", subcommand=subcommand, **options)
        return (await _private(aimg_sandbox, inter)).content

    bob.locale = "ja"
    # A workflow parameter outside the template's limits, and a model the account's tier cannot use.
    assert await aimg(after_dark.id, "workflow", template="txt2img-hires", prompt="a castle", batch=5) == (
        "• txt2img-hires ワークフローでは、Batch Size は 1 から 4 の間にしてください（指定値：5）。"
    )
    assert await aimg(after_dark.id, "generate", prompt="a castle", model="pro-xl") == (
        "• Pro XL には PRO ティア 2 が必要です。このアカウントはティア 1 です。"
    )
    # The bot's own sentence about the service, inside the service error's frame.
    assert await aimg(
        after_dark.id,
        "workflow",
        template="txt2img-hires",
        prompt="a cat",
        lora="film-grain",
        lora_strength="strong",
    ) == (
        "画像サービスがリクエストを拒否しました。プロンプトと画像を確認してください。"
        "（サービスの応答：次の値が正しくありません：lora_strength。）"
    )

    bob.locale = "zh-CN"
    assert await aimg(art.id, "generate", prompt="a castle") == (
        "AIMG 会生成成人内容，因此只能在年龄限制频道中使用。请使用年龄限制频道，或请管理员允许这个频道。"
    )
    assert await aimg(after_dark.id, "generate", prompt="a castle", model="f222", steps=99) == (
        "• F222 的步数必须在 10 到 50 之间（收到 99）。"
    )
    assert fake_aimg.count("/generateImage") == fake_aimg.count("/2/enqueueWorkflow") == 0
    assert emu.violations == []


async def test_aimgs_forms_and_item_buttons_are_in_the_members_language(aimg_sandbox: Sandbox) -> None:
    emu = aimg_sandbox.emulator
    bob, after_dark = emu.world.member, emu.channel("after-dark")
    bob.locale = "ja"
    await emu.slash(bob.id, after_dark.id, "aimg", subcommand="generate", prompt="a castle", steps=30)
    result = await emu.wait_for_message(after_dark.id, is_result, timeout=10)
    liked = await emu.click(bob.id, result.id, custom_id(result, "👍"))
    assert (await _private(aimg_sandbox, liked)).content == "👍 いいねしました。"

    click = await emu.click(bob.id, result.id, custom_id(result, "Use these settings"))
    await emu.wait_for_response(click)
    assert click.modal is not None and click.modal["title"] == "この設定を使う"
    labels = [c["label"] for row in click.modal["components"] for c in row["components"]]
    assert labels == [
        "プロンプト",
        "ネガティブプロンプト",
        "ステップ数",
        "CFG scale",
        "シード（空欄：ランダム）",
    ]
    refused = await emu.submit_modal(click, click.modal["custom_id"], {"ステップ数": "99"})
    assert (await _private(aimg_sandbox, refused)).content == (
        "• F222 のステップ数は 10 から 50 の間にしてください（指定値：99）。"
    )
    assert emu.violations == []


async def test_the_servers_rules_refuse_in_the_members_language(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")

    async def said(user: int, command: str, **options: object) -> str:
        return (await _private(sandbox, await emu.slash(user, art.id, command, **options))).content

    await said(alice.id, "setup", subcommand="limits", per_user_daily=1)
    bob.locale = "ja"
    await emu.slash(bob.id, art.id, "imagine", prompt="a first fox")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    assert await said(bob.id, "imagine", prompt="a second fox") == (
        "今日の 1 件のジョブを使い切りました。カウントは UTC 00:00 にリセットされます。"
    )

    await said(alice.id, "setup", subcommand="limits", per_user_daily=0)
    await said(alice.id, "setup", subcommand="words add", text="kraken")
    bob.locale = "zh-CN"
    assert await said(bob.id, "imagine", prompt="a kraken rising") == (
        "你的提示词包含“kraken”，本服务器不允许使用。请换个说法。"
    )
    await said(alice.id, "setup", subcommand="channel", enabled=False)
    assert await said(bob.id, "imagine", prompt="a calm sea") == (
        "机器人在这个频道已关闭。请换一个频道，或联系服务器管理员。"
    )
    bob.locale = "fr"
    assert await said(bob.id, "imagine", prompt="a calm sea") == (
        "The bot is off in this channel. Use another channel, or ask a server admin."
    )
    assert sandbox.proxy.count("/mj/submit/imagine") == 1
    assert emu.violations == []


async def test_setups_refusals_and_answers_are_in_the_admins_language(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, general = emu.world.admin, emu.channel("general")
    alice.locale = "ja"

    async def setup(subcommand: str, **options: object) -> str:
        inter = await emu.slash(alice.id, general.id, "setup", subcommand=subcommand, **options)
        return (await _private(sandbox, inter)).content

    assert await setup("account test", name="nope") == (
        "このサーバーに 'nope' という名前のアカウントはありません。/setup account list を確認してください。"
    )
    assert await setup("account remove", name="sandbox-proxy") == (
        "'sandbox-proxy' はボットの設定ファイルで宣言されています。そちらで変更してください。"
    )
    assert (await setup("account test", name="sandbox-proxy")).startswith(
        "✅ sandbox-proxy：サービスが応答し、認証情報を受け入れました。"
    )
    assert (
        await setup("account reset", name="sandbox-proxy")
        == "**sandbox-proxy** をローテーションに戻しました。"
    )
    assert emu.violations == []
