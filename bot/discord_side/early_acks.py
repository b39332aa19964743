"""Job commands are acknowledged straight from the gateway event, before discord.py parses them.

Discord gives an interaction 3 s to be acknowledged, and in a burst every member waits behind the
others' handling: discord.py's parse of the event, the command tree, the command itself, the
job's store writes and backend call. `/imagine`, `/blend`, `/describe` and `/shorten` always
answer first with the job's public "thinking…" message (``bot/discord_side/replies.py``), so that answer
can leave as soon as the INTERACTION_CREATE event is read, from the raw payload, before any of
that work. A command opts in with ``extras={EARLY_ACK: True}``.

The rest of such an interaction (discord.py's parse onward) is held, and handed on one per event
loop pass only while no acknowledgement is in flight (or once it has waited ``MAX_HOLD``): asyncio
has no priorities, and a burst's parses and jobs would otherwise run between its acknowledgements
and delay the later ones. Then the tree's ``interaction_check`` calls :meth:`EarlyAcks.claim`,
which waits for the interaction's own acknowledgement and records it on the interaction as
discord.py's ``defer()`` would: the command, the error handler and the job's message all see a
deferred response. If the early acknowledgement failed in any way (an error status, an HTML page
from Discord's edge, a reset, no answer in ``ACK_READ_TIMEOUT``), nothing is recorded and the
command's own ``defer()`` tries again, within the 3 s.

An acknowledged command is also written to the store (``acked_commands``) until its job is; a
restart runs such a command again into the same message while its token lives, else tells the
member in the channel (:meth:`EarlyAcks.resume`, docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import Any

import aiohttp
import discord
from discord.http import Route
from discord.interactions import InteractionCallbackResponse, InteractionResponseType

from bot.discord_side.language import server_locale
from bot.domain import AckedCommand
from bot.i18n import render, tr
from bot.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]

#: The key of ``app_commands.command(extras=...)`` that opts a command in.
EARLY_ACK = "early_ack"

APPLICATION_COMMAND = 2
CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
DEFERRED_CHANNEL_MESSAGE = 5
#: The acknowledgement's body, encoded once (a burst sends hundreds).
_DEFER_BODY = json.dumps({"type": DEFERRED_CHANNEL_MESSAGE}).encode()
_JSON = {"Content-Type": "application/json"}
#: Connections kept for acknowledgements: a burst reuses them instead of opening one per
#: interaction (opening hundreds at once cost more than the requests).
CONNECTIONS = 64
#: Longest an interaction is held while acknowledgements are in flight, seconds: long enough for a
#: 1000-command burst's to go out before any of its jobs compete with them (0.25 s was not: its
#: ack p99 was 1.3 s, docs/scaling.md), short enough that a command whose early acknowledgement
#: failed still has time for its own defer() within Discord's 3 s.
MAX_HOLD = 1.0
#: Past Discord's 3 s an acknowledgement is refused anyway.
ACK_TIMEOUT = 3.0
#: Longest wait for Discord's answer once the request is sent, so that the command's own defer()
#: still has time when Discord's edge holds the request.
ACK_READ_TIMEOUT = 1.5
#: How long Discord accepts an interaction's token.
TOKEN_SECONDS = 15 * 60
#: A command resumed after a restart needs its token for a while yet (its answer, a refusal).
RESUME_MARGIN = 60.0
#: ``interaction.extras`` key of the raw payload of an early-ack command acknowledged late.
_PAYLOAD = "early_ack_payload"


def command_name(data: Payload) -> str:
    """The qualified name ("aimg generate") of a slash command interaction payload ("" for a
    context menu command)."""
    inner: Payload = data.get("data") or {}
    if inner.get("type", CHAT_INPUT) != CHAT_INPUT:
        return ""
    parts = [str(inner.get("name", ""))]
    options: list[Payload] = inner.get("options") or []
    while options and options[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
        parts.append(str(options[0].get("name", "")))
        options = options[0].get("options") or []
    return " ".join(parts)


def early_names(tree: discord.app_commands.CommandTree[Any]) -> set[str]:
    """Qualified names of the tree's commands that opted in."""
    return {
        command.qualified_name
        for command in tree.walk_commands()
        if isinstance(command, discord.app_commands.Command) and command.extras.get(EARLY_ACK)
    }


