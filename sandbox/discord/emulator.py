"""`DiscordEmulator`: an aiohttp server speaking Discord's REST API v10 and gateway to discord.py."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

import discord.gateway
import discord.http
import yarl
from aiohttp import web

from . import payloads
from .clock import Clock
from .core import Core
from .driver import Driver
from .limits import Limits
from .rest import Fault, RestApi, Transit
from .state import CallRecord, Event, Interaction, Message, Violation
from .world import Channel, World

JSON = dict[str, Any]
T = TypeVar("T")


class DiscordEmulator(Core):
    """A local Discord: REST under /api/v10, gateway at /gateway, attachments at /attachments/.

    Its state (`store`) is plain data: messages, interactions, registered commands, every call,
    every violation. Tests drive it like users do (`slash`, `click`, `submit_modal`, …) and assert
    `violations == []`.
    """

    def __init__(
        self,
        *,
        world: World | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
        token: str = "sandbox-token",
        guilds: int = 1,
        recommended_shards: int = 1,
    ) -> None:
        super().__init__(
            world=world,
            limits=limits,
            clock=clock,
            token=token,
            guilds=guilds,
            recommended_shards=recommended_shards,
        )
        self.rest = RestApi(self)
        self.driver = Driver(self)
        self._runner: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Above the 25 MiB request limit so that oversized uploads get Discord's 413, not aiohttp's.
        app = web.Application(client_max_size=self.limits.request_size * 2)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._address = f"{bound_host}:{bound_port}"

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        stored = self.store.attachments.get(int(request.match_info["attachment_id"]))
        if stored is None or stored.filename != request.match_info["filename"]:
            raise web.HTTPNotFound()
        ex, issued = request.query.get("ex", ""), request.query.get("is", "")
        signature = payloads.cdn_signature(request.path, ex, issued)
        if (
            not hmac.compare_digest(signature.encode(), request.query.get("hm", "").encode())
            or int(ex, 16) <= self.clock.now()
        ):
            # Discord's answer to an unsigned, forged or expired attachment link.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})

    # --- world and state ------------------------------------------------------------------------

    @property
    def world(self) -> World:
        return self.store.world

    def channel(self, name: str, guild: int = 0) -> Channel:
        """Channel ``name`` of the ``guild``-th guild (the default guild unless asked)."""
        found = self.world.guilds[guild].channel(name)
        if found is None:
            raise KeyError(name)
        return found

    @property
    def calls(self) -> list[CallRecord]:
        return self.store.calls

    @property
    def violations(self) -> list[Violation]:
        return self.store.violations

    @property
    def rate_limited(self) -> list[CallRecord]:
        return self.store.rate_limited

    @property
    def events(self) -> list[Event]:
        return self.store.events

    def messages(self, channel_id: int, *, viewer: int | None = None) -> list[Message]:
        """Channel messages, oldest first; pass `viewer` to include that user's ephemeral ones."""
        return self.store.channel_messages(channel_id, viewer=viewer)

    def message(self, message_id: int) -> Message:
        return self.store.messages[message_id]

    def subscribe(self) -> Any:
        """An asyncio.Queue of every later `Event` (messages, interactions, violations…)."""
        return self.store.subscribe()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109 (explicit per-call deadline)
        return await self.store.wait_for(predicate, timeout)

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[Message], bool] = lambda m: True,
        timeout: float = 5.0,  # noqa: ASYNC109 (explicit per-call deadline)
        *,
        viewer: int | None = None,
    ) -> Message:
        """The newest message of the channel matching `predicate`, waiting until there is one."""

        def newest() -> Message | None:
            return next((m for m in reversed(self.messages(channel_id, viewer=viewer)) if predicate(m)), None)

        return await self.wait_for(newest, timeout)

    async def wait_for_response(self, interaction: Interaction, timeout: float = 5.0) -> Interaction:  # noqa: ASYNC109 (explicit per-call deadline)
        """Wait until the bot acknowledged `interaction` (or a request about it was rejected)."""
        await self.wait_for(lambda: interaction.acked or bool(interaction.errors), timeout)
        return interaction

    # --- faults ---------------------------------------------------------------------------------

    def inject_fault(
        self,
        route_pattern: str,
        status: int,
        *,
        times: int = 1,
        code: int = 0,
        message: str | None = None,
        retry_after: float = 0.05,
        is_global: bool = False,
        html: bool = False,
        delay: float = 0.0,
        reset: bool = False,
        processed: bool = False,
    ) -> None:
        """Answer the next `times` requests matching `route_pattern` with `status`.

        The pattern is an fnmatch pattern matched against "METHOD /path", "/path", "METHOD /template"
        and "/template" (paths relative to /api/v10), e.g. "PATCH /channels/*/messages/*".
        A 429 is a proper rate-limit answer that discord.py retries after `retry_after`. With `html`
        the answer is an edge error page (text/html, as Cloudflare sends a 502/503/504), not JSON;
        `delay` holds the request that long first; `reset` closes the connection with no answer.
        With `processed` Discord carries the request out and only its answer is lost.
        """
        text = message if message is not None else f"{status}: Injected fault"
        self.rest.faults.append(
            Fault(
                route_pattern,
                status,
                times,
                code,
                text,
                retry_after,
                is_global,
                html,
                delay,
                reset,
                processed,
            )
        )

    def delay_in_transit(self, pattern: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` requests matching ``pattern`` ("METHOD /path", fnmatch, paths
        relative to /api/v10) ``seconds`` on their way: Discord sees them that much later."""
        self.rest.transit.append(Transit(pattern, seconds, times))

    async def gateway_outage(self, down: bool = True) -> None:
        """Drop every gateway connection and refuse new ones (503) until called with False."""
        self.gateway.down = down
        if down:
            await self.gateway.close()

    async def reconnect_gateway(self) -> None:
        """Ask connected clients to reconnect (op 7); discord.py RESUMEs its session."""
        await self.gateway.request_reconnect()

    # --- user actions (see Driver) --------------------------------------------------------------

    async def slash(
        self, user_id: int, channel_id: int, name: str, /, *, subcommand: str | None = None, **options: Any
    ) -> Interaction:
        return await self.driver.slash(user_id, channel_id, name, subcommand=subcommand, **options)

    async def autocomplete(
        self,
        user_id: int,
        channel_id: int,
        name: str,
        focused: str,
        /,
        *,
        subcommand: str | None = None,
        timeout: float = 3.0,  # noqa: ASYNC109 (explicit per-call deadline)
        **options: Any,
    ) -> list[JSON]:
        return await self.driver.autocomplete(
            user_id, channel_id, name, focused, subcommand=subcommand, timeout=timeout, **options
        )

    async def click(self, user_id: int, message_id: int, custom_id: str) -> Interaction:
        return await self.driver.click(user_id, message_id, custom_id)

    async def select(self, user_id: int, message_id: int, custom_id: str, values: list[str]) -> Interaction:
        return await self.driver.select(user_id, message_id, custom_id, values)

    async def submit_modal(
        self, opener: Interaction | int, custom_id: str, values: dict[str, Any]
    ) -> Interaction:
        return await self.driver.submit_modal(opener, custom_id, values)

    async def say(self, user_id: int, channel_id: int, content: str) -> Message:
        return await self.driver.say(user_id, channel_id, content)

    async def set_server_locale(self, locale: str, guild: int = 0) -> None:
        await self.driver.set_server_locale(locale, guild)


def point_discord_py_at(emulator: DiscordEmulator) -> None:
    """Make discord.py talk to the emulator (it has no public option for its REST and gateway URLs)."""
    discord.http.Route.BASE = emulator.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
