"""`GET /events?viewer=ID`: the emulator's change feed as server-sent events, as that user sees it.

Event names: `ready` (subscribed; load the channel now so nothing is missed in between), `upsert`
(a message, ephemeral ones only for their user), `deleted`, `modal` (the bot opened a modal for the
viewer), `violation` (the emulator refused a bot request), `commands` (the bot synced its commands).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from sandbox.discord import DiscordEmulator, Event

from .keys import EMULATOR, STREAMS
from .views import commands, with_command_name

JSON = dict[str, Any]
MODAL_RESPONSE = 9
# A comment line this often finds closed connections (a write fails) and keeps proxies from idling out.
HEARTBEAT_SECONDS = 15.0
CLOSED = "playground_closed"


def for_viewer(emu: DiscordEmulator, event: Event, viewer: int | None) -> tuple[str, JSON] | None:
    """The SSE event `viewer` gets for an emulator event, or None when it is not theirs to see."""
    data = event.data
    if event.kind in ("message_created", "message_updated"):
        return "upsert", with_command_name(emu, data["message"])
    if event.kind in ("ephemeral_created", "ephemeral_updated"):
        return ("upsert", with_command_name(emu, data["message"])) if data["visible_to"] == viewer else None
    if event.kind == "message_deleted":
        return "deleted", data
    if event.kind == "interaction_responded" and data["type"] == MODAL_RESPONSE:
        opener = emu.store.interactions.get(int(data["interaction_id"]))
        if opener is None or opener.user_id != viewer:
            return None
        return "modal", {"interaction_id": data["interaction_id"], "modal": data["data"]}
    if event.kind == "violation":
        return "violation", data
    if event.kind == "commands_synced":
        return "commands", {"commands": commands(emu)}
    return None


async def _send(response: web.StreamResponse, name: str, data: JSON) -> None:
    await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())


async def get_events(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMULATOR]
    try:
        viewer = int(request.query["viewer"]) if "viewer" in request.query else None
    except ValueError:
        raise web.HTTPBadRequest(text="viewer is a numeric user id") from None
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = emu.store.subscribe()
    streams = request.app[STREAMS]
    streams.add(queue)
    try:
        await _send(response, "ready", {})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": ping\n\n")
                continue
            if event.kind == CLOSED:
                break
            outgoing = for_viewer(emu, event, viewer)
            if outgoing is not None:
                await _send(response, *outgoing)
    except ConnectionResetError:
        pass  # the page was closed or reloaded
    finally:
        streams.discard(queue)
        emu.store.unsubscribe(queue)
    return response


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end every open stream, or the server would wait for each browser to go away."""
    for queue in app[STREAMS]:
        queue.put_nowait(Event(CLOSED, {}))