def acked_command(data: Payload, message_id: int) -> AckedCommand:
    """What the store keeps of an acknowledged command (its raw INTERACTION_CREATE payload)."""
    user = (data.get("member") or {}).get("user") or data.get("user") or {}
    interaction_id = int(data["id"])
    return AckedCommand(
        interaction_id=interaction_id,
        application_id=int(data["application_id"]),
        token=str(data["token"]),
        guild_id=int(data["guild_id"]) if data.get("guild_id") else None,
        channel_id=int(data.get("channel_id") or data["channel"]["id"]),
        user_id=int(user["id"]),
        command=command_name(data),
        payload=data,
        message_id=message_id,
        acked_at=time.time(),
        expires=discord.utils.snowflake_time(interaction_id).timestamp() + TOKEN_SECONDS,
    )


def _message_id(body: Payload) -> int | None:
    """The "thinking…" message a deferred response made, from Discord's callback answer."""
    found = (body.get("interaction") or {}).get("response_message_id")
    return int(found) if found else None


def early_response(interaction: discord.Interaction[Any]) -> InteractionCallbackResponse[Any] | None:
    """The early acknowledgement :meth:`EarlyAcks.claim` recorded on ``interaction``, if any."""
    found = interaction.extras.get(EARLY_ACK)
    return found if isinstance(found, InteractionCallbackResponse) else None


