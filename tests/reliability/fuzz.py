"""Property-based fuzzing (hypothesis) of everything a member or the network can send the bot.

Each ``fuzz_*`` coroutine runs ``examples`` generated inputs against the real code (store, engine,
web server, attachment checks) and returns how many it ran; the tests run few, `bench/faults.py`
many. Hypothesis drives a sync function in a worker thread; each example's async part runs on the
test's event loop (``_on_loop``), where the engine and the aiohttp server live.
"""

from __future__ import annotations

import asyncio
import io
import json
import string
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import discord
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.config import JobSettings
from bot.discord_side.attachments import read_image
from bot.discord_side.render import job_content
from bot.domain import BackendKind, Job, JobKind, JobStatus, UserPrefs
from bot.jobs import mj_settings
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.engine import JobEngine
from bot.jobs.rules import MemberRate
from bot.store import Store
from bot.web import WebServer

T = TypeVar("T")
GUILD, CHANNEL, OWNER = 1, 2, 3

#: Text with what members paste: mentions, markdown, emoji, RTL marks, control characters, flags.
_PIECES = st.sampled_from(
    ["@everyone", "@here", "<@&123>", "<@456>", "**", "`", "||", "\u202e", "\u200b", "🦊", "\x00", "\x1b[31m",
     "--ar 0:0", "--ar 16:9", "--v abc", "--q 99", "--no", "--seed -1", "--stylize 1e9", "::", "\n", " "]
)  # fmt: skip
PROMPTS = st.lists(st.one_of(st.text(max_size=40), _PIECES), max_size=30).map("".join) | st.text(
    min_size=3990, max_size=4100, alphabet=string.ascii_letters + " @"
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=6),
    max_leaves=20,
)


class _Observer:
    def __init__(self) -> None:
        self.seen: list[Job] = []

    def job_changed(self, job: Job) -> None:
        self.seen.append(job)


async def make_engine(tmp: Path) -> tuple[JobEngine, Store, httpx.AsyncClient]:
    """A real engine and store with one midjourney-proxy account; nothing is dispatched."""
    store = await Store.open(tmp / "fuzz.sqlite3")
    account_id = await store.upsert_config_account(
        guild_id=GUILD, name="fuzz", kind=BackendKind.MJ_PROXY, base_url="http://127.0.0.1:9",
        max_jobs=3, channel_id=None, options={},
    )  # fmt: skip
    http = httpx.AsyncClient()
    engine = JobEngine(store, AccountPool(http), _Observer(), JobSettings(), {account_id: ""})
    await engine.setup.reload_accounts()
    engine.member_rate = MemberRate(burst=1_000_000, every=0.0001)

    async def no_dispatch(guild_id: int) -> None:
        """Fuzzing checks what is accepted and stored; no backend is behind the account."""

    engine.dispatch.dispatch = no_dispatch  # type: ignore[method-assign]
    return engine, store, http


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)


async def _run(examples: int, body: Callable[..., None], *strategies: st.SearchStrategy[Any]) -> int:
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.tuples(*strategies))
    def prop(values: tuple[Any, ...]) -> None:
        nonlocal count
        count += 1
        body(*values)

    await asyncio.to_thread(prop)
    return count


async def fuzz_prompts(tmp: Path, examples: int) -> int:
    """Any prompt: a clear refusal (UserError) or a stored job whose message Discord accepts."""
    engine, store, http = await make_engine(tmp)
    loop = asyncio.get_running_loop()

    def check(prompt: str, prefs_suffix: str) -> None:
        try:
            job = _on_loop(loop, engine.submit(
                JobKind.IMAGINE, guild_id=GUILD, channel_id=CHANNEL, owner_id=OWNER, prompt=prompt
            ))  # fmt: skip
        except UserError as exc:
            refusal = str(exc)
            assert refusal.endswith("."), refusal
            return
        assert job.prompt == prompt.strip() and job.status is JobStatus.QUEUED
        content = job_content(job)
        assert len(content) <= 2000
        assert "@everyone" not in content and "@here" not in content  # escaped, never a ping
        mj_settings.apply(job.prompt, UserPrefs(suffix=prefs_suffix[:200], version="6.1", quality="2"))
        # The job is stored, not lost: cancel it so the member's concurrency limit never fills up.
        _on_loop(loop, engine.cancel(job.id))

    try:
        return await _run(examples, check, PROMPTS, st.text(max_size=60))
    finally:
        await http.aclose()
        await store.close()


class _Attachment:
    """What `read_image` uses of a discord.Attachment: its name, its claimed size, its bytes."""

    def __init__(self, data: bytes, claimed: int | None = None) -> None:
        self.filename = "upload.png"  # the name (and content type) lie as often as they like
        self.size = len(data) if claimed is None else claimed
        self._data = data

    async def read(self) -> bytes:
        return self._data


def _image(fmt: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, format=fmt)
    return out.getvalue()


