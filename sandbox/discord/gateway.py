"""Gateway websocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, and dispatches.

Sharding as Discord does it: IDENTIFY may name ``shard: [id, count]``; that session's READY lists,
and it receives events of, only the guilds with ``(guild_id >> 22) % count == id``.

Frames are plain JSON text: discord.py asks for zlib/zstd transport compression but only
decompresses binary frames, so text frames work with every client setting.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .state import Store
from .world import shard_of

JSON = dict[str, Any]

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, REQUEST_MEMBERS = 0, 1, 2, 6, 7, 8
INVALID_SESSION, HELLO, HEARTBEAT_ACK = 9, 10, 11
AUTHENTICATION_FAILED, INVALID_SHARD = 4004, 4010
HEARTBEAT_INTERVAL_MS = 41250
#: How long a HEARTBEAT_ACK takes, as a network's round trip would.
HEARTBEAT_RTT = 0.05
# Dispatches a session keeps for RESUME after its socket drops.
REPLAY_BUFFER = 1000
# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents): a session
# gets an event only if it identified with the intent that carries it. Guild message events need
# GUILD_MESSAGES; events not listed here (READY, GUILD_CREATE, INTERACTION_CREATE…) need none
# the bot can lack (GUILD_CREATE is GUILDS', which every bot here asks for).
GUILD_MESSAGES = 1 << 9
EVENT_INTENTS = dict.fromkeys(("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"), GUILD_MESSAGES)
#: Events whose payload is the guild object itself: their shard is that of its "id".
GUILD_OBJECT_EVENTS = frozenset({"GUILD_UPDATE"})


@dataclass
class Session:
    id: str
    intents: int
    #: (shard id, shard count) the session identified with.
    shard: tuple[int, int] = (0, 1)
    seq: int = 0
    socket: web.WebSocketResponse | None = None
    sent: deque[JSON] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: JSON) -> None:
        async with self.lock:
            if frame.get("op") == DISPATCH:
                self.seq += 1
                frame["s"] = self.seq
                self.sent.append(frame)
            if self.socket is not None and not self.socket.closed:
                await self.socket.send_str(json.dumps(frame))


class Gateway:
    def __init__(self, store: Store, resume_url: Callable[[], str]) -> None:
        self._store = store
        self._resume_url = resume_url
        self.sessions: dict[str, Session] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Discord's interval; tests of heartbeats shorten it.
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS
        #: A gateway outage: new connections get 503, as Discord's edge answers during one.
        self.down = False

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        if self.down:
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        session: Session | None = None
        try:
            hello = {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            await ws.send_str(json.dumps(hello))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, data = frame.get("op"), frame.get("d")
                if op == HEARTBEAT:
                    self._spawn(self._ack_heartbeat(ws))
                elif op == IDENTIFY:
                    session = await self._identify(ws, data)
                elif op == RESUME:
                    session = await self._resume(ws, data)
                elif op == REQUEST_MEMBERS and session is not None:
                    await self._send_members(session, data)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.socket is ws:
                session.socket = None
        return ws

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ack_heartbeat(self, ws: web.WebSocketResponse) -> None:
        # After a network's round trip, as from Discord: discord.py's heartbeat thread notes the
        # send only once it is done, and an ACK that comes first reads as a 40 s delay ("Can't
        # keep up") in the log.
        await asyncio.sleep(HEARTBEAT_RTT)
        if not ws.closed:
            await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))

    async def _identify(self, ws: web.WebSocketResponse, data: JSON) -> Session | None:
        world = self._store.world
        if data.get("token") != world.token:
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
            return None
        shard = (int(shard_id), int(shard_count))
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0), shard, socket=ws)
        self.sessions[session.id] = session
        guilds = [g for g in world.guilds if shard_of(g.id, shard[1]) == shard[0]]
        ready = {
            "v": 10,
            "user": payloads.user(world.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "resume_gateway_url": self._resume_url(),
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(world.application_id), "flags": 0},
            "shard": list(shard),
        }
        await session.send({"op": DISPATCH, "t": "READY", "d": ready})
        for guild in guilds:
            await session.send({"op": DISPATCH, "t": "GUILD_CREATE", "d": payloads.guild_create(guild)})
        self._store.emit("gateway_ready", {"session_id": session.id, "shard": list(shard)})
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: JSON) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self._store.world.token:
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        session.socket = ws
        last = int(data.get("seq") or 0)
        for frame in [f for f in session.sent if f["s"] > last]:
            await ws.send_str(json.dumps(frame))
        await session.send({"op": DISPATCH, "t": "RESUMED", "d": {}})
        self._store.emit("gateway_resumed", {"session_id": session.id})
        return session

    async def _send_members(self, session: Session, data: JSON) -> None:
        guild = self._store.world.guild_by_id(int(data.get("guild_id") or 0))
        if guild is None:
            return
        chunk = {
            "guild_id": str(guild.id),
            "members": [payloads.member(guild, m) for m in guild.members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        }
        await session.send({"op": DISPATCH, "t": "GUILD_MEMBERS_CHUNK", "d": chunk})

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send ``event`` to every session that asked for it and, for a guild's event, holds its shard."""
        needed = EVENT_INTENTS.get(event, 0)
        key = data.get("id") if event in GUILD_OBJECT_EVENTS else data.get("guild_id")
        guild_id = int(key) if key else None
        for session in list(self.sessions.values()):
            shard_id, shard_count = session.shard
            if guild_id is not None and shard_of(guild_id, shard_count) != shard_id:
                continue
            if session.intents & needed == needed:
                await session.send({"op": DISPATCH, "t": event, "d": data})

    def holds(self, guild_id: int) -> bool:
        """Whether a connected session receives ``guild_id``'s events."""
        return any(
            s.socket is not None and not s.socket.closed and shard_of(guild_id, s.shard[1]) == s.shard[0]
            for s in self.sessions.values()
        )

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: clients close and RESUME on `resume_gateway_url`."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"op": RECONNECT, "d": None}))

    @property
    def connected(self) -> int:
        return sum(1 for s in self.sessions.values() if s.socket is not None and not s.socket.closed)

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