class EarlyAcks:
    """Sends the opted-in commands' acknowledgements from the gateway event (see the module)."""

    def __init__(self, client: discord.Client, names: Collection[str], store: Store) -> None:
        self._client = client
        self._names = frozenset(names)
        self._store = store
        #: Commands recorded from now on are this process's own, never resumed by it.
        self._installed_at = time.time()
        self._session: aiohttp.ClientSession | None = None
        self._parse: Callable[[Payload], None] | None = None
        #: Acknowledgements under way or done, and each interaction's raw payload.
        self._acks: dict[int, tuple[asyncio.Future[Payload], Payload]] = {}
        self._in_flight = 0
        #: (loop time it was held, payload), oldest first.
        self._held: deque[tuple[float, Payload]] = deque()
        self._next: asyncio.Handle | None = None

    def install(self) -> None:
        """Take over discord.py's INTERACTION_CREATE handler. ``ConnectionState.parsers`` is where
        discord.py's gateway looks up the function that turns an event into objects."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=ACK_TIMEOUT, sock_read=ACK_READ_TIMEOUT),
            headers={"User-Agent": self._client.http.user_agent},
            # The same trace as discord.py's own session: acknowledgements count in /metrics.
            trace_configs=[self._client.http.http_trace] if self._client.http.http_trace else None,
        )
        parsers = self._client._connection.parsers
        self._parse = parsers["INTERACTION_CREATE"]
        parsers["INTERACTION_CREATE"] = self._on_interaction_create

    async def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
        for task, _ in self._acks.values():
            task.cancel()
        if self._session is not None:
            await self._session.close()

    async def claim(self, interaction: discord.Interaction[Any]) -> None:
        """Wait for ``interaction``'s early acknowledgement, if it had one, and record it."""
        found = self._acks.pop(interaction.id, None)
        if found is None:
            return
        task, data = found
        try:
            payload = await task
        except Exception as exc:
            # Whatever went wrong (a non-JSON error page, a reset, a timeout), defer() tries again.
            log.warning(
                "early acknowledgement of %s failed (%s: %s); the command retries",
                interaction.id,
                type(exc).__name__,
                exc,
            )
            interaction.extras[_PAYLOAD] = data
            return
        kind = InteractionResponseType.deferred_channel_message
        # What InteractionResponse.defer() records once Discord accepted the same callback.
        interaction.response._response_type = kind
        interaction.extras[EARLY_ACK] = InteractionCallbackResponse(
            data=payload,  # type: ignore[arg-type]  # Discord's answer, as defer() passes it
            parent=interaction,
            state=interaction._state,
            type=kind,
        )

    async def acknowledged_late(self, interaction: discord.Interaction[Any], message_id: int) -> None:
        """Record a command whose early acknowledgement failed, once its own defer() worked."""
        data = interaction.extras.pop(_PAYLOAD, None)
        if isinstance(data, dict):
            await self._record(data, message_id)

    async def resume(self) -> None:
        """After a restart: run again the commands acknowledged whose job was never stored, into
        the same message, while their token lives; tell the member in the channel otherwise."""
        # Only what an earlier process left: this one's commands of the meantime are under way.
        for command in await self._store.acked_commands(before=self._installed_at):
            if time.time() < command.expires - RESUME_MARGIN:
                log.info(
                    "running interaction %s (/%s) again after a restart",
                    command.interaction_id,
                    command.command,
                )
                self.replay(command)
                continue
            # Told, then forgotten: a kill between the two tells the member twice, never not at all.
            await self._tell_not_started(command)
            await self._store.forget_command(command.interaction_id)

    def replay(self, command: AckedCommand) -> None:
        """Hand a stored command to discord.py again, as already acknowledged with its message."""
        body: Payload = {
            "interaction": {
                "id": str(command.interaction_id),
                "type": APPLICATION_COMMAND,
                "response_message_id": str(command.message_id),
                "response_message_loading": True,
                "response_message_ephemeral": False,
            }
        }
        done: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        done.set_result(body)
        self._acks[command.interaction_id] = (done, command.payload)
        self._forward(command.payload)

    async def _tell_not_started(self, command: AckedCommand) -> None:
        channel = self._client.get_partial_messageable(command.channel_id, guild_id=command.guild_id)
        try:
            said = tr(
                "<@{user}> Your /{command} was not started because the bot restarted. Run it again.",
                user=command.user_id,
                command=command.command,
            )
            await channel.send(
                # The channel reads it: in the server's language.
                render(said, server_locale(self._client, command.guild_id)),
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(command.user_id)]
                ),
            )
        except discord.HTTPException as exc:
            log.warning("could not tell the member of interaction %s (%s)", command.interaction_id, exc)

    async def _record(self, data: Payload, message_id: int) -> None:
        try:
            await self._store.record_command(acked_command(data, message_id))
        except Exception:
            # The command goes on; only a kill before its job is stored would lose it now.
            log.exception("could not record interaction %s", data.get("id"))

    def _on_interaction_create(self, data: Payload) -> None:
        if data.get("type") != APPLICATION_COMMAND or command_name(data) not in self._names:
            self._forward(data)
            return
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        self._acks[int(data["id"])] = (loop.create_task(self._acknowledge(data)), data)
        self._held.append((loop.time(), data))
        if self._next is None:
            self._next = loop.call_at(loop.time() + MAX_HOLD, self._hand_on)

    async def _acknowledge(self, data: Payload) -> Payload:
        """Send the acknowledgement, then record the command before discord.py may run it. Both
        count as in flight: held interactions are handed on in the order they came only once all
        of theirs are done (the records end in the order Discord answered)."""
        try:
            body = await self._callback(str(data["id"]), str(data["token"]))
            message_id = _message_id(body)
            if message_id is not None:
                await self._record(data, message_id)
            return body
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._held:
                self._reschedule(asyncio.get_running_loop().call_soon(self._hand_on))

    async def _callback(self, interaction_id: str, token: str) -> Payload:
        assert self._session is not None
        url = f"{Route.BASE}/interactions/{interaction_id}/{token}/callback?with_response=true"
        async with self._session.post(url, data=_DEFER_BODY, headers=_JSON) as response:
            if response.status != 200:
                # The body may be Discord's JSON or an edge's HTML page: only its status counts.
                raise discord.HTTPException(response, "")
            body = await response.json(content_type=None)
            if not isinstance(body, dict):
                raise discord.HTTPException(response, "the answer is not a JSON object")
            return body

    def _hand_on(self) -> None:
        """Hand the oldest held interaction to discord.py, then come back for the next one."""
        self._next = None
        if not self._held:
            return
        loop = asyncio.get_running_loop()
        since, data = self._held[0]
        if self._in_flight and loop.time() < since + MAX_HOLD:
            # An acknowledgement is out: its end calls back, or this one's deadline does.
            self._next = loop.call_at(since + MAX_HOLD, self._hand_on)
            return
        self._held.popleft()
        self._forward(data)
        if self._held:
            self._next = loop.call_soon(self._hand_on)

    def _reschedule(self, handle: asyncio.Handle) -> None:
        if self._next is not None:
            self._next.cancel()
        self._next = handle

    def _forward(self, data: Payload) -> None:
        assert self._parse is not None
        try:
            self._parse(data)
        except Exception:
            # discord.py logs a parser's failure and goes on with the next event; so does this.
            log.exception("discord.py could not handle interaction %s", data.get("id"))
