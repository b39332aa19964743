"""The fake backend's knobs, as the page's "Backend" panel shows and sets them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.fake_mj_proxy import FakeMjProxy

from .keys import PROXY

JSON = dict[str, Any]
# Seconds per progress step of a fake task: "normal" is the terminal demo's pace.
SPEEDS = {"fast": 0.05, "normal": 0.8, "slow": 4.0}
BANNED_PROMPT_CODE = 24  # the Java proxy refuses a prompt with a banned word at submit with this code


def backend_state(proxy: FakeMjProxy) -> JSON:
    speed = next((name for name, step in SPEEDS.items() if step == proxy.step_seconds), "custom")
    return {
        "speed": speed,
        "speeds": list(SPEEDS),
        "step_seconds": proxy.step_seconds,
        "drop_hooks": proxy.faults.drop_hooks,
        "banned_words": sorted(proxy.faults.banned_words),
    }


def _arm(proxy: FakeMjProxy, fault: str) -> str:
    """Arm a one-shot fault; returns what the page tells the user will happen."""
    faults = proxy.faults
    if fault == "queue_full":
        faults.fail_next_submit(code=proxy.queue_full_code)
        return "The next job submit is answered “queue full”."
    if fault == "banned_word":
        faults.fail_next_submit(code=BANNED_PROMPT_CODE)
        return "The next prompt is refused as containing a banned word."
    if fault == "task_fails":
        faults.task_fails()
        return "The next job that starts fails."
    if fault == "stuck":
        faults.stick_next_task()
        return "The next job that starts gets stuck in progress (until the bot's timeout)."
    raise web.HTTPBadRequest(text=f"unknown fault {fault!r}")


async def post_backend(request: web.Request) -> web.Response:
    """Body: any of {"speed": "fast"|"normal"|"slow", "fault": name, "drop_hooks": bool}."""
    proxy = request.app[PROXY]
    body: JSON = await request.json()
    notes: list[str] = []
    if "speed" in body:
        if body["speed"] not in SPEEDS:
            raise web.HTTPBadRequest(text=f"speed is one of {list(SPEEDS)}")
        proxy.step_seconds = SPEEDS[body["speed"]]
        notes.append(f"Backend speed: {body['speed']}.")
    if "fault" in body:
        notes.append(_arm(proxy, str(body["fault"])))
    if "drop_hooks" in body:
        proxy.faults.drop_hooks = bool(body["drop_hooks"])
        notes.append(
            "Pushes (webhooks) are dropped: jobs finish by polling."
            if proxy.faults.drop_hooks
            else "Pushes (webhooks) are delivered again."
        )
    return web.json_response({"backend": backend_state(proxy), "notes": notes})
