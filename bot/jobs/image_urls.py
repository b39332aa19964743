"""The source URLs of a job's images, kept with the job for services that fetch images by URL.

Discord's attachment URLs are signed and expire: the ``ex`` query parameter is the expiry as hex
Unix seconds. A job that waits in the queue past it cannot hand the service a working link.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from bot.domain import Job

#: The job param holding the URLs, space-separated, in the order of the job's images.
PARAM = "image_urls"


def url_params(urls: Sequence[str]) -> dict[str, str]:
    """``urls`` as job params (none when there are none)."""
    return {PARAM: " ".join(urls)} if urls else {}


def job_urls(job: Job) -> list[str]:
    return job.params.get(PARAM, "").split()


def expires_at(url: str) -> float | None:
    """When a signed Discord CDN URL stops working (Unix seconds); None when it does not say."""
    values = parse_qs(urlsplit(url).query).get("ex")
    try:
        return float(int(values[0], 16)) if values else None
    except ValueError:
        return None


def expired(urls: Sequence[str], now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return any((at := expires_at(url)) is not None and at <= now for url in urls)
