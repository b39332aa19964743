"""Gateway websocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, and dispatches.

Frames are plain JSON text: discord.py asks for zlib/zstd transport compression but only
decompresses binary frames, so text frames work with every client setting.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .state import Store

JSON = dict[str, Any]

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, REQUEST_MEMBERS = 0, 1, 2, 6, 7, 8
INVALID_SESSION, HELLO, HEARTBEAT_ACK = 9, 10, 11
AUTHENTICATION_FAILED = 4004
HEARTBEAT_INTERVAL_MS = 41250
# Dispatches a session keeps for RESUME after its socket drops.
REPLAY_BUFFER = 1000
# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents): a session
# gets an event only if it identified with the intent that carries it. Guild message events need
# GUILD_MESSAGES; events not listed here (READY, GUILD_CREATE, INTERACTION_CREATE…) need none
# the bot can lack (GUILD_CREATE is GUILDS', which every bot here asks for).
GUILD_MESSAGES = 1 << 9
EVENT_INTENTS = dict.fromkeys(("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"), GUILD_MESSAGES)


@dataclass
class Session:
    id: str
    intents: int
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
            await ws.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, data = frame.get("op"), frame.get("d")
                if op == HEARTBEAT:
                    await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))
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

    async def _identify(self, ws: web.WebSocketResponse, data: JSON) -> Session | None:
        world = self._store.world
        if data.get("token") != world.token:
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0), socket=ws)
        self.sessions[session.id] = session
        ready = {
            "v": 10,
            "user": payloads.user(world.bot),
            "guilds": [{"id": str(world.guild.id), "unavailable": True}],
            "session_id": session.id,
            "resume_gateway_url": self._resume_url(),
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(world.application_id), "flags": 0},
            "shard": [0, 1],
        }
        await session.send({"op": DISPATCH, "t": "READY", "d": ready})
        await session.send({"op": DISPATCH, "t": "GUILD_CREATE", "d": payloads.guild_create(world)})
        self._store.emit("gateway_ready", {"session_id": session.id})
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
        guild = self._store.world.guild
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
        needed = EVENT_INTENTS.get(event, 0)
        for session in list(self.sessions.values()):
            if session.intents & needed == needed:
                await session.send({"op": DISPATCH, "t": event, "d": data})

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
