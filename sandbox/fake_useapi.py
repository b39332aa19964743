"""A fake useapi.net Midjourney API v2, following ``docs/backends/useapi.md``.

* Accounts: ``GET /v2/account/midjourney`` (404 when none), ``POST
  /v2/account/midjourney/{channel}`` (204) and ``…/{channel}/reset`` (clears ``pendingModMessage``).
* Jobs: ``POST /v2/jobs/imagine|button|blend|describe`` answer the job object (status
  ``started``), ``GET /v2/jobs/?jobid=`` returns it. A job runs started → progress (the percent in
  ``content``, a preview attachment) → completed (grid or upscale attachment, ``buttons``), and
  every change is POSTed to ``replyUrl`` with the ``replyRef``.
* Errors are HTTP codes with ``{"error", "code"}`` bodies: 400 bad input or a button the parent does
  not offer; 404 unknown job; 409 an upscale pressed twice; 412 an image prompt (a URL at the start
  of ``prompt``) it cannot fetch; 422 ``status: "moderated"`` for banned words; 429 with
  ``executingJobs`` when the chosen account has ``maxJobs`` jobs running; 596 when the account has
  a pending moderation message (:meth:`FakeUseApi.hold_for_moderation`).
* Accounts are picked as useapi does: the ``channel`` named, else a random one with a free slot.
* Buttons: ``prompt`` is required for ``Custom Zoom`` and taken by any other button (Remix: the
  new job runs it); ``mask`` is required for ``Vary (Region)`` (base64 of a PNG, checked).
* ``GET /v2/jobs/cancel/?jobid=`` stops an executing job (``cancelled``, its slot freed);
  ``POST /v2/jobs/seed_async`` runs a job whose result has ``seed: {content, value}`` and the four
  upscales; ``POST /v2/jobs/info`` answers a completed job with /info's text in ``content``.

Faults: :class:`sandbox.fake_nextleg.HostedFaults` (``duplicate_hooks`` sends every reply twice).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import images
from sandbox.fake_nextleg import (
    GRID_BUTTONS,
    ONE_SHOT,
    HostedFake,
    HostedFaults,
    buttons_after,
    image_prompt_urls,
    iso_now,
    json_object,
    render_after,
)

USER_ID = "1000000000000000042"
_EXECUTING = ("created", "started", "progress")
_DIMENSIONS = {"Portrait": (2, 3), "Square": (1, 1), "Landscape": (3, 2)}
#: Buttons that need more than the label, and the field they need.
_NEEDS = {"Custom Zoom": "prompt", "Vary (Region)": "mask"}


@dataclass
class FakeAccount:
    channel: str
    discord: str
    server: str
    max_jobs: int = 3
    pending_mod_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channel": self.channel,
            "discord": self.discord,
            "server": self.server,
            "maxJobs": self.max_jobs,
        }
        if self.pending_mod_message:
            body["pendingModMessage"] = self.pending_mod_message
        return body


@dataclass
class _Job:
    jobid: str
    verb: str
    prompt: str
    account: FakeAccount
    max_jobs: int
    reply_url: str | None
    reply_ref: str | None
    created: str
    status: str = "created"
    updated: str = ""
    message_id: str = ""
    content: str = ""
    parent_job_id: str | None = None
    button: str | None = None
    buttons: list[str] = field(default_factory=list)
    children: list[dict[str, str]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    #: Image name in the fake's store, and the buttons the result will offer.
    image: str | None = None
    result_buttons: list[str] = field(default_factory=list)
    #: seed_async: the seed the result reports.
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        discord = self.account.discord
        body: dict[str, Any] = {
            "jobid": self.jobid,
            "verb": self.verb,
            "status": self.status,
            "created": self.created,
            "updated": self.updated or self.created,
            "prompt": self.prompt,
            # useapi never echoes the Discord token whole.
            "discord": f"{discord[:3]}…secured…{discord[-3:]}",
            "server": self.account.server,
            "channel": self.account.channel,
            "maxJobs": self.max_jobs,
            "messageId": self.message_id,
            "content": self.content,
            "buttons": self.buttons,
            "children": self.children,
            "attachments": self.attachments,
            "embeds": [],
            "code": 200,
        }
        optional = {
            "parentJobId": self.parent_job_id,
            "button": self.button,
            "replyUrl": self.reply_url,
            "replyRef": self.reply_ref,
            "error": self.error,
            "seed": None if self.seed is None else {"content": f"**Seed** {self.seed}", "value": self.seed},
        }
        return body | {key: value for key, value in optional.items() if value is not None}


class FakeUseApi(HostedFake):
    submit_paths = (
        "/v2/jobs/imagine",
        "/v2/jobs/button",
        "/v2/jobs/blend",
        "/v2/jobs/describe",
        "/v2/jobs/seed_async",
    )

    def __init__(
        self,
        *,
        secret: str = "useapi-token",
        accounts: list[FakeAccount] | None = None,
        step_seconds: float = 0.05,
        progress_steps: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__(
            secret=secret,
            faults=HostedFaults(),
            step_seconds=step_seconds,
            progress_steps=progress_steps,
            seed=seed,
        )
        default = [
            FakeAccount(
                channel="1100000000000000001", discord="discord-token-a", server="1200000000000000001"
            )
        ]
        self.accounts: dict[str, FakeAccount] = {
            a.channel: a for a in (default if accounts is None else accounts)
        }
        self._jobs: dict[str, _Job] = {}
        self._counter = 0
        #: useapi.net does not say when the "cancelled" reply is sent: True delivers it before the
        #: cancel call is answered.
        self.reply_before_cancel_answer = False

    # --- test helpers -------------------------------------------------------------------------

    def hold_for_moderation(self, channel: str, message: str = "Action needed to continue") -> None:
        """Midjourney holds the account: its jobs answer 596 until ``…/reset``."""
        self.accounts[channel].pending_mod_message = message

    def job_json(self, jobid: str) -> dict[str, Any]:
        return self._jobs[jobid].to_json()

    def jobs_of(self, verb: str) -> list[dict[str, Any]]:
        """Every job of ``verb`` (``imagine``, ``seed_async``…), oldest first."""
        return [j.to_json() for j in self._jobs.values() if j.verb == verb]

    async def wait_for(self, jobid: str, *statuses: str) -> dict[str, Any]:
        """Wait until the job is in one of ``statuses``; its JSON then. Bound it with asyncio.timeout."""
        await self.wait_until(lambda: self._jobs[jobid].status in statuses)
        return self.job_json(jobid)

    def executing(self, channel: str) -> list[str]:
        return [
            j.jobid for j in self._jobs.values() if j.account.channel == channel and j.status in _EXECUTING
        ]

    # --- HostedFake ---------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/account/midjourney", self._list_accounts)
        app.router.add_post("/v2/account/midjourney/{channel}", self._put_account)
        app.router.add_post("/v2/account/midjourney/{channel}/reset", self._reset_account)
        app.router.add_post("/v2/jobs/imagine", self._imagine)
        app.router.add_post("/v2/jobs/button", self._button)
        app.router.add_post("/v2/jobs/blend", self._blend)
        app.router.add_post("/v2/jobs/describe", self._describe)
        app.router.add_get("/v2/jobs/", self._get_job)
        app.router.add_get("/v2/jobs/cancel/", self._cancel)
        app.router.add_post("/v2/jobs/seed_async", self._seed)
        app.router.add_post("/v2/jobs/info", self._info)

    def _error(self, status: int, message: str, /, **extra: Any) -> web.Response:
        return web.json_response({"error": message, **extra, "code": status}, status=status)

    # --- accounts -----------------------------------------------------------------------------

    async def _list_accounts(self, request: web.Request) -> web.Response:
        if not self.accounts:
            return self._error(
                404, "Configuration not found. To create configuration use account/midjourney/channel."
            )
        return web.json_response({channel: a.to_json() for channel, a in self.accounts.items()})

    async def _put_account(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        body = await json_object(request)
        if body.get("channel") != channel:
            return self._error(400, f"Channel {body.get('channel')} does not match {channel}")
        max_jobs = body.get("maxJobs", 3)
        if not isinstance(max_jobs, int) or not 1 <= max_jobs <= 15:
            return self._error(400, f"maxJobs {max_jobs} can't be more that 15")
        discord, server = body.get("discord"), body.get("server")
        if not isinstance(discord, str) or not isinstance(server, str) or not discord or not server:
            return self._error(400, "Required params discord and server are missing")
        if any(a.discord == discord and a.channel != channel for a in self.accounts.values()):
            return self._error(400, f"Channel {channel} configuration has same discord value")
        self.accounts[channel] = FakeAccount(
            channel=channel, discord=discord, server=server, max_jobs=max_jobs
        )
        return web.Response(status=204)

    async def _reset_account(self, request: web.Request) -> web.Response:
        account = self.accounts.get(request.match_info["channel"])
        if account is None:
            return self._error(404, "Configuration not found")
        account.pending_mod_message = None
        return web.Response(status=204)

    # --- jobs ---------------------------------------------------------------------------------

    async def _imagine(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        prompt = str(body.get("prompt") or "").strip()
        if not prompt:
            return self._error(400, "Required param prompt is missing or empty")
        if len(prompt) > 2048:
            return self._error(400, "Param prompt is too long (2048 characters max)")
        if await self._unreadable(image_prompt_urls(prompt)):
            return self._error(412, "Unable to fetch an image URL of the prompt")
        return self._started(
            self._create(body, "imagine", prompt, GRID_BUTTONS, functools.partial(images.render_grid, prompt))
        )

    async def _blend(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        urls = body.get("blendUrls")
        if not isinstance(urls, list) or not 2 <= len(urls) <= 5:
            return self._error(400, "Param blendUrls must have 2 to 5 image URLs")
        dimensions = body.get("blendDimensions") or "Square"
        if dimensions not in _DIMENSIONS:
            return self._error(400, f"Param blendDimensions must be one of {', '.join(_DIMENSIONS)}")
        width, height = _DIMENSIONS[dimensions]
        prompt = f"blend of {len(urls)} --ar {width}:{height}"
        return self._started(
            self._create(body, "blend", prompt, GRID_BUTTONS, functools.partial(images.render_grid, prompt))
        )

    async def _describe(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        url = body.get("describeUrl")
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            return self._error(400, "Param describeUrl must be an image URL")
        return self._started(self._create(body, "describe", "", [], None))

    async def _button(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        jobid, label = body.get("jobid"), body.get("button")
        if not isinstance(jobid, str) or not jobid or not isinstance(label, str) or not label:
            return self._error(400, "Required params jobid and button are missing")
        parent = self._jobs.get(jobid)
        if parent is None:
            return self._error(404, f"Job {jobid} not found")
        if parent.status != "completed":
            return self._error(400, f"Job {jobid} status is {parent.status}, button requires completed job")
        if label not in parent.buttons:
            return self._error(
                400, f"Button {label} not supported, supported buttons: {', '.join(parent.buttons)}"
            )
        needed = _NEEDS.get(label)
        if needed and not body.get(needed):
            return self._error(400, f"Button {label} requires param {needed}")
        if body.get("mask") is not None and not _is_png_base64(body["mask"]):
            return self._error(400, "Param mask must be a base64 encoded PNG image")
        prompt = body.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2048):
            return self._error(400, "Param prompt must be a string of up to 2048 characters")
        done = next((c for c in parent.children if c["button"] == label), None)
        if ONE_SHOT.match(label) and done is not None:
            return self._error(409, f"Button {label} already executed", button=label, jobid=done["jobid"])
        assert parent.image is not None
        parent_image = parent.image

        def render(seed: str) -> bytes:
            return render_after(label, lambda: self._png(parent_image), parent.prompt, seed)()

        job = self._create(
            body,
            "button",
            prompt or parent.prompt,
            buttons_after(label),
            render,
            account=parent.account,
            parent=parent,
        )
        if isinstance(job, _Job):
            parent.children.append({"button": label, "jobid": job.jobid, "messageId": job.message_id})
        return self._started(job)

    async def _seed(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        parent = self._jobs.get(str(body.get("jobid") or ""))
        if parent is None:
            return self._error(404, f"Job {body.get('jobid')} not found")
        if parent.status != "completed" or parent.image is None:
            return self._error(
                400, f"Job {parent.jobid} status is {parent.status}, seed requires completed job"
            )
        job = self._create(body, "seed_async", parent.prompt, [], None, account=parent.account, parent=parent)
        if isinstance(job, _Job):
            job.image, job.seed = parent.image, self._rng.randrange(1, 4294967295)
        return self._started(job)

    async def _info(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        account = self._choose(body, None)
        if isinstance(account, web.Response):
            return account
        self._counter += 1
        job = _Job(
            jobid=f"j{self._counter:04d}{self._new_id(12)}-u{USER_ID}-c{account.channel}-bot:midjourney",
            verb="info",
            prompt="",
            account=account,
            max_jobs=account.max_jobs,
            reply_url=None,
            reply_ref=None,
            created=iso_now(),
            status="completed",
            content=(
                f"**User ID**: {USER_ID}\n**Subscription**: Pro (Active monthly)\n"
                "**Visibility Mode**: Stealth\n**Fast Time Remaining**: 14.5/30.0 hours (48.33%)\n"
                f"**Queued Jobs (fast)**: {len(self.executing(account.channel))}"
            ),
        )
        self._jobs[job.jobid] = job
        return web.json_response(job.to_json())

    async def _cancel(self, request: web.Request) -> web.Response:
        jobid = request.query.get("jobid")
        if not jobid:
            return self._error(400, "Required query param jobid is missing")
        job = self._jobs.get(jobid)
        if job is None:
            return self._error(404, f"Job {jobid} not found")
        if job.status not in _EXECUTING:
            return self._error(
                400, f"Job {jobid} status is {job.status}, only executing jobs can be cancelled"
            )
        job.status, job.updated = "cancelled", iso_now()
        if self.reply_before_cancel_answer:
            await self._reply(job)
        else:
            self._spawn(self._reply(job))
        return web.json_response({"jobid": jobid, "status": "cancelled", "code": 200})

    async def _get_job(self, request: web.Request) -> web.Response:
        jobid = request.query.get("jobid")
        if not jobid:
            return self._error(400, "Required query param jobid is missing")
        job = self._jobs.get(jobid)
        if job is None:
            return self._error(404, f"Job {jobid} not found")
        return web.json_response(job.to_json())

    # --- job machinery ------------------------------------------------------------------------

    def _choose(self, body: dict[str, Any], max_jobs: int | None) -> FakeAccount | web.Response:
        """The account a new job runs on, or the 400/429/596 answer when there is none."""
        channel = body.get("channel")
        if channel:
            if channel not in self.accounts:
                return self._error(400, f"Configuration for channel {channel} not found")
            candidates = [self.accounts[channel]]
        else:
            candidates = list(self.accounts.values())
            if not candidates:
                return self._error(400, "No Midjourney accounts configured")
        healthy = [a for a in candidates if not a.pending_mod_message]
        if not healthy:
            held = candidates[0]
            return self._error(
                596,
                f"Account {held.channel} has pending moderation message",
                pendingModMessage=held.pending_mod_message,
            )
        free = [a for a in healthy if len(self.executing(a.channel)) < (max_jobs or a.max_jobs)]
        if not free:
            running = [jobid for a in healthy for jobid in self.executing(a.channel)]
            return self._error(429, f"Account busy executing {len(running)} jobs", executingJobs=running)
        return self._rng.choice(free)

    def _started(self, job: _Job | web.Response) -> web.Response:
        return web.json_response(job.to_json()) if isinstance(job, _Job) else job

    def _create(
        self,
        body: dict[str, Any],
        verb: str,
        prompt: str,
        result_buttons: list[str],
        render: Callable[[str], bytes] | None,
        *,
        account: FakeAccount | None = None,
        parent: _Job | None = None,
    ) -> _Job | web.Response:
        """A started job (its run spawned), or the error answer that refused it. ``render(seed)``
        draws the result; None for text-only results."""
        max_jobs = body.get("maxJobs")
        if max_jobs is not None and (not isinstance(max_jobs, int) or not 1 <= max_jobs <= 15):
            return self._error(400, f"maxJobs {max_jobs} must be 1 to 15")
        if account is None:
            chosen = self._choose(body, max_jobs)
            if isinstance(chosen, web.Response):
                return chosen
            account = chosen
        else:
            # Button jobs run on the parent's account, with the same 596/429 checks.
            chosen = self._choose({"channel": account.channel}, max_jobs)
            if isinstance(chosen, web.Response):
                return chosen
        self._counter += 1
        job = _Job(
            jobid=f"j{self._counter:04d}{self._new_id(12)}-u{USER_ID}-c{account.channel}-bot:midjourney",
            verb=verb,
            prompt=prompt,
            account=account,
            max_jobs=max_jobs or account.max_jobs,
            reply_url=body.get("replyUrl") or None,
            reply_ref=body.get("replyRef") or None,
            created=iso_now(),
            result_buttons=result_buttons,
        )
        if parent is not None:
            job.parent_job_id, job.button = parent.jobid, body.get("button")
        banned = self._banned_word(prompt) if verb == "imagine" else None
        if banned:
            job.status, job.error = "moderated", f"Midjourney moderated the prompt ({banned})"
            self._jobs[job.jobid] = job
            return self._error(422, job.error, jobid=job.jobid, status="moderated")
        if render is not None:
            job.image = job.jobid
            self._add_image(job.jobid, functools.partial(render, job.jobid))
        # The real call returns once Discord has posted the message: the job has started.
        job.status, job.message_id = "started", str(1300000000000000000 + self._counter)
        job.content = self._content(job, "(Waiting to start)")
        self._jobs[job.jobid] = job
        self._spawn(self._run(job))
        return job

    def _content(self, job: _Job, state: str) -> str:
        return f"**{job.prompt}** - <@{USER_ID}> {state}".strip()

    async def _run(self, job: _Job) -> None:
        failure, stuck = self.faults._pop_failure(), self.faults._take_stuck()
        await self._reply(job)
        async for percent in self._percents():
            if failure is not None or job.status == "cancelled":
                break
            job.status, job.updated = "progress", iso_now()
            job.content = self._content(job, f"({percent}%) (fast)")
            if job.image is not None:
                job.attachments = [self._attachment(job.image, percent)]
            await self._reply(job)
            if stuck:
                await self.wait_until(lambda: job.status == "cancelled")  # holds its slot till then
        if job.status == "cancelled":
            return
        job.updated = iso_now()
        if failure is not None:
            job.status, job.error, job.attachments = "failed", failure, []
        else:
            job.status, job.buttons = "completed", job.result_buttons
            if job.seed is not None and job.image is not None:  # seed_async: the four upscales
                job.content = self._content(job, f"seed {job.seed}")
                job.attachments = [self._attachment(job.image, None) for _ in range(4)]
            elif job.image is not None:
                job.content = self._content(job, "(fast)")
                job.attachments = [self._attachment(job.image, None)]
            else:  # describe: the four prompts are the message
                job.content = "\n\n".join(f"{n}️⃣ a sandbox test card, style {n}" for n in range(1, 5))
        await self._reply(job)

    def _attachment(self, name: str, progress: int | None) -> dict[str, Any]:
        png = self._png(name)
        width, height = images.image_size(png)
        return {
            "id": str(1400000000000000000 + len(self._pngs)),
            "filename": f"{name[:24]}.png",
            "content_type": "image/png",
            "url": self.image_url(name, progress),
            "proxy_url": self.image_url(name, progress),
            "size": len(png),
            "width": width,
            "height": height,
        }

    async def _reply(self, job: _Job) -> None:
        await self._changed_now()
        await self._deliver(job.reply_url, job.to_json())


def _is_png_base64(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return base64.b64decode(value, validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    except (binascii.Error, ValueError):
        return False
