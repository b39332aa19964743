"""The domain model shared by every layer: jobs, their statuses, result buttons, accounts, errors.

Nothing here imports discord or httpx. Backends map their API onto these shapes; the engine stores
and moves them; cogs render them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.i18n import Msg, tr


class BackendKind(StrEnum):
    MJ_PROXY = "mj_proxy"
    NEXTLEG = "nextleg"
    USEAPI = "useapi"
    AIMG = "aimg"


#: The aspect ratios /blend offers (midjourney-proxy's names).
Dimensions = Literal["PORTRAIT", "SQUARE", "LANDSCAPE"]


class JobStatus(StrEnum):
    """Where a job is. QUEUED is ours (waiting for a free account); the rest mirror the backend."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    MODAL = "modal"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED)

    @property
    def running(self) -> bool:
        """The backend has the task and runs it: moving between running statuses is progress,
        not a change of the job's fate (see Store.note_progress)."""
        return self in (JobStatus.SUBMITTED, JobStatus.IN_PROGRESS)

    @property
    def rank(self) -> int:
        """Order used to drop stale updates (webhooks may arrive late or out of order)."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    JobStatus.QUEUED: 0,
    JobStatus.SUBMITTED: 1,
    JobStatus.MODAL: 1,
    JobStatus.IN_PROGRESS: 2,
    JobStatus.SUCCESS: 3,
    JobStatus.FAILURE: 3,
    JobStatus.CANCELLED: 3,
}


class JobKind(StrEnum):
    IMAGINE = "imagine"
    UPSCALE = "upscale"
    VARIATION = "variation"
    REROLL = "reroll"
    ZOOM = "zoom"
    PAN = "pan"
    BLEND = "blend"
    DESCRIBE = "describe"
    SHORTEN = "shorten"
    #: A generation with explicit parameters (model, size, steps…) on an AIMG account.
    GENERATE = "generate"
    #: Any other backend button (passed through by its custom id).
    ACTION = "action"


class ButtonStyle(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"
    DANGER = "danger"


class ResultButton(BaseModel):
    """One button a finished job offers, as the backend describes it.

    ``custom_id`` is the backend's own identifier (e.g. ``MJ::JOB::upsample::2::<hash>``). It is
    kept in the store; the Discord component only carries the job id and the button's index.
    """

    custom_id: str
    label: str = ""
    emoji: str = ""
    style: ButtonStyle = ButtonStyle.SECONDARY
    kind: JobKind = JobKind.ACTION
    #: The row the backend put the button on (0-based), when it says so.
    row: int | None = None

    @property
    def is_vary_region(self) -> bool:
        """Vary (Region): it needs a mask (midjourney-proxy's id, or the label hosted APIs use)."""
        return self.custom_id.startswith("MJ::Inpaint::") or self.custom_id == "Vary (Region)"

    @property
    def is_custom_zoom(self) -> bool:
        """Custom Zoom: it needs a prompt with ``--zoom``."""
        return self.custom_id.startswith("MJ::CustomZoom::") or self.custom_id == "Custom Zoom"


class ErrorKind(StrEnum):
    AUTH = "auth"
    QUOTA = "quota"
    QUEUE_FULL = "queue_full"
    BANNED_PROMPT = "banned_prompt"
    MODERATION = "moderation"
    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    #: The backend's client raised something other than a BackendError (an answer it could not
    #: read, or its own bug): the job is failed, never retried.
    UNEXPECTED = "unexpected"
    #: The service cannot do what was asked (a capability it lacks): not the member's mistake.
    UNSUPPORTED = "unsupported"
    #: The job's uploaded images can no longer be fetched: Discord's signed links to them expired
    #: while the job waited (services that take images by URL).
    LINKS_EXPIRED = "links_expired"


#: What a member reads for each kind of failure: what happened, and what to do.
ERROR_SENTENCES: dict[ErrorKind, Msg] = {
    ErrorKind.AUTH: tr("The image service refused the bot's credentials. Ask a server admin to check it."),
    ErrorKind.QUOTA: tr("The image service account is out of credits or hours. Ask an admin, or try later."),
    ErrorKind.QUEUE_FULL: tr("The image service is busy right now. Try again in a minute."),
    ErrorKind.BANNED_PROMPT: tr("The image service refused this prompt. Rephrase it and try again."),
    ErrorKind.MODERATION: tr("The image service is holding this account for moderation. Ask a server admin."),
    ErrorKind.NOT_FOUND: tr("The image service no longer knows this job. Start a new one with /imagine."),
    ErrorKind.INVALID_INPUT: tr("The image service rejected the request. Check the prompt and images."),
    ErrorKind.UNAVAILABLE: tr("The image service is unreachable right now. Try again in a few minutes."),
    ErrorKind.TIMEOUT: tr("The job took too long and was stopped. Try again."),
    ErrorKind.LINKS_EXPIRED: tr(
        "Discord's links to your images expired while the job waited. "
        "Run the command again and upload the images again."
    ),
    ErrorKind.UNEXPECTED: tr(
        "The bot could not use the image service's answer, so it stopped the job. "
        "Try again; if it keeps happening, tell a server admin."
    ),
    ErrorKind.UNSUPPORTED: tr(
        "This channel's image service can't do that. Use another command, or ask a server admin."
    ),
}


class BackendError(Exception):
    """Every backend failure, in one shape: a kind plus the backend's own words."""

    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail

    @property
    def user_message(self) -> Msg:
        sentence = ERROR_SENTENCES[self.kind]
        if self.detail:
            # The service's own words are shown as it said them; the bot's own sentence about the
            # service (a Msg) in the reader's language.
            detail = self.detail if isinstance(self.detail, Msg) else self.detail[:300]
            return tr("{sentence} (Service said: {detail})", sentence=sentence, detail=detail)
        return sentence


class SubmitResult(BaseModel):
    """What a backend answered to a submit."""

    task_id: str
    #: Jobs ahead of this one in the backend's own queue, when it said so.
    queue_position: int | None = None
    #: The backend wants more input (a modal) before it starts the task.
    needs_modal: bool = False
    final_prompt: str | None = None
    #: The backend did what was asked without a task of its own: an action answered with the
    #: id of the task it was pressed on (midjourney-proxy's ❤️ bookmark). The job is done at once.
    no_task: bool = False
    #: The task named is one the backend already had ("already exists", e.g. the same upscale
    #: asked twice): another job may follow it already.
    existing: bool = False


class TaskSnapshot(BaseModel):
    """A backend task as last seen, by fetch or by webhook push."""

    task_id: str
    status: JobStatus
    #: 0–100, when the backend reports it.
    progress: int | None = None
    #: The preview while running, the result when done.
    image_url: str | None = None
    fail_reason: str | None = None
    #: Set when the failure maps onto one of our error kinds.
    error_kind: ErrorKind | None = None
    buttons: list[ResultButton] = Field(default_factory=list)
    prompt: str | None = None
    final_prompt: str | None = None
    #: Position in the backend's own queue while waiting there (1 = next), when it says so.
    queue_position: int | None = None
    #: How many wait in that queue, this one included, when the backend says so.
    queue_length: int | None = None
    #: Every image of a result that has several (a batch), ``image_url`` first.
    result_urls: list[str] = Field(default_factory=list)
    #: Prompt words the backend dropped (AIMG reports them).
    ignored_words: list[str] = Field(default_factory=list)
    #: "image" or "video".
    media_type: str = "image"
    #: A video's frames in order (the first one is its preview).
    frame_urls: list[str] = Field(default_factory=list)


class Account(BaseModel):
    """A backend account a guild's jobs can run on."""

    id: int
    guild_id: int
    name: str
    kind: BackendKind
    base_url: str
    secret: str = Field(default="", repr=False)
    max_jobs: int = Field(default=3, ge=1, le=15)
    #: Only answer in this channel, when set.
    channel_id: int | None = None
    enabled: bool = True
    #: "config" for accounts declared in the config file, "admin" for ones made by commands.
    source: str = "config"
    #: Why the account is out of rotation, when it is.
    quarantine_reason: str | None = None
    #: Backend-specific settings, e.g. ``{"flavour": "csharp"}`` for midjourney-proxy.
    options: dict[str, str] = Field(default_factory=dict)


#: ``Account.source`` of a member's own linked account: it runs that member's jobs only.
MEMBER_SOURCE = "member"


class ChannelConfig(BaseModel):
    """How the bot behaves in one channel."""

    enabled: bool = True
    #: Jobs started here go to accounts of this kind only (None: any).
    backend: BackendKind | None = None
    #: AIMG commands allowed here although the channel is not age-restricted.
    aimg_allowed: bool = False


class GuildLimits(BaseModel):
    #: Jobs one member may have waiting or running at once.
    user_concurrent: int = Field(default=10, ge=1, le=50)
    #: Jobs one member may start per day (UTC); None = no limit.
    user_daily: int | None = Field(default=None, ge=1, le=10_000)
    #: Jobs the guild's queue may hold before new ones are refused.
    queue_length: int = Field(default=50, ge=1, le=1000)
    #: Minutes a job may take before it fails; None = the bot's default.
    job_timeout_minutes: int | None = Field(default=None, ge=1, le=120)


class GuildConfig(BaseModel):
    """A guild's setup, stored as one JSON document (see ``guild_config``)."""

    #: False: the bot answers only in channels explicitly enabled.
    all_channels: bool = True
    channels: dict[int, ChannelConfig] = Field(default_factory=dict)
    limits: GuildLimits = Field(default_factory=GuildLimits)
    #: Words refused in prompts (whole words, case-insensitive).
    banned_words: list[str] = Field(default_factory=list)
    #: Regular expressions refused in prompts.
    banned_patterns: list[str] = Field(default_factory=list)
    #: True: anyone may click a job's result buttons, not only its owner.
    buttons_anyone: bool = False

    def channel(self, channel_id: int) -> ChannelConfig:
        found = self.channels.get(channel_id)
        if found is not None:
            return found
        return ChannelConfig(enabled=self.all_channels)


class AuditEntry(BaseModel):
    guild_id: int
    user_id: int
    action: str
    detail: str
    at: float


class UserPrefs(BaseModel):
    """A member's preferences in one guild."""

    #: Open a prompt editor before variations, re-rolls and pans (Midjourney's Remix mode).
    remix: bool = False
    #: Appended to every /imagine prompt (Midjourney's /prefer suffix).
    suffix: str = Field(default="", max_length=200)
    # The /settings panel (see bot/jobs/mj_settings.py); None = the backend's default.
    #: "6.1", "niji 5", "test", "testp"…
    version: str | None = None
    #: ".5", "1" or "2".
    quality: str | None = None
    #: "50", "100", "250" or "750".
    stylize: str | None = None
    #: True stealth, False public.
    stealth: bool | None = None
    #: "fast" or "relax".
    mode: str | None = None


class ServiceAccount(BaseModel):
    """A Midjourney account a hosted service drives behind one of the bot's accounts (a
    useapi.net channel), as /setup shows it."""

    name: str
    max_jobs: int | None = None
    #: The service's moderation or CAPTCHA message while it holds the account; None in rotation.
    hold: str | None = None


class SettingsState(BaseModel):
    """What the /settings panel shows: which toggles are on and the suffix they add."""

    #: Labels shown green.
    active: set[str] = Field(default_factory=set)
    #: What the settings add to each prompt, e.g. "--v 6 --q 2".
    suffix: str = ""
    #: Toggle labels the backend offers; empty = all of the panel's.
    available: list[str] = Field(default_factory=list)
    #: "backend" when the image service keeps these settings (shared by its account), "bot" otherwise.
    source: str = "bot"


class Reply(BaseModel):
    """The response message of the interaction that started a job, which becomes its message.

    Discord accepts the interaction's token for 15 minutes; until then, writes through it
    (``/webhooks/{application}/{token}/messages/…``) are outside the global rate budget and the
    channel edit limit, so what a member waits for never queues behind other jobs.
    """

    message_id: int
    token: str = Field(repr=False)
    #: Epoch seconds after which Discord refuses the token.
    expires: float


class AckedCommand(BaseModel):
    """A command acknowledged with its "thinking…" message whose job is not stored yet. Kept in
    the store so a restart can run it again into the same message, or tell the member it did not
    (docs/reliability.md)."""

    interaction_id: int
    application_id: int
    token: str = Field(repr=False)
    guild_id: int | None
    channel_id: int
    user_id: int
    #: Qualified name ("imagine").
    command: str
    #: The INTERACTION_CREATE payload as Discord sent it: options, and the attachments' URLs.
    payload: dict[str, Any] = Field(repr=False)
    message_id: int
    acked_at: float
    #: Epoch seconds after which Discord refuses the token.
    expires: float


class Job(BaseModel):
    """One generation job and the Discord message that shows it.

    Frozen: the store hands the same object to every reader until the job changes.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    guild_id: int
    channel_id: int
    owner_id: int
    kind: JobKind
    prompt: str
    status: JobStatus = JobStatus.QUEUED
    progress: int | None = None
    account_id: int | None = None
    backend_task_id: str | None = None
    parent_job_id: int | None = None
    #: The backend custom id that started this job, for button-started jobs.
    action_custom_id: str | None = None
    message_id: int | None = None
    image_url: str | None = None
    buttons: list[ResultButton] = Field(default_factory=list)
    error_kind: ErrorKind | None = None
    error_detail: str | None = None
    #: Secret part of the webhook URL the backend calls for this job.
    hook_secret: str = Field(default="", repr=False)
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Epoch seconds after which a running job is timed out.
    deadline: float = 0.0
    #: True once the final result has been posted to Discord (so a restart never posts it twice).
    result_posted: bool = False
    #: Kind-specific inputs: blend ``dimensions``, a ``prompt`` typed in a modal.
    params: dict[str, str] = Field(default_factory=dict)
    #: The text result of /describe and /shorten.
    result_text: str | None = None
    #: Position in the backend's queue while waiting there, and its length (see TaskSnapshot).
    queue_position: int | None = None
    queue_length: int | None = None
    #: Every image of a batch result, ``image_url`` first (empty: the result is ``image_url`` alone).
    result_urls: list[str] = Field(default_factory=list)
    #: Prompt words the backend ignored, shown under the result.
    ignored_words: list[str] = Field(default_factory=list)
    #: "image" or "video".
    media_type: str = "image"
    #: A still shown with a video result (its first frame).
    preview_url: str | None = None
    #: The interaction response that is this job's message, when an interaction made one.
    reply: Reply | None = None
