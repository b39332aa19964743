"""REST pipeline: routing, auth, injected faults, rate limits, body parsing, size and schema checks,
then the route handler; every request is recorded, every rejected one of the bot's making is a violation.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from .core import Core
from .errors import DiscordError, invalid_form_body
from .messages import Upload
from .openapi import SpecValidator
from .ratelimit import RateLimiter, Verdict
from .routes import ROUTES, Answer, Call, Route
from .state import CallRecord, Interaction, Violation

JSON = dict[str, Any]


@dataclass
class Fault:
    """A Discord-side failure the next `times` matching requests get (not the bot's fault)."""

    pattern: str
    status: int
    times: int
    code: int
    message: str
    retry_after: float
    is_global: bool
    #: Answered by Discord's edge (Cloudflare) instead: an HTML page, not Discord's JSON.
    html: bool = False
    #: Seconds the request is held before the answer (an edge waiting on Discord).
    delay: float = 0.0
    #: The connection is closed with no answer at all.
    reset: bool = False
    #: Discord carries the request out; only its answer is lost (replaced by the fault's).
    processed: bool = False


@dataclass
class Transit:
    """The next ``times`` requests matching ``pattern`` ("METHOD /path") reach Discord ``seconds``
    after they left the bot: Discord counts them, and their rate limits, from then."""

    pattern: str
    seconds: float
    times: int = 1


class EdgeError(Exception):
    """An error page from in front of Discord's API (a 502/503/504 from the CDN), in HTML."""

    def __init__(self, status: int) -> None:
        super().__init__(f"{status} from the edge")
        self.status = status

    def response(self) -> web.Response:
        title = f"{self.status} {HTTPStatus(self.status).phrase}"
        page = (
            f"<html><head><title>{title}</title></head>"
            f"<body><center><h1>{title}</h1></center><hr><center>cloudflare</center></body></html>"
        )
        return web.Response(status=self.status, text=page, content_type="text/html")


class RateLimitedError(Exception):
    def __init__(self, retry_after: float, scope: str, verdict: Verdict | None) -> None:
        super().__init__(f"429 ({scope}), retry after {retry_after:.3f}s")
        self.retry_after = retry_after
        self.scope = scope
        self.verdict = verdict


def json_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    # discord.py only parses bodies whose Content-Type is exactly "application/json"
    # (aiohttp's json_response appends "; charset=utf-8").
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"}
    )


