"""The fake midjourney-proxy as the benchmark needs it: durations with a spread, random failures.

Every grid here is one picture drawn once: drawing each with Pillow, as :class:`FakeMjProxy`
does, would make the fake the benchmark's bottleneck (docs/performance.md).

``python -m bench.backend '{"duration": 40, ...}'`` runs it as its own process (as a real proxy
is), prints its base URL, and serves ``GET /bench/report``: what :func:`report` says, for the
benchmark to measure with once the run is over. ``POST /bench/mark`` starts the report afresh
(after the benchmark's warm-up); ``GET /bench/progress`` gives its counts so far.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import signal
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox import images
from sandbox.fake_mj_proxy import _TERMINAL, FakeMjProxy, _Task

#: The reason a task failed on purpose (``--fault-rate``) gives.
INJECTED_FAILURE = "bench: injected backend failure"
#: The prompt prefix of the benchmark's warm-up jobs: they only open the bot's connections, so
#: they last WARM_UP_SECONDS and never fail, and the measured burst follows them at once.
WARM_UP = "warm-up"
WARM_UP_SECONDS = 1.0


@functools.cache
def _canned_grid() -> bytes:
    return images.render_grid("mjbot load benchmark", "bench")


class BenchProxy(FakeMjProxy):
    """Tasks last ``duration`` seconds ± ``spread`` (a fraction, uniformly drawn), in
    ``progress_steps`` evenly spaced progress updates; a share ``fault_rate`` of them fail at their
    first step. No account queue: every task runs at once, so the backend is never what limits the
    run. ``push=False`` never calls the notifyHook. ``progress_steps`` defaults to the six pushes
    of a real job (docs/backends/midjourney-proxy.md).
    """

    def __init__(
        self,
        *,
        duration: float,
        spread: float,
        fault_rate: float,
        push: bool,
        progress_steps: int = 6,
        seed: int = 0,
    ) -> None:
        super().__init__(
            step_seconds=duration / (progress_steps + 1),
            progress_steps=progress_steps,
            core_size=1_000_000,
            seed=seed,
        )
        self.duration = duration
        self.spread = spread
        self.fault_rate = fault_rate
        self.faults.drop_hooks = not push
        self._plan = random.Random(seed)
        # What report() leaves out: requests and deliveries before the mark, and its tasks.
        self._mark: tuple[int, int, frozenset[str]] = (0, 0, frozenset())

    def _grid_renderer(self, prompt: str, seed: str) -> Callable[[], bytes]:
        return _canned_grid

    async def _run(self, task: _Task, *, stuck: bool) -> None:
        steps = self.progress_steps
        duration = self.duration * (1 + self.spread * self._plan.uniform(-1.0, 1.0))
        if task.prompt.startswith(WARM_UP):
            duration = WARM_UP_SECONDS
        elif self._plan.random() < self.fault_rate:
            task.planned_failure = INJECTED_FAILURE
        pause = max(duration, 0.0) / (steps + 1)
        try:
            await self._publish(task)
            for step in range(1, steps + 1):
                await asyncio.sleep(pause)
                if task.status in _TERMINAL:
                    return
                if task.planned_failure is not None:
                    await self._finish(task, "FAILURE", fail_reason=task.planned_failure)
                    return
                percent = step * 100 // (steps + 1)
                task.status, task.progress = "IN_PROGRESS", f"{percent}%"
                task.start_time = task.start_time or task.submit_time
                if task.render is not None:
                    task.image_url = f"{self.base_url}/images/{task.id}.png?progress={percent}"
                await self._publish(task)
            await asyncio.sleep(pause)
            if task.status not in _TERMINAL:
                await self._succeed(task)
        finally:
            self._active -= 1

    def _build_app(self) -> web.Application:
        app = super()._build_app()
        app.router.add_get("/bench/report", self._report)
        app.router.add_post("/bench/mark", self._set_mark)
        app.router.add_get("/bench/progress", self._progress)
        return app

    async def _report(self, request: web.Request) -> web.Response:
        return web.json_response(self.report())

    async def _progress(self, request: web.Request) -> web.Response:
        """Counts since the mark, cheap enough to ask every half second during a run."""
        _, deliveries, marked = self._mark
        tasks = [t for t in self._tasks.values() if t.id not in marked]
        return web.json_response(
            {
                "submitted": len(tasks),
                "succeeded": sum(1 for t in tasks if t.status == "SUCCESS"),
                "pushes": sum(1 for d in self.hook_deliveries[deliveries:] if d.delivered),
            }
        )

    async def _set_mark(self, request: web.Request) -> web.Response:
        self._mark = (len(self.requests), len(self.hook_deliveries), frozenset(self._tasks))
        return web.Response(status=204)

    def report(self) -> dict[str, Any]:
        """Per task its submit and end times (Unix seconds; the end is None while it runs), the
        API requests by kind, the tasks ``list-by-condition`` returned, and the pushes delivered."""
        kinds = {"submit": 0, "list": 0, "fetch": 0, "other": 0}
        listed = 0
        requests, deliveries, tasks = self._mark
        for r in self.requests[requests:]:
            if r.path.startswith("/mj/submit/"):
                kinds["submit"] += 1
            elif r.path == "/mj/task/list-by-condition":
                kinds["list"] += 1
                listed += len(r.json.get("ids") or []) if isinstance(r.json, dict) else 0
            elif r.path.endswith("/fetch"):
                kinds["fetch"] += 1
            else:
                kinds["other"] += 1
        return {
            "tasks": {
                t.id: [t.submit_time / 1000, t.finish_time / 1000 if t.finish_time else None]
                for t in self._tasks.values()
                if t.id not in tasks
            },
            "requests": kinds,
            "listed": listed,
            "pushes": sum(1 for d in self.hook_deliveries[deliveries:] if d.delivered),
        }


async def _serve(knobs: dict[str, Any]) -> None:
    proxy = BenchProxy(**knobs)
    await proxy.start()
    print(proxy.base_url, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await proxy.stop()


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