def _bomb() -> bytes:
    """A PNG that claims 100 000 x 100 000 pixels (a decompression bomb's header)."""
    png = bytearray(_image("PNG", (8, 8)))
    png[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR width, height (CRC left wrong on purpose)
    return bytes(png)


GOOD = [_image("PNG", (16, 16)), _image("JPEG", (16, 16)), _image("WEBP", (16, 16)), _image("GIF", (16, 16))]
BAD = [_image("BMP", (16, 16)), _image("TIFF", (16, 16)), _bomb(), b"", b"GIF89a", b"\x89PNG\r\n\x1a\n"]
ATTACHMENTS = st.one_of(
    st.sampled_from(GOOD + BAD),
    st.binary(max_size=2048),
    # Real images cut short or with bytes flipped: corrupt files.
    st.tuples(st.sampled_from(GOOD), st.integers(0, 400)).map(lambda t: t[0][: t[1]]),
    st.tuples(st.sampled_from(GOOD), st.integers(0, 300), st.integers(0, 255)).map(
        lambda t: t[0][: t[1]] + bytes([t[2]]) + t[0][t[1] + 1 :]
    ),
)


async def fuzz_attachments(examples: int) -> int:
    """Any bytes as an image prompt: the bytes back (a real, sane image) or one clear sentence."""
    loop = asyncio.get_running_loop()

    def check(data: bytes, huge: bool) -> None:
        attachment = cast(discord.Attachment, _Attachment(data, 9 * 1024 * 1024 if huge else None))
        try:
            accepted = _on_loop(loop, read_image(attachment))
        except UserError as exc:
            refusal = str(exc)
            assert refusal.startswith("upload.png "), refusal
            return
        assert accepted == data

    return await _run(examples, check, ATTACHMENTS, st.booleans())


async def fuzz_webhooks(tmp: Path, examples: int) -> int:
    """Any body, secret or job id on /hooks: a 4xx or 200 (never a 5xx), and a finished job stays
    finished with its result; a replayed or reordered push changes nothing."""
    engine, store, http = await make_engine(tmp)
    loop = asyncio.get_running_loop()
    job = await store.create_job(
        guild_id=GUILD, channel_id=CHANNEL, owner_id=OWNER, kind=JobKind.IMAGINE, prompt="p",
        hook_secret="right-secret", deadline=1e12,
    )  # fmt: skip
    done = {"id": "42", "status": "SUCCESS", "progress": "100%", "imageUrl": "http://127.0.0.1:9/x.png",
            "buttons": [{"customId": "MJ::JOB::upsample::1::h", "label": "U1"}]}  # fmt: skip
    running = {"id": "42", "status": "IN_PROGRESS", "progress": "50%"}
    await store.update_job(job.id, account_id=1, backend_task_id="42", status=JobStatus.SUBMITTED)
    web = WebServer(engine, "127.0.0.1", 0, None)
    await web.start()
    url = web.public_url

    async def post(path: str, content: bytes) -> int:
        response = await http.post(
            f"{url}{path}", content=content, headers={"content-type": "application/json"}
        )
        return response.status_code

    assert await post(f"/hooks/{job.id}/right-secret", json.dumps(done).encode()) == 200
    finished = await store.get_job(job.id)
    assert finished is not None and finished.status is JobStatus.SUCCESS

    def check(job_id: str, secret: str, body: bytes) -> None:
        status = _on_loop(loop, post(f"/hooks/{job_id}/{secret}", body))
        assert status < 500, (job_id, secret, body[:100])
        if secret != "right-secret" or job_id != str(job.id):
            assert status in (400, 404, 405, 413)
        after = _on_loop(loop, store.get_job(job.id))
        assert after is not None and after.status is JobStatus.SUCCESS and after.buttons == finished.buttons

    bodies = st.one_of(
        JSONISH.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=300),
        st.sampled_from([json.dumps(running).encode(), json.dumps(done).encode(), b"x" * (300 * 1024)]),
    )
    job_ids = st.sampled_from([str(job.id), "0", "99999999999999999999999", "-1", "1e3"]) | st.text(
        string.digits, min_size=1, max_size=25
    )
    secrets = st.sampled_from(["right-secret", "right-secreT", "", "right-secret/../x"]) | st.text(
        string.ascii_letters + "-_", min_size=1, max_size=30
    )
    try:
        return await _run(examples, check, job_ids, secrets, bodies)
    finally:
        await web.stop()
        await http.aclose()
        await store.close()


async def fuzz_custom_ids(tmp: Path, examples: int) -> int:
    """Forged or stale button ids: a known job id or None from the lookup, never an exception."""
    from cogs.buttons import ResultButtonItem

    engine, store, http = await make_engine(tmp)
    loop = asyncio.get_running_loop()
    template = ResultButtonItem.__discord_ui_compiled_template__

    def check(custom_id: str) -> None:
        match = template.fullmatch(custom_id)
        if match is None:
            return  # not ours: discord.py passes it to nobody
        _on_loop(loop, engine.get(int(match["job"])))
        assert int(match["idx"]) < 1000

    ids = st.from_regex(r"mjb:r:[0-9]{1,25}:[0-9]{1,6}", fullmatch=True) | st.text(max_size=100)
    try:
        return await _run(examples, check, ids)
    finally:
        await http.aclose()
        await store.close()


FUZZERS: dict[str, Callable[[Path, int], Awaitable[int]]] = {
    "prompts": fuzz_prompts,
    "attachments": lambda _tmp, n: fuzz_attachments(n),
    "webhook bodies, secrets, job ids": fuzz_webhooks,
    "button custom_ids": fuzz_custom_ids,
}