class RestApi:
    def __init__(self, emu: Core) -> None:
        self._emu = emu
        self.limiter = RateLimiter(emu.clock, emu.limits)
        self.spec = SpecValidator()
        self.faults: list[Fault] = []
        self.transit: list[Transit] = []

    def prepare(self) -> None:
        """Compile every route's body validator now instead of on its first request."""
        self.spec.prepare((route.method, route.template) for route in ROUTES)

    async def handle(self, request: web.Request) -> web.Response:
        store = self._emu.store
        # Discord's clock (the 3 s to acknowledge, the order of arrival) stops when a request
        # arrives, not when this one-threaded emulator gets to it: stamp it, then let every other
        # request that arrived with it be stamped before any is processed.
        method, path = request.method, "/" + request.match_info["tail"]
        await asyncio.sleep(self._in_transit(f"{method} {path}"))
        arrived = self._emu.clock.now()
        await asyncio.sleep(0)
        route, params = self._find(method, path)
        template = route.template if route else None
        record = CallRecord(method, path, template, dict(request.query), None, [], arrived)
        store.calls.append(record)
        headers: dict[str, str] = {}
        try:
            response = await self._process(request, route, params, record, headers)
        except RateLimitedError as limited:
            record.scope = limited.scope
            store.rate_limited.append(record)
            response = self._too_many(limited)
        except EdgeError as error:
            response = error.response()
        except DiscordError as error:
            response = json_response(error.status, error.body(), headers)
            if error.violation:
                self._record_violation(record, error, params)
        record.status = response.status
        store.notify()
        return response

    def _find(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}

    async def _process(
        self,
        request: web.Request,
        route: Route | None,
        params: dict[str, str],
        record: CallRecord,
        headers: dict[str, str],
    ) -> web.Response:
        fault = self._fault(record)
        if fault is not None and not fault.processed:
            await self._raise_fault(request, fault)
        if route is None:
            raise DiscordError(404, 0, "404: Not Found")
        token = self._emu.store.world.token
        if route.bot_auth and request.headers.get(hdrs.AUTHORIZATION) != f"Bot {token}":
            raise DiscordError(401, 0, "401: Unauthorized")
        verdict = self.limiter.check(route.method, route.template, params, token if route.bot_auth else None)
        headers.update(verdict.headers())
        if not verdict.allowed:
            raise RateLimitedError(verdict.retry_after, verdict.scope, verdict)
        call = Call(record.method, params, record.query, at=record.at)
        await self._read_body(request, call, record)
        if call.body is not None:
            issues = self.spec.check(route.method, route.template, call.body)
            if issues:
                raise invalid_form_body(issues)
        answer: Answer = await route.handler(self._emu, call)
        if fault is not None:
            await self._raise_fault(request, fault)
        return json_response(answer.status, answer.body, headers)

    async def _read_body(self, request: web.Request, call: Call, record: CallRecord) -> None:
        limits = self._emu.limits
        if request.content_length is not None and request.content_length > limits.request_size:
            raise DiscordError(413, 40005, "Request entity too large")
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read()
                if part.name == "payload_json":
                    call.body = self._parse_json(bytes(data))
                elif part.name is not None and part.name.startswith("files["):
                    if len(data) > limits.attachment_size_limit:
                        raise DiscordError(413, 40005, "Request entity too large")
                    upload = Upload(
                        int(part.name[6:-1]),
                        part.filename or "file",
                        part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream"),
                        bytes(data),
                    )
                    call.uploads.append(upload)
            record.files = [(u.filename, len(u.data)) for u in call.uploads]
        elif request.can_read_body:
            call.body = self._parse_json(await request.read())
        record.body = call.body

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    def _in_transit(self, request_line: str) -> float:
        """Seconds the request spends on its way (a slow network), before Discord counts it."""
        for held in self.transit:
            if held.times > 0 and fnmatchcase(request_line, held.pattern):
                held.times -= 1
                return held.seconds
        return 0.0

    def _fault(self, record: CallRecord) -> Fault | None:
        """The injected fault this request meets, if any (each counts down its ``times``)."""
        candidates = [f"{record.method} {record.path}", record.path]
        if record.route is not None:
            candidates += [f"{record.method} {record.route}", record.route]
        for fault in self.faults:
            if fault.times > 0 and any(fnmatchcase(c, fault.pattern) for c in candidates):
                fault.times -= 1
                return fault
        return None

    @staticmethod
    async def _raise_fault(request: web.Request, fault: Fault) -> None:
        await asyncio.sleep(fault.delay)
        if fault.reset and request.transport is not None:
            request.transport.close()
        if fault.status == 429:
            raise RateLimitedError(fault.retry_after, "global" if fault.is_global else "user", None)
        if fault.html:
            raise EdgeError(fault.status)
        raise DiscordError(fault.status, fault.code, fault.message, violation=False)

    @staticmethod
    def _too_many(limited: RateLimitedError) -> web.Response:
        is_global = limited.scope == "global"
        headers = limited.verdict.headers() if limited.verdict is not None else {}
        # discord.py retries a 429 only with a Via header and a JSON body; otherwise it assumes a
        # Cloudflare ban and raises at once.
        headers.update(
            {
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(limited.retry_after)),
                "X-RateLimit-Scope": limited.scope,
            }
        )
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(limited.retry_after, 3),
            "global": is_global,
        }
        return json_response(429, body, headers)

    def _record_violation(self, record: CallRecord, error: DiscordError, params: dict[str, str]) -> None:
        store = self._emu.store
        violation = Violation(
            record.method,
            record.path,
            record.route,
            error.status,
            error.code,
            error.message,
            error.errors,
            record.body,
            record.at,
        )
        store.violations.append(violation)
        interaction = self._interaction_of(params)
        if interaction is not None:
            interaction.errors.append(violation)
        store.emit(
            "violation",
            {
                "method": record.method,
                "path": record.path,
                "status": error.status,
                "code": error.code,
                "message": error.message,
                "errors": error.errors,
            },
        )

    def _interaction_of(self, params: dict[str, str]) -> Interaction | None:
        store = self._emu.store
        if "interaction_id" in params:
            return store.interactions.get(int(params["interaction_id"]))
        token = params.get("webhook_token")
        return next((i for i in store.interactions.values() if i.token == token), None)
