"""What the page's user does, sent as real interactions through the emulator's driver.

Every action answers like the Discord client would tell its user: the interaction id, and an
`error` when the client would refuse it (a `DriverError`), when the bot did not acknowledge it within
Discord's 3 s, or when the emulator rejected the bot's answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from sandbox.discord import DiscordEmulator, DriverError, Interaction
from sandbox.discord.validation import LOCALES

from .keys import EMULATOR
from .views import world

JSON = dict[str, Any]
T = TypeVar("T")


def _refused(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request) -> JSON:
    try:
        body = await request.json()
    except ValueError:
        raise _refused("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _refused("the body is not a JSON object")
    return body


def _id(body: JSON, key: str) -> int:
    try:
        return int(body[key])
    except (KeyError, TypeError, ValueError):
        raise _refused(f"{key} must be a numeric id") from None


def _option(value: Any) -> Any:
    """Option values arrive as JSON; an attachment is {"filename", "content_type", "data": base64}."""
    if not isinstance(value, dict):
        return value
    try:
        data = base64.b64decode(value["data"], validate=True)
        return (str(value["filename"]), data, str(value.get("content_type") or "application/octet-stream"))
    except (KeyError, binascii.Error) as exc:
        raise _refused(f"an attachment needs filename and base64 data ({exc})") from None


async def _driven(action: Awaitable[T]) -> T:
    try:
        return await action
    except DriverError as exc:
        raise _refused(str(exc)) from None


async def _outcome(emu: DiscordEmulator, inter: Interaction) -> web.Response:
    """Wait as long as the Discord client does for the bot's acknowledgement, then report it."""
    answer: JSON = {"interaction_id": str(inter.id)}
    try:
        await emu.wait_for_response(inter, emu.limits.interaction_ack_seconds)
    except TimeoutError:
        answer["error"] = f"{emu.world.bot.username} did not respond: the interaction failed."
    if inter.error is not None:
        error = inter.error
        answer["error"] = f"The emulator rejected the bot's answer: {error.status} {error.message}"
    return web.json_response(answer)


async def post_slash(request: web.Request) -> web.Response:
    """Body: {"user_id", "channel_id", "name", "subcommand"?, "options": {name: value}}."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    options = {str(k): _option(v) for k, v in (body.get("options") or {}).items()}
    inter = await _driven(
        emu.slash(
            _id(body, "user_id"),
            _id(body, "channel_id"),
            str(body.get("name")),
            subcommand=body.get("subcommand") or None,
            **options,
        )
    )
    return await _outcome(emu, inter)


async def post_autocomplete(request: web.Request) -> web.Response:
    """Body: like a slash, plus "focused": the option being typed. Answers the bot's choices."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    options = {str(k): _option(v) for k, v in (body.get("options") or {}).items()}
    choices = await _driven(
        emu.autocomplete(
            _id(body, "user_id"),
            _id(body, "channel_id"),
            str(body.get("name")),
            str(body.get("focused")),
            subcommand=body.get("subcommand") or None,
            **options,
        )
    )
    return web.json_response({"choices": choices})


async def post_click(request: web.Request) -> web.Response:
    """Body: {"user_id", "message_id", "custom_id"}."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    user_id, message_id = _id(body, "user_id"), _id(body, "message_id")
    inter = await _driven(emu.click(user_id, message_id, str(body.get("custom_id"))))
    return await _outcome(emu, inter)


async def post_select(request: web.Request) -> web.Response:
    """Body: {"user_id", "message_id", "custom_id", "values": [str]}."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    values = [str(v) for v in body.get("values") or []]
    inter = await _driven(
        emu.select(_id(body, "user_id"), _id(body, "message_id"), str(body.get("custom_id")), values)
    )
    return await _outcome(emu, inter)


async def post_modal(request: web.Request) -> web.Response:
    """Body: {"user_id", "interaction_id", "custom_id", "values": {input custom_id: value}}.

    `interaction_id` is the interaction the bot answered with the modal (the `modal` event's)."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    opener = emu.store.interactions.get(_id(body, "interaction_id"))
    if opener is None or opener.user_id != _id(body, "user_id"):
        raise _refused("that modal was not opened for this user")
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise _refused("values maps input custom ids to values")
    inter = await _driven(emu.submit_modal(opener, str(body.get("custom_id")), values))
    return await _outcome(emu, inter)


async def post_say(request: web.Request) -> web.Response:
    """Body: {"user_id", "channel_id", "content"}: a plain message from a human."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    content = str(body.get("content") or "").strip()
    if not content:
        raise _refused("cannot send an empty message")
    message = await _driven(emu.say(_id(body, "user_id"), _id(body, "channel_id"), content))
    return web.json_response({"message_id": str(message.id)})


async def post_locale(request: web.Request) -> web.Response:
    """Body: {"locale": "zh-CN", "user_id": id} (that user's Discord client language, which their
    interactions carry as ``locale``) or {"locale": …, "guild": true} (the server's, ``guild_locale``)."""
    emu = request.app[EMULATOR]
    body = await _body(request)
    locale = body.get("locale")
    if locale not in LOCALES:
        raise _refused(f"locale is one of {sorted(LOCALES)}")
    if body.get("guild"):
        await emu.set_server_locale(str(locale))
    else:
        member = emu.world.guild.member(_id(body, "user_id"))
        if member is None:
            raise _refused("user_id is not a member of the server")
        member.user.locale = str(locale)
    return web.json_response({"world": world(emu)})
