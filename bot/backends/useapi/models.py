"""useapi.net's wire shapes: the job calls, the job object its answers and replies carry, its
error body, and the Midjourney accounts configured there."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from bot.backends._wire import CamelWire, null_is_default
from bot.domain import Dimensions

BlendDimensions = Literal["Portrait", "Square", "Landscape"]
BLEND_DIMENSIONS: dict[Dimensions, BlendDimensions] = {
    "PORTRAIT": "Portrait",
    "SQUARE": "Square",
    "LANDSCAPE": "Landscape",
}


class _Wire(CamelWire):
    _null_is_empty = null_is_default("buttons", "children", "attachments")


class JobRequest(_Wire):
    """Fields every job call takes. ``None`` fields are left out (useapi's defaults apply)."""

    max_jobs: int | None = None
    reply_url: str | None = None
    reply_ref: str | None = None


class PinnedJobRequest(JobRequest):
    """New jobs may name the Midjourney account; button jobs run on their parent's account."""

    channel: str | None = None
    server: str | None = None


class ImagineRequest(PinnedJobRequest):
    prompt: str


class ButtonRequest(JobRequest):
    jobid: str
    button: str
    prompt: str | None = None
    mask: str | None = None


class SeedRequest(JobRequest):
    jobid: str


class BlendRequest(PinnedJobRequest):
    blend_urls: list[str]
    blend_dimensions: BlendDimensions | None = None


class DescribeRequest(PinnedJobRequest):
    describe_url: str


class Attachment(_Wire):
    url: str
    filename: str = ""
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


class JobChild(_Wire):
    button: str = ""
    jobid: str = ""


class Seed(_Wire):
    content: str = ""
    value: str | int | None = None


class UseApiJob(_Wire):
    """The job object: what ``GET /jobs/?jobid=``, most POSTs and every reply carry."""

    jobid: str
    verb: str | None = None
    status: str
    prompt: str | None = None
    parent_job_id: str | None = None
    button: str | None = None
    channel: str | None = None
    reply_ref: str | None = None
    content: str | None = None
    buttons: list[str] = Field(default_factory=list)
    children: list[JobChild] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    error: str | None = None
    error_details: str | None = None
    code: int | None = None
    #: seed_async only: the seed of the parent job, once completed.
    seed: Seed | None = None


class UseApiErrorBody(_Wire):
    error: str = ""
    code: int | None = None
    #: 429 only: the jobs holding the account's slots (absent when Discord throttled instead).
    executing_jobs: list[str] | None = None
    jobid: str | None = None
    status: str | None = None
    button: str | None = None


class MidjourneyAccount(_Wire):
    """One Midjourney account configured at useapi (``GET /v2/account/midjourney``,
    docs/backends/useapi.md)."""

    channel: str
    server: str = ""
    #: useapi returns the account's Discord token; kept out of reprs, logs and error text.
    discord: SecretStr = Field(default=SecretStr(""), repr=False)
    max_jobs: int | None = None
    #: Set while Midjourney holds the account for moderation or a CAPTCHA (jobs then get 596).
    pending_mod_message: str | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.pending_mod_message)
