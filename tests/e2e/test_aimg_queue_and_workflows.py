"""AIMG end to end: the length of AIMG's queue while a job waits, a workflow's own error, LoRAs and
batch size, with every image of a batch shown."""

from __future__ import annotations

import httpx

from sandbox.discord import Interaction, Message
from sandbox.fake_aimg import TEST_SESSION_ID, FakeAimg
from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id, is_result


def _channel(box: Sandbox) -> int:
    return box.emulator.channel("after-dark").id


async def _elsewhere(fake: FakeAimg, prompt: str) -> str:
    """An item the same AIMG user makes outside Discord (it takes its place in AIMG's queue)."""
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"X-Session-ID": TEST_SESSION_ID}) as http:
        answer = (await http.post("/generateImage", json={"prompt": prompt})).json()
    assert answer["hasError"] is False
    return str(answer["payload"]["imageID"])


async def _shown(box: Sandbox, needle: str) -> Message:
    return await box.emulator.wait_for_message(_channel(box), lambda m: needle in m.content, timeout=10)


async def _told(box: Sandbox, interaction: Interaction, needle: str) -> str:
    def found() -> str | None:
        return next((m.content for m in interaction.ephemeral if needle in m.content), None)

    return await box.emulator.wait_for(found, timeout=10)


async def _workflow(box: Sandbox, **options: object) -> Interaction:
    emu = box.emulator
    return await emu.slash(emu.world.member.id, _channel(box), "aimg", subcommand="workflow", **options)


async def test_a_job_waiting_in_aimgs_queue_shows_the_queues_length(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    fake_aimg.faults.stick_next_item()
    held = await _elsewhere(fake_aimg, "holds the only worker")
    await fake_aimg.wait_for(held, "processing")
    await _elsewhere(fake_aimg, "ahead")
    await emu.slash(
        emu.world.member.id, _channel(aimg_sandbox), "aimg", subcommand="generate", prompt="behind"
    )
    await _shown(aimg_sandbox, "(Waiting to start: position 2 of 2 in the queue)")
    await _elsewhere(fake_aimg, "after")  # the queue grows behind the job; its place stays
    await _shown(aimg_sandbox, "(Waiting to start: position 2 of 3 in the queue)")
    # The PRO account's items wait in the model's priority queue, the one asked for.
    asked = [r.query for r in fake_aimg.requests if r.path == "/getQueuesLength"]
    assert asked and asked[-1] == {"modelIDs": "f222"}
    assert emu.violations == []


async def test_a_failed_workflow_shows_its_own_error_on_one_bounded_line(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    message = f"CUDA out of memory\non node 7 (session {TEST_SESSION_ID})\u202e\x07 " + "x" * 400
    fake_aimg.faults.fail_next_workflow(message)
    await _workflow(aimg_sandbox, template="txt2img-basic", prompt="a castle")
    failed = await _shown(aimg_sandbox, "(Failed)")
    detail = failed.content.split("\n> ", 1)[1]
    assert detail.startswith("The workflow failed: CUDA out of memory on node 7 (session ***) x")
    assert TEST_SESSION_ID not in failed.content
    assert "\n" not in detail and "\u202e" not in detail and "\x07" not in detail
    assert len(detail) <= 300 and detail.endswith("…")


async def test_loras_and_a_batch_run_and_every_image_of_the_batch_is_shown(
    aimg_sandbox: Sandbox, fake_aimg: FakeAimg
) -> None:
    emu = aimg_sandbox.emulator
    bob, channel = emu.world.member.id, _channel(aimg_sandbox)
    inter = await _workflow(
        aimg_sandbox,
        template="txt2img-hires",
        prompt="a castle",
        lora="detail-tweaker, film-grain",
        lora_strength="0.8, 0.5",
        batch=3,
    )
    result = await emu.wait_for_message(
        channel, lambda m: m.content.startswith("**a castle**") and is_result(m), timeout=10
    )
    assert inter.original is not None and result.id == inter.original.id
    [body] = [r.json for r in fake_aimg.requests if r.path == "/2/enqueueWorkflow"]
    assert (body["lora"], body["lora_strength"], body["batchSize"]) == (
        ["detail-tweaker", "film-grain"],
        [0.8, 0.5],
        3,
    )
    items = [i for i in fake_aimg.items.values() if i.workflow_template == "txt2img-hires"]
    assert len(items) == 3
    run = {p["name"]: p["value"] for p in items[0].run_parameters}
    assert (run["Lora 1"], run["Lora 1 Strength"], run["Lora 2"], run["Lora 2 Strength"]) == (
        "detail-tweaker",
        "0.8",
        "film-grain",
        "0.5",
    )
    # Every image of the batch, each the service's own file, the first item's first.
    assert [a.data for a in result.attachments] == [fake_aimg._render(i) for i in items]

    # 👍 and 🗑️ on the batch's message act on every item of it.
    await _told(aimg_sandbox, await emu.click(bob, result.id, custom_id(result, "👍")), "Liked")
    assert all(i.likes for i in items)
    await _told(aimg_sandbox, await emu.click(bob, result.id, custom_id(result, "🗑️")), "Deleted")
    assert all(i.deleted for i in items)
    assert emu.violations == []


async def test_loras_are_checked_against_the_template(aimg_sandbox: Sandbox, fake_aimg: FakeAimg) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        (
            {"lora": "nope"},
            "LoRA 'nope' is not available for the txt2img-hires workflow; choose one of "
            "detail-tweaker, film-grain, watercolor.",
        ),
        ({"lora": "film-grain, watercolor, detail-tweaker"}, "takes at most 2 LoRAs (got 3)."),
        ({"lora": "film-grain", "lora_strength": "0.5, 0.7"}, "Give one LoRA strength per LoRA"),
        (
            {"lora": "film-grain", "lora_strength": "3"},
            "Lora 1 Strength must be between 0 and 2 for the txt2img-hires workflow (got 3).",
        ),
        ({"lora": "film-grain", "lora_strength": "strong"}, "Not a valid value for: lora_strength."),
        ({"template": "txt2img-basic", "lora": "film-grain"}, "The txt2img-basic workflow takes no LoRA"),
        ({"batch": 5}, "Batch Size must be between 1 and 4 for the txt2img-hires workflow (got 5)."),
    ]
    for options, needle in cases:
        inter = await _workflow(aimg_sandbox, **({"template": "txt2img-hires", "prompt": "a cat"} | options))
        await _told(aimg_sandbox, inter, needle)
    assert fake_aimg.count("/2/enqueueWorkflow") == 0  # refused before the API was called
