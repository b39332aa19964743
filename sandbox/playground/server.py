"""`Playground`: the page's own small aiohttp server, beside the emulator it drives.

It is a separate server (not routes on the emulator) so that the emulator keeps speaking only
Discord's API, exactly as the tests and the bot see it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from sandbox.discord import DiscordEmulator
from sandbox.fake_mj_proxy import FakeMjProxy

from . import actions, controls, events, views
from .keys import EMULATOR, PROXY, STREAMS

STATIC = Path(__file__).parent / "static"


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


@web.middleware
async def _no_store(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A developer editing app.js or app.css sees the change on reload, with no stale cache."""
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def make_app(emulator: DiscordEmulator, proxy: FakeMjProxy) -> web.Application:
    # Room for two attachment options, base64-encoded, in one JSON body.
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_no_store])
    app[EMULATOR] = emulator
    app[PROXY] = proxy
    app[STREAMS] = set()
    app.on_shutdown.append(events.close_streams)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/state", views.get_state)
    app.router.add_get("/api/channels/{channel_id}/messages", views.get_messages)
    app.router.add_get("/events", events.get_events)
    app.router.add_post("/api/slash", actions.post_slash)
    app.router.add_post("/api/autocomplete", actions.post_autocomplete)
    app.router.add_post("/api/click", actions.post_click)
    app.router.add_post("/api/select", actions.post_select)
    app.router.add_post("/api/modal", actions.post_modal)
    app.router.add_post("/api/say", actions.post_say)
    app.router.add_post("/api/backend", controls.post_backend)
    app.router.add_post("/api/locale", actions.post_locale)
    return app


class Playground:
    """Serves the page for a started sandbox: `await Playground(emulator, proxy).start(port=8766)`."""

    def __init__(self, emulator: DiscordEmulator, proxy: FakeMjProxy) -> None:
        self._emulator, self._proxy = emulator, proxy
        self._runner: web.AppRunner | None = None
        self._address = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(make_app(self._emulator, self._proxy), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._address = f"{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        if not self._address:
            raise RuntimeError("the playground is not started")
        return f"http://{self._address}"
