"""The editor's HTTP routes, on the bot's web server (docs/mask-editor.md).

``GET /edit/<token>`` is the page, ``GET /edit/<token>/job`` what it needs to know (the prompt),
``GET /edit/<token>/image`` the image to paint on, and ``POST /edit/<token>`` the shapes and prompt,
which start the Vary (Region) job as the button would. Every request checks the token; only the
POST uses it up. Nothing else of the job, or of any other job, is shown.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from importlib import resources

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain import Job, JobStatus
from bot.jobs.calls import UserError
from bot.jobs.engine import JobEngine
from bot.jobs.masks import MAX_POINTS, MAX_SHAPES, ParentImage, Shape, fetch_parent, shapes_mask
from bot.mask_editor.links import USED, EditorLink, LinkError, LinkSigner
from bot.store import Store

log = logging.getLogger(__name__)

_STATIC = {"editor.js": "text/javascript", "editor.css": "text/css", "icon.svg": "image/svg+xml"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
GONE = "This image can no longer be varied. Run /imagine again in Discord."


class EditorSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(default="", max_length=4000)
    shapes: list[Shape] = Field(min_length=1, max_length=MAX_SHAPES)


class MaskEditor:
    def __init__(
        self,
        engine: JobEngine,
        store: Store,
        signer: LinkSigner,
        base_url: Callable[[], str],
    ) -> None:
        self._engine = engine
        self._store = store
        self.signer = signer
        self._base_url = base_url

    def link(self, job: Job, index: int, user_id: int, channel_id: int) -> str | None:
        """The editor's URL for button ``index`` of ``job``, pressed by ``user_id`` in ``channel_id``
        (where the result goes); None when that button is not Vary (Region)."""
        if not job.buttons[index].is_vary_region:
            return None
        return f"{self._base_url()}/edit/{self.signer.issue(job.id, index, user_id, channel_id)}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/edit/static/{name}", self._static),
            web.get("/edit/{token}", self._page),
            web.get("/edit/{token}/job", self._job_info),
            web.get("/edit/{token}/image", self._image),
            web.post("/edit/{token}", self._submit),
        ]

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(text=_read(name), content_type=_STATIC[name], headers=_HEADERS)

    async def _page(self, request: web.Request) -> web.Response:
        try:
            await self._parent(request)
        except LinkError as exc:
            page = _read("error.html").replace("{{sentence}}", html.escape(str(exc)))
            return web.Response(text=page, status=exc.status, content_type="text/html", headers=_HEADERS)
        return web.Response(text=_read("editor.html"), content_type="text/html", headers=_HEADERS)

    async def _job_info(self, request: web.Request) -> web.Response:
        try:
            _, job = await self._parent(request)
        except LinkError as exc:
            return _error(exc)
        return web.json_response({"prompt": job.prompt}, headers=_HEADERS)

    async def _image(self, request: web.Request) -> web.Response:
        try:
            _, job = await self._parent(request)
            parent = await self._parent_image(job)
        except LinkError as exc:
            return _error(exc)
        return web.Response(body=parent.data, content_type=parent.mime, headers=_HEADERS)

    async def _submit(self, request: web.Request) -> web.Response:
        try:
            link, job = await self._parent(request)
            edit = EditorSubmit.model_validate_json(await request.read())
            if sum(len(getattr(s, "points", ())) for s in edit.shapes) > MAX_POINTS:
                raise LinkError("That drawing has too many points. Clear it and draw fewer shapes.", 413)
            parent = await self._parent_image(job)
            mask = await asyncio.to_thread(shapes_mask, parent.size, edit.shapes)
            if not await self._store.use_editor_link(link.nonce, link.expires):
                raise LinkError(USED, 410)
        except ValidationError:
            return _error(LinkError("The drawing could not be read. Reload the page and draw again.", 400))
        except LinkError as exc:
            return _error(exc)
        try:
            await self._engine.press(
                job,
                link.index,
                user_id=link.user_id,
                channel_id=link.channel_id,
                prompt=edit.prompt.strip() or job.prompt,
                mask_png=mask,
            )
        except UserError as exc:
            await self._store.release_editor_link(link.nonce)  # nothing started: let them try again
            return _error(LinkError(str(exc), 400))
        return web.json_response(
            {
                "text": "Sent. The new image will appear in the channel in Discord.",
                "url": f"https://discord.com/channels/{job.guild_id}/{link.channel_id}",
            },
            headers=_HEADERS,
        )

    async def _parent_image(self, job: Job) -> ParentImage:
        try:
            return await fetch_parent(self._engine, job)
        except UserError as exc:
            raise LinkError(str(exc), 422) from None

    async def _parent(self, request: web.Request) -> tuple[EditorLink, Job]:
        link = self.signer.verify(request.match_info["token"])
        if await self._store.editor_link_used(link.nonce):
            raise LinkError(USED, 410)
        job = await self._engine.get(link.job_id)
        if (
            job is None
            or job.status is not JobStatus.SUCCESS
            or not 0 <= link.index < len(job.buttons)
            or not job.buttons[link.index].is_vary_region
        ):
            raise LinkError(GONE, 410)
        return link, job


def _read(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _error(exc: LinkError) -> web.Response:
    return web.json_response({"error": str(exc)}, status=exc.status, headers=_HEADERS)
