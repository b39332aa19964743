"""Handlers of the REST routes discord.py 2.7.1 uses, and the route table (spec path templates)."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import payloads
from .core import Core
from .errors import DiscordError, Issue, invalid_form_body, unknown
from .messages import Upload, apply_body, commit, delete, message_payload, publish
from .state import EPHEMERAL, LOADING, Interaction, Message
from .validation import check_commands, check_modal

JSON = dict[str, Any]

# Interaction types and callback types (https://discord.com/developers/docs/interactions/receiving-and-responding).
PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, CHOICES, MODAL = 1, 4, 5, 6, 7, 8, 9
ALLOWED_CALLBACKS = {
    PING: {PONG},
    COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {CHOICES},
    # 6/7 only when the modal was opened from a component; checked in the handler.
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}


@dataclass
class Call:
    """A parsed request as handlers see it."""

    method: str
    params: dict[str, str]
    query: dict[str, str]
    #: When the request arrived (the emulator's clock).
    at: float = 0.0
    body: Any = None
    uploads: list[Upload] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None


Handler = Callable[[Core, Call], Awaitable[Answer]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    bot_auth: bool = True

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = _pattern(self.template).match(path) if method == self.method else None
        return found.groupdict() if found is not None else None


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


# --- session and application -------------------------------------------------------------------


async def get_me(emu: Core, call: Call) -> Answer:
    return Answer(200, payloads.user(emu.store.world.bot))


async def get_application(emu: Core, call: Call) -> Answer:
    return Answer(200, payloads.application(emu.store.world))


async def get_gateway(emu: Core, call: Call) -> Answer:
    return Answer(200, {"url": emu.gateway_url})


async def get_gateway_bot(emu: Core, call: Call) -> Answer:
    limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
    body = {"url": emu.gateway_url, "shards": emu.recommended_shards, "session_start_limit": limit}
    return Answer(200, body)


def _command_scope(emu: Core, call: Call) -> int | None:
    world = emu.store.world
    if call.params["application_id"] != str(world.application_id):
        raise DiscordError(403, 50001, "Missing Access")
    guild_id = call.params.get("guild_id")
    if guild_id is None:
        return None
    if not guild_id.isdigit() or world.guild_by_id(int(guild_id)) is None:
        raise DiscordError(403, 50001, "Missing Access")
    return int(guild_id)


async def put_commands(emu: Core, call: Call) -> Answer:
    scope = _command_scope(emu, call)
    commands: list[JSON] = call.body or []
    issues = check_commands(commands, emu.limits)
    if issues:
        raise invalid_form_body(issues)
    previous = {(c["type"], c["name"]): c["id"] for c in emu.store.commands.get(scope, [])}
    stored = []
    for command in commands:
        kind = int(command.get("type") or 1)
        stored.append(
            {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "dm_permission": True,
                **command,
                "type": kind,
                "id": previous.get((kind, command["name"])) or str(emu.ids.next()),
                "application_id": str(emu.store.world.application_id),
                "version": str(emu.ids.next()),
                **({"guild_id": str(scope)} if scope is not None else {}),
            }
        )
    emu.store.commands[scope] = stored
    emu.store.emit("commands_synced", {"guild_id": scope, "commands": stored})
    return Answer(200, stored)


async def get_commands(emu: Core, call: Call) -> Answer:
    return Answer(200, emu.store.commands.get(_command_scope(emu, call), []))


# --- channel messages (bot token) ---------------------------------------------------------------


def _channel_id(emu: Core, call: Call) -> int:
    channel = emu.store.world.channel(int(call.params["channel_id"]))
    if channel is None:
        raise unknown("Channel", 10003, violation=True)
    return channel.id


def _channel_message(emu: Core, call: Call) -> Message:
    channel_id = _channel_id(emu, call)
    msg = emu.store.messages.get(int(call.params["message_id"]))
    # Ephemeral messages do not exist for channel routes.
    if msg is None or msg.deleted or msg.channel_id != channel_id or msg.ephemeral:
        raise unknown("Message", 10008)
    return msg


#: How long Discord remembers a nonce for ``enforce_nonce`` ("the past few minutes").
NONCE_WINDOW = 300.0


async def create_message(emu: Core, call: Call) -> Answer:
    channel_id = _channel_id(emu, call)
    body = call.body or {}
    nonce = str(body["nonce"]) if body.get("nonce") is not None else None
    if nonce is not None and body.get("enforce_nonce"):
        # Discord returns the earlier message instead of creating a second one.
        horizon = emu.clock.now() - NONCE_WINDOW
        for earlier in emu.store.channel_messages(channel_id):
            if earlier.nonce == nonce and emu.ids.timestamp(earlier.id) >= horizon:
                return Answer(200, message_payload(emu, earlier))
    draft = Message(emu.ids.next(), channel_id, emu.store.world.bot.id, nonce=nonce)
    msg = apply_body(emu, draft, body, call.uploads, editing=False)
    return Answer(200, await publish(emu, msg, created=True))


async def edit_message(emu: Core, call: Call) -> Answer:
    msg = _channel_message(emu, call)
    if msg.author_id != emu.store.world.bot.id:
        raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
    candidate = apply_body(emu, msg, call.body or {}, call.uploads, editing=True)
    return Answer(200, await publish(emu, commit(msg, candidate), created=False))


async def get_message(emu: Core, call: Call) -> Answer:
    return Answer(200, message_payload(emu, _channel_message(emu, call)))


async def list_messages(emu: Core, call: Call) -> Answer:
    found = emu.store.channel_messages(_channel_id(emu, call))
    if "before" in call.query:
        found = [m for m in found if m.id < int(call.query["before"])]
    if "after" in call.query:
        found = [m for m in found if m.id > int(call.query["after"])]
    limit = max(1, min(int(call.query.get("limit", 50)), 100))
    newest_first = sorted(found, key=lambda m: m.id, reverse=True)[:limit]
    return Answer(200, [message_payload(emu, m) for m in newest_first])


async def delete_message(emu: Core, call: Call) -> Answer:
    msg = _channel_message(emu, call)
    world = emu.store.world
    guild = world.guild_of(msg.channel_id)
    if msg.author_id != world.bot.id and not (guild and guild.permissions(world.bot.id) & (1 << 13)):
        raise DiscordError(403, 50013, "Missing Permissions")
    await delete(emu, msg)
    return Answer(204)


# --- interaction callback ------------------------------------------------------------------------


def _record_interaction(emu: Core, call: Call) -> Interaction:
    inter = emu.store.interactions.get(int(call.params["interaction_id"]))
    if inter is None or inter.token != call.params["interaction_token"]:
        raise DiscordError(404, 10062, "Unknown interaction")
    return inter


async def interaction_callback(emu: Core, call: Call) -> Answer:
    inter = _record_interaction(emu, call)
    if inter.acked:
        raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
    if call.at - inter.created_at > emu.limits.interaction_ack_seconds:
        raise DiscordError(404, 10062, "Unknown interaction")
    body: JSON = call.body or {}
    kind = int(body.get("type", 0))
    data: JSON = body.get("data") or {}
    allowed = ALLOWED_CALLBACKS.get(inter.type, set())
    if kind in (DEFERRED_UPDATE, UPDATE) and inter.message_id is None:
        allowed = allowed - {DEFERRED_UPDATE, UPDATE}
    if kind not in allowed:
        reason = f"Callback type {kind} is not valid for an interaction of type {inter.type}"
        raise invalid_form_body([Issue(("type",), "INTERACTION_RESPONSE_TYPE_INVALID", reason)])
    resource: JSON = {"type": kind}
    ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
    if kind in (MESSAGE, DEFERRED_MESSAGE):
        draft = Message(
            emu.ids.next(),
            inter.channel_id,
            emu.store.world.bot.id,
            interaction_id=inter.id,
            visible_to=inter.user_id if ephemeral else None,
            flags=(EPHEMERAL if ephemeral else 0) | (LOADING if kind == DEFERRED_MESSAGE else 0),
        )
        msg = draft if kind == DEFERRED_MESSAGE else apply_body(emu, draft, data, call.uploads, editing=False)
        inter.original = msg
        published = await publish(emu, msg, created=True)
        if kind == MESSAGE:
            # Discord gives the message only for types 4 and 7; a deferred one is named by
            # interaction.response_message_id alone.
            resource["message"] = published
    elif kind in (DEFERRED_UPDATE, UPDATE) and inter.message_id is not None:  # None was refused above
        target = emu.store.messages[inter.message_id]
        inter.original = target
        if kind == UPDATE:
            candidate = apply_body(emu, target, data, call.uploads, editing=True)
            resource["message"] = await publish(emu, commit(target, candidate), created=False)
    elif kind == CHOICES:
        inter.choices = data.get("choices") or []
    elif kind == MODAL:
        issues = check_modal(data, emu.limits)
        if issues:
            raise invalid_form_body(issues)
        inter.modal = data
    inter.acked, inter.response_type, inter.response_data = True, kind, body
    emu.store.emit("interaction_responded", {"interaction_id": str(inter.id), "type": kind, "data": data})
    original = inter.original
    summary: JSON = {
        "id": str(inter.id),
        "type": inter.type,
        "response_message_loading": kind == DEFERRED_MESSAGE,
        "response_message_ephemeral": original is not None and original.ephemeral,
    }
    if original is not None:
        summary["response_message_id"] = str(original.id)
    if call.query.get("with_response", "false").lower() not in ("1", "true"):
        return Answer(204)  # what Discord answers without ?with_response (discord.py >= 2.5 always asks)
    return Answer(200, {"interaction": summary, "resource": resource})


# --- webhook-token routes (interaction followups and edits) -------------------------------------


def webhook_interaction(emu: Core, call: Call) -> Interaction:
    """The interaction a webhook-token route belongs to; enforces the 15-minute token lifetime."""
    inter = next(
        (i for i in emu.store.interactions.values() if i.token == call.params["webhook_token"]), None
    )
    if call.params["webhook_id"] != str(emu.store.world.application_id) or inter is None or not inter.acked:
        raise unknown("Webhook", 10015, violation=True)
    if emu.clock.now() - inter.created_at > emu.limits.interaction_token_seconds:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    return inter


def _webhook_message(emu: Core, call: Call) -> tuple[Interaction, Message]:
    inter = webhook_interaction(emu, call)
    message_id = call.params.get("message_id", "@original")
    if message_id == "@original":
        msg = inter.original
    else:
        msg = next(
            (m for m in (inter.original, *inter.followups) if m is not None and str(m.id) == message_id), None
        )
    if msg is None or msg.deleted:
        raise unknown("Message", 10008)
    return inter, msg


async def get_webhook_message(emu: Core, call: Call) -> Answer:
    return Answer(200, message_payload(emu, _webhook_message(emu, call)[1]))


async def edit_webhook_message(emu: Core, call: Call) -> Answer:
    _, msg = _webhook_message(emu, call)
    candidate = apply_body(emu, msg, call.body or {}, call.uploads, editing=True)
    candidate.flags &= ~LOADING  # the first edit of a deferred response replaces the "thinking…" state
    return Answer(200, await publish(emu, commit(msg, candidate), created=False))


async def delete_webhook_message(emu: Core, call: Call) -> Answer:
    await delete(emu, _webhook_message(emu, call)[1])
    return Answer(204)


async def execute_webhook(emu: Core, call: Call) -> Answer:
    inter = webhook_interaction(emu, call)
    body: JSON = call.body or {}
    original = inter.original
    if original is not None and original.loading and not inter.followups and not original.deleted:
        # Discord (compat): the first followup after a type-5 defer edits the loading message, and
        # the defer's ephemerality wins over the followup's flags.
        candidate = apply_body(emu, original, body, call.uploads, editing=True)
        candidate.flags &= ~LOADING
        answer = await publish(emu, commit(original, candidate), created=False)
    else:
        ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
        draft = Message(
            emu.ids.next(),
            inter.channel_id,
            emu.store.world.bot.id,
            interaction_id=inter.id,
            visible_to=inter.user_id if ephemeral else None,
        )
        msg = apply_body(emu, draft, body, call.uploads, editing=False)
        inter.followups.append(msg)
        answer = await publish(emu, msg, created=True)
    wait = call.query.get("wait", "false").lower() in ("1", "true")
    return Answer(200, answer) if wait else Answer(204)


APP = "/applications/{application_id}"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
# Literal segments (@me, @original) come before the parameter routes they would also match.
ROUTES: list[Route] = [
    Route("GET", "/users/@me", get_me),
    Route("GET", "/oauth2/applications/@me", get_application),
    Route("GET", "/gateway", get_gateway, bot_auth=False),
    Route("GET", "/gateway/bot", get_gateway_bot),
    Route("PUT", f"{APP}/commands", put_commands),
    Route("GET", f"{APP}/commands", get_commands),
    Route("PUT", f"{APP}/guilds/{{guild_id}}/commands", put_commands),
    Route("GET", f"{APP}/guilds/{{guild_id}}/commands", get_commands),
    Route("POST", CHANNEL_MESSAGES, create_message),
    Route("GET", CHANNEL_MESSAGES, list_messages),
    Route("GET", f"{CHANNEL_MESSAGES}/{{message_id}}", get_message),
    Route("PATCH", f"{CHANNEL_MESSAGES}/{{message_id}}", edit_message),
    Route("DELETE", f"{CHANNEL_MESSAGES}/{{message_id}}", delete_message),
    Route("POST", "/interactions/{interaction_id}/{interaction_token}/callback", interaction_callback, False),
    Route("POST", WEBHOOK, execute_webhook, bot_auth=False),
    Route("GET", f"{WEBHOOK}/messages/@original", get_webhook_message, bot_auth=False),
    Route("PATCH", f"{WEBHOOK}/messages/@original", edit_webhook_message, bot_auth=False),
    Route("DELETE", f"{WEBHOOK}/messages/@original", delete_webhook_message, bot_auth=False),
    Route("GET", f"{WEBHOOK}/messages/{{message_id}}", get_webhook_message, bot_auth=False),
    Route("PATCH", f"{WEBHOOK}/messages/{{message_id}}", edit_webhook_message, bot_auth=False),
    Route("DELETE", f"{WEBHOOK}/messages/{{message_id}}", delete_webhook_message, bot_auth=False),
]
