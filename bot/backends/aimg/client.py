"""Client for the AIMG back-end API (sexy.ai / freejourney.ai; seed 002).

What shapes this module, from the seed:

* every call carries ``X-Session-ID: <account.secret>`` (a UUID; the session *is* the credential);
* every answer is an envelope ``{payload, metadata?, hasError, errorMessage?, errorCode?}`` and
  errors usually come back as HTTP 200 with ``hasError: true``. The annex lists no errorCode table,
  only the HTTP statuses (400, 401, 403, 404, 408, 409, 429, 500, 503…), so ``errorCode`` is read
  as one of those; the message decides first when it names a cause (session, credits, NSFW…);
* there is no push: ``getItemStatus`` is polled. Its ``GenerationStatus`` has ``status`` (the seed
  does not list the values; :data:`_STATUSES` accepts the usual spellings), ``queuePosition``
  while queued, ``ignoredWords`` and, for videos, ``frames``. It has no progress field; a numeric
  ``progress`` is used when a server sends one (the sandbox fake does), and is optional;
* a finished item's generation parameters come back from ``getItemDetails`` (ImageInfo: prompt,
  seed, subseed, modelID, steps…), which is how re-roll and variation rebuild the request.

Result buttons carry our own custom ids, ``aimg:<verb>``: ``reroll`` and ``variation`` start a
new generation (:meth:`AimgBackend.action`); ``like``, ``dislike``, ``delete`` and ``report`` act on
the item and start nothing (:meth:`AimgBackend.item_action`). 👍 and 👎 toggle: :func:`vote_verb`
turns a second press into ``unlike`` / ``undislike``.

Workflow templates (API2) run as generations too: a job whose parameters name a
``workflow_template_name`` is enqueued with ``2/enqueueWorkflow``, and its first item is then polled
with ``getItemStatus`` like any other (the seed says both status calls are interchangeable).

Signing an account in (the OTP flow) needs no special client: with an empty ``secret``,
:meth:`AimgBackend.get_self_user` returns a fresh anonymous session id; a backend built with that id
as the secret then calls :meth:`~AimgBackend.request_otp` and :meth:`~AimgBackend.authenticate_user`,
after which that same session id is the account's secret.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from bot.backends._http import scrub
from bot.backends.base import AccountOption, Capability
from bot.domain import (
    Account,
    BackendError,
    ButtonStyle,
    ErrorKind,
    JobKind,
    JobStatus,
    ResultButton,
    SubmitResult,
    TaskSnapshot,
)

log = logging.getLogger(__name__)

#: The seed's default ``modelName`` for generateImage and generateVideo.
DEFAULT_IMAGE_MODEL = "f222"
DEFAULT_VIDEO_MODEL = "model3"
#: generateImage's documented defaults, used when a model's own range allows them.
DEFAULT_STEPS = 20
DEFAULT_CFG_SCALE = 7.0
#: The global cfgscale range generateImage accepts, whatever the model says.
CFG_SCALE_RANGE = (1.0, 12.0)
#: How far a variation strays from its parent when the parent was not a variation itself.
VARIATION_STRENGTH = 0.3
MODELS_TTL_SECONDS = 600.0
#: Seeds are drawn from the usual Stable Diffusion range.
_SEED_LIMIT = 2**32
#: reportItems' category when none is given (the seed's default).
DEFAULT_REPORT_QUEUE = "Not Specified"
#: The job parameter that makes a generation a workflow run: the template's name.
WORKFLOW_PARAM = "workflow_template_name"
#: enqueueWorkflow's explicit body fields and the template parameter each one stands for (the
#: seed: "Corresponds to passing the Positive Prompt parameter"…). A template that lacks the
#: parameter does not take the field.
WORKFLOW_FIELDS: dict[str, str] = {
    "prompt": "Positive Prompt",
    "negprompt": "Negative Prompt",
    "seed": "Seed",
    "subseed": "Subseed",
    "subseed_strength": "Subseed Strength",
    "steps": "Steps",
    "cfgscale": "CFG Scale",
    "modelName": "Model",
    "height": "Height",
    "width": "Width",
    "batchSize": "Batch Size",
}

MediaType = Literal["image", "video"]
_M = TypeVar("_M", bound=BaseModel)
Verb = Literal["reroll", "variation", "like", "unlike", "dislike", "undislike", "delete", "report"]
#: A member's standing vote on an item.
Vote = Literal["like", "dislike"]
_VERB_PREFIX = "aimg:"
GENERATION_VERBS: frozenset[str] = frozenset({"reroll", "variation"})
ITEM_VERBS: frozenset[str] = frozenset({"like", "unlike", "dislike", "undislike", "delete", "report"})

# --------------------------------------------------------------------------------------------
# Wire shapes (field aliases are the seed's spelling, which mixes camelCase, ID and snake_case)
# --------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class _Envelope(_Wire):
    payload: Any = None
    metadata: dict[str, Any] | None = None
    has_error: bool = Field(default=False, alias="hasError")
    error_message: str | None = Field(default=None, alias="errorMessage")
    error_code: int | str | None = Field(default=None, alias="errorCode")


class AimgParams(_Wire):
    """The body of ``POST /generateImage``. ``None`` leaves a field to the server's default."""

    prompt: str
    negprompt: str | None = None
    model_name: str | None = Field(default=None, alias="modelName")
    steps: int | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    width: int | None = None
    height: int | None = None
    sampler: str | None = None
    cfgscale: float | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgVideoParams(_Wire):
    """The body of ``POST /generateVideo``. The seed leaves ``input`` and ``controlNetPreset`` unexplained."""

    prompt: str
    model_name: str | None = Field(default=None, alias="modelName")
    steps: int | None = None
    seed: int | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    input: str | None = None
    control_net_preset: str | None = Field(default=None, alias="controlNetPreset")
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgThumbnail(_Wire):
    image_id: str = Field(alias="imageID")
    url: str


class AimgModel(_Wire):
    """A Model object. Fields the seed marks mandatory are required, except the cosmetic lists."""

    model_id: str = Field(alias="modelID")
    name: str
    description: str = ""
    #: StaticImage, AnimatedImage, Video, Text, Music, Other or Unknown.
    media_type: str = Field(alias="mediaType")
    min_tier: int = Field(alias="minTier")
    tier0_concurrent: int = Field(alias="tier0Concurrent")
    tier1_concurrent: int = Field(alias="tier1Concurrent")
    tier2_concurrent: int = Field(alias="tier2Concurrent")
    positive_tokens: list[str] = Field(default_factory=list, alias="positiveTokens")
    negative_tokens: list[str] = Field(default_factory=list, alias="negativeTokens")
    sample_images: list[AimgThumbnail] = Field(default_factory=list, alias="sampleImages")
    min_steps: int = Field(alias="minSteps")
    max_steps: int = Field(alias="maxSteps")
    allowed_widths: list[int] = Field(alias="allowedWidths")
    allowed_heights: list[int] = Field(alias="allowedHeights")
    #: Most pixels (width * height) an item may have.
    max_resolution: int = Field(alias="maxResolution")
    #: ``[width, height]``.
    default_resolution: list[int] = Field(alias="defaultResolution")
    allowed_samplers: list[str] = Field(alias="allowedSamplers")
    default_sampler: str = Field(alias="defaultSampler")
    min_cfg_scale: float = Field(alias="minCfgScale")
    max_cfg_scale: float = Field(alias="maxCfgScale")
    supports_variations: bool = Field(alias="supportsVariations")
    registration_wall: bool = Field(alias="registrationWall")
    default_face_fix: bool = Field(alias="defaultFaceFix")
    wiki_url: str | None = Field(default=None, alias="wikiURL")

    @property
    def is_video(self) -> bool:
        return self.media_type == "Video"


class AimgFrame(_Wire):
    frame_count: int = Field(alias="frameCount")
    frame_number: int = Field(alias="frameNumber")
    frame_url: str = Field(alias="frameUrl")


class AimgStatus(_Wire):
    """A GenerationStatus object (what generateImage, generateVideo and getItemStatus answer)."""

    image_id: str = Field(alias="imageID")
    folder_id: str | None = Field(default=None, alias="folderID")
    status: str = ""
    ignored_words: list[str] = Field(default_factory=list, alias="ignoredWords")
    mtype: str = "image"
    url: str | None = None
    queue_position: int | None = Field(default=None, alias="queuePosition")
    frames: list[AimgFrame] = Field(default_factory=list)
    #: Not in the seed: used when a server sends it, as 0-100 or as a 0-1 fraction.
    progress: float | None = None

    @field_validator("ignored_words", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        # The seed types it as a string holding "the list of words"; accept a real list too.
        if value is None:
            return []
        if isinstance(value, str):
            return [word for word in re.split(r"[,\s]+", value) if word]
        return value


class AimgItem(_Wire):
    """An Image object (getItem, getMyCreations)."""

    id: str
    url: str = ""
    mtype: str = "image"
    media_type: str | None = Field(default=None, alias="mediaType")
    user_id: str | None = Field(default=None, alias="userID")
    batch_id: str | None = Field(default=None, alias="batchID")
    completed_date: int | None = Field(default=None, alias="completedDate")
    like_count: int = Field(default=0, alias="likeCount")
    dislike_count: int = Field(default=0, alias="dislikeCount")
    is_liked: bool = Field(default=False, alias="isLiked")
    is_disliked: bool = Field(default=False, alias="isDisliked")
    is_public: bool = Field(default=False, alias="isPublic")
    folder_id: str | None = Field(default=None, alias="folderID")
    tags: list[str] = Field(default_factory=list)


class AimgItemDetails(AimgItem):
    """An ImageInfo object (getItemDetails): the item plus the parameters that made it."""

    prompt: str = ""
    negprompt: str | None = None
    model_id: str = Field(alias="modelID")
    model_name: str = Field(default="", alias="modelName")
    steps: int | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    sampler: str | None = None
    cfgscale: float | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    width: int | None = None
    height: int | None = None
    generator_version: str | None = Field(default=None, alias="generatorVersion")
    workflow_template_name: str | None = Field(default=None, alias="workflowTemplateName")
    workflow_run_parameters: list[AimgWorkflowParameter] = Field(
        default_factory=list, alias="workflowRunParameters"
    )

    @field_validator("generator_version", mode="before")
    @classmethod
    def _version_as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def image_params(self) -> AimgParams:
        """The generateImage request that made this item."""
        return AimgParams(
            prompt=self.prompt,
            negprompt=self.negprompt or None,
            model_name=self.model_id,
            steps=self.steps,
            seed=self.seed,
            subseed=self.subseed,
            subseed_strength=self.subseed_strength,
            width=self.width,
            height=self.height,
            sampler=self.sampler,
            cfgscale=self.cfgscale,
            restore_faces=self.restore_faces,
        )

    def video_params(self) -> AimgVideoParams:
        """The generateVideo request that made this item."""
        return AimgVideoParams(
            prompt=self.prompt,
            model_name=self.model_id,
            steps=self.steps,
            seed=self.seed,
            restore_faces=self.restore_faces,
        )

    def workflow_request(self, seed: int) -> AimgWorkflowRequest:
        """The enqueueWorkflow request that made this (workflow) item again, with ``seed``.

        The run's own parameters when AIMG returns them (they are the whole run, template
        defaults included), else the prompts the item records."""
        name = self.workflow_template_name or ""
        kept = [p for p in self.workflow_run_parameters if p.name != WORKFLOW_FIELDS["seed"]]
        if kept:
            return AimgWorkflowRequest(workflow_template_name=name, parameters=kept, seed=seed)
        return AimgWorkflowRequest(
            workflow_template_name=name, prompt=self.prompt, negprompt=self.negprompt or None, seed=seed
        )


class AimgPage(BaseModel):
    """One page of getMyCreations. ``next_pagination_index`` is None on the last page."""

    items: list[AimgItem]
    next_pagination_index: str | None = None
    total_count: int | None = None


class AimgSelfUser(_Wire):
    """A SelfUser object."""

    session_id: str = Field(alias="sessionID", repr=False)
    user_id: str = Field(alias="userID")
    email: str | None = None
    username: str | None = None
    is_authenticated: bool = Field(default=False, alias="isAuthenticated")
    tier: int = 0
    tier_expiration: str | None = Field(default=None, alias="tierExpiration")
    item_count: int = Field(default=0, alias="itemCount")


class AimgOutcome(_Wire):
    """One item's result in likeItems, dislikeItems, deleteItems, reportItems… answers."""

    id: str
    success: bool
    message: str | None = None
    #: reportItems only.
    report_id: str | None = Field(default=None, alias="reportId")


class AimgMessage(_Wire):
    """``{success, message}`` answers (requestOTP, signOutUser)."""

    success: bool
    message: str | None = None


class AimgQueueLength(_Wire):
    model_id: str = Field(alias="modelID")
    #: Queues with ``-p1-`` in their id are the PRO priority queues.
    queue_id: str = Field(alias="queueID")
    queue_length: int = Field(alias="queueLength")


class AimgPrompt(_Wire):
    positive_prompt: str = Field(alias="positivePrompt")
    negative_prompt: str | None = Field(default=None, alias="negativePrompt")


class AimgWorkflowParameter(_Wire):
    name: str
    #: Always a string on the wire, whatever the parameter's type.
    value: str


class AimgWorkflowRequest(_Wire):
    """The body of ``POST /2/enqueueWorkflow``."""

    workflow_template_name: str = Field(alias="workflowTemplateName")
    prompt: str | None = None
    negprompt: str | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    steps: int | None = None
    cfgscale: float | None = None
    model_name: str | None = Field(default=None, alias="modelName")
    lora: list[str] | None = None
    lora_strength: list[float] | None = None
    height: int | None = None
    width: int | None = None
    batch_size: int | None = Field(default=None, alias="batchSize")
    parameters: list[AimgWorkflowParameter] | None = None
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgWorkflowHandle(_Wire):
    item_ids: list[str] = Field(alias="itemIds")
    workflow_id: str = Field(alias="workflowId")


class AimgWorkflowFile(_Wire):
    note: str | None = None
    file_name: str | None = Field(default=None, alias="fileName")
    download_url: str | None = Field(default=None, alias="downloadURL")
    is_main_output: bool = Field(default=False, alias="isMainOutput")
    height: int | None = None
    width: int | None = None
    type: str | None = None


class AimgWorkflowState(_Wire):
    """A WorkflowStateObject."""

    internal_id: str = Field(alias="_id")
    public_id: str | None = Field(default=None, alias="publicId")
    is_started: bool = Field(default=False, alias="isStarted")
    is_complete: bool = Field(default=False, alias="isComplete")
    is_error: bool = Field(default=False, alias="isError")
    error_message: str | None = Field(default=None, alias="errorMessage")
    output_files: list[AimgWorkflowFile] = Field(default_factory=list, alias="outputFiles")
    #: running, completed or error.
    state: str | None = None
    start_time: str | None = Field(default=None, alias="startTime")
    end_time: str | None = Field(default=None, alias="endTime")
    item_ids: list[str] = Field(default_factory=list, alias="itemIds")


class AimgWorkflowTemplateParameter(_Wire):
    """A WorkflowTemplateParameter: what the template takes, with its limits (as strings)."""

    name: str
    #: string, number, boolean, array, object, file, files, filesGroup or dropdown.
    data_type: str = Field(alias="dataType")
    description: str = ""
    default_value: str | None = Field(default=None, alias="defaultValue")
    is_optional: bool = Field(default=True, alias="isOptional")
    min: str | None = None
    max: str | None = None
    increment: str | None = None
    dropdown_items: list[str] = Field(default_factory=list, alias="dropdownItems")

    @field_validator("default_value", "min", "max", "increment", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # The seed types these as strings; a server may well send the number itself.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    def problem(self, value: Any, template: str) -> str | None:
        """Why ``value`` is outside this parameter's limits, naming them; None when it fits."""
        low, high, step = _float(self.min), _float(self.max), _float(self.increment)
        number = _float(value)
        if number is None or (low is None and high is None):
            return None
        inside = (low is None or number >= low) and (high is None or number <= high)
        # The increment counts from the minimum (512, 576, 640… for a 64 step from 512).
        on_step = low is None or not step or ((number - low) / step).is_integer()
        if inside and on_step:
            return None
        if low is not None and high is not None:
            bounds = f"between {_number(low)} and {_number(high)}"
        else:  # one of them is set (checked above)
            bounds = f"at least {_number(low)}" if low is not None else f"at most {_number(high or 0.0)}"
        steps = "" if on_step else f" in steps of {_number(step or 0.0)}"
        return f"{self.name} must be {bounds}{steps} for the {template} workflow (got {_number(number)})."


class AimgWorkflowTemplate(_Wire):
    """A WorkflowTemplate (files left out: the bot sends none)."""

    name: str
    deployments: list[str] = Field(default_factory=list)
    parameters: list[AimgWorkflowTemplateParameter] = Field(default_factory=list)

    def parameter(self, name: str) -> AimgWorkflowTemplateParameter | None:
        return next((p for p in self.parameters if p.name == name), None)


class AimgSnapshot(TaskSnapshot):
    """A TaskSnapshot plus what only AIMG reports. The engine may treat it as a plain TaskSnapshot."""

    queue_position: int | None = None
    ignored_words: list[str] = Field(default_factory=list)
    media_type: MediaType = "image"
    frame_urls: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Mapping tables
# --------------------------------------------------------------------------------------------

#: GenerationStatus.status spellings (lower-cased). The seed gives none; these cover the usual ones.
_STATUSES: dict[str, JobStatus] = {
    **dict.fromkeys(("queued", "pending", "waiting", "enqueued", "submitted", "new"), JobStatus.SUBMITTED),
    **dict.fromkeys(
        ("processing", "generating", "running", "in_progress", "inprogress", "started"), JobStatus.IN_PROGRESS
    ),
    **dict.fromkeys(("completed", "complete", "done", "finished", "success", "succeeded"), JobStatus.SUCCESS),
    **dict.fromkeys(("failed", "failure", "error", "errored"), JobStatus.FAILURE),
    **dict.fromkeys(("cancelled", "canceled"), JobStatus.CANCELLED),
}

#: errorMessage fragments that name a cause, checked before errorCode (most specific first).
_MESSAGE_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("session", ErrorKind.AUTH),
    ("sign in", ErrorKind.AUTH),
    ("signed in", ErrorKind.AUTH),
    ("sign up", ErrorKind.AUTH),
    ("log in", ErrorKind.AUTH),
    ("logged in", ErrorKind.AUTH),
    ("unauthori", ErrorKind.AUTH),
    ("not authenticated", ErrorKind.AUTH),
    ("otp", ErrorKind.AUTH),
    ("nsfw", ErrorKind.BANNED_PROMPT),
    ("banned", ErrorKind.BANNED_PROMPT),
    ("prohibited", ErrorKind.BANNED_PROMPT),
    ("inappropriate", ErrorKind.BANNED_PROMPT),
    ("credit", ErrorKind.QUOTA),
    ("quota", ErrorKind.QUOTA),
    ("tier", ErrorKind.QUOTA),
    ("upgrade", ErrorKind.QUOTA),
    ("subscription", ErrorKind.QUOTA),
    ("queue", ErrorKind.QUEUE_FULL),
    ("concurrent", ErrorKind.QUEUE_FULL),
    ("too many", ErrorKind.QUEUE_FULL),
    ("rate limit", ErrorKind.QUEUE_FULL),
    ("not found", ErrorKind.NOT_FOUND),
    ("does not exist", ErrorKind.NOT_FOUND),
    ("no longer exists", ErrorKind.NOT_FOUND),
)

#: The annex's HTTP-style codes, used for ``errorCode`` and for non-2xx statuses without an envelope.
_CODE_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_INPUT,
    401: ErrorKind.AUTH,
    402: ErrorKind.QUOTA,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.INVALID_INPUT,
    406: ErrorKind.INVALID_INPUT,
    408: ErrorKind.UNAVAILABLE,
    409: ErrorKind.INVALID_INPUT,
    410: ErrorKind.NOT_FOUND,
    422: ErrorKind.INVALID_INPUT,
    429: ErrorKind.QUEUE_FULL,
}

#: Generic validation wording: only decides when neither a cause nor a known code did.
_VALIDATION_FRAGMENTS = ("invalid", "must be", "allowed", "required", "missing", "out of range")


# --------------------------------------------------------------------------------------------
# Pure mapping functions
# --------------------------------------------------------------------------------------------


def error_kind(message: str, code: int | str | None) -> ErrorKind:
    """The ErrorKind for a ``hasError`` answer: a cause named in the message, else the code."""
    lowered = message.lower()
    kind = next((kind for fragment, kind in _MESSAGE_KINDS if fragment in lowered), None)
    if kind is not None:
        return kind
    number = _as_int(code)
    if number is not None:
        if number in _CODE_KINDS:
            return _CODE_KINDS[number]
        if number >= 500:
            return ErrorKind.UNAVAILABLE
    if any(fragment in lowered for fragment in _VALIDATION_FRAGMENTS):
        return ErrorKind.INVALID_INPUT
    return ErrorKind.UNAVAILABLE


def _as_int(code: int | str | None) -> int | None:
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def job_status(status: AimgStatus) -> JobStatus:
    known = _STATUSES.get(status.status.strip().lower())
    if known is not None:
        return known
    # An unknown word must not end the job: keep polling, the engine's deadline bounds it.
    log.info("AIMG item %s has an unknown status %r", status.image_id, status.status)
    return JobStatus.SUBMITTED if status.queue_position is not None else JobStatus.IN_PROGRESS


def _percent(progress: float | None) -> int | None:
    if progress is None:
        return None
    value = progress * 100 if 0 < progress < 1 else progress
    return max(0, min(100, round(value)))


def to_snapshot(
    status: AimgStatus, *, buttons: Sequence[ResultButton] = (), prompt: str | None = None
) -> AimgSnapshot:
    """A GenerationStatus as a snapshot; ``buttons`` and ``prompt`` come from the item's details."""
    state = job_status(status)
    frame_urls = [f.frame_url for f in sorted(status.frames, key=lambda f: f.frame_number)]
    progress = {JobStatus.SUBMITTED: 0, JobStatus.SUCCESS: 100}.get(state, _percent(status.progress))
    image_url = status.url or (frame_urls[-1] if frame_urls else None)
    failed = state is JobStatus.FAILURE
    return AimgSnapshot(
        task_id=status.image_id,
        status=state,
        progress=progress,
        image_url=image_url if state is JobStatus.SUCCESS else None,
        # GenerationStatus carries no reason; say so rather than leave the member guessing.
        fail_reason="The image service could not generate this item." if failed else None,
        buttons=list(buttons) if state is JobStatus.SUCCESS else [],
        prompt=prompt,
        queue_position=status.queue_position if state is JobStatus.SUBMITTED else None,
        ignored_words=status.ignored_words,
        media_type="video" if status.mtype == "video" else "image",
        frame_urls=frame_urls,
    )


def custom_id(verb: Verb) -> str:
    return f"{_VERB_PREFIX}{verb}"


def parse_verb(value: str) -> str:
    """The verb of an ``aimg:<verb>`` custom id; BackendError(INVALID_INPUT) for anything else."""
    verb = value.removeprefix(_VERB_PREFIX)
    if not value.startswith(_VERB_PREFIX) or verb not in GENERATION_VERBS | ITEM_VERBS:
        raise BackendError(ErrorKind.INVALID_INPUT, f"Unknown AIMG action {value!r}.")
    return verb


def vote_of(value: str) -> Vote | None:
    """The vote a 👍 (``aimg:like``) or 👎 (``aimg:dislike``) button casts; None for other buttons."""
    return _VOTES.get(value)


_VOTES: dict[str, Vote] = {f"{_VERB_PREFIX}like": "like", f"{_VERB_PREFIX}dislike": "dislike"}


def vote_verb(pressed: Vote, current: str | None) -> tuple[Verb, Vote | None]:
    """What pressing 👍 or 👎 does for a member whose vote is ``current``, and their vote after.

    The same button again takes the vote back (unlike, undislike). The other button simply casts
    the new vote: the seed says liking removes a dislike and disliking removes a like.
    """
    if pressed == current:
        return ("unlike" if pressed == "like" else "undislike"), None
    return pressed, pressed


def result_buttons(*, supports_variations: bool, video: bool = False) -> list[ResultButton]:
    """The buttons of a finished item: generate again on row 0, feedback on row 1."""
    buttons = [
        ResultButton(custom_id=custom_id("reroll"), label="New seed", emoji="🔄", kind=JobKind.REROLL, row=0)
    ]
    if supports_variations and not video:
        buttons.append(
            ResultButton(custom_id=custom_id("variation"), label="Variation", kind=JobKind.VARIATION, row=0)
        )
    buttons += [
        # Grey until voted: green then shows the vote (cogs/aimg_flow.py).
        ResultButton(custom_id=custom_id("like"), emoji="👍", row=1),
        ResultButton(custom_id=custom_id("dislike"), emoji="👎", row=1),
        ResultButton(custom_id=custom_id("delete"), emoji="🗑️", style=ButtonStyle.DANGER, row=1),
        ResultButton(custom_id=custom_id("report"), emoji="🚩", style=ButtonStyle.DANGER, row=1),
    ]
    return buttons


def default_params(model: AimgModel, prompt: str, *, negprompt: str | None = None) -> AimgParams:
    """A generateImage request for ``model`` using its defaults (and the seed's, kept in range)."""
    width, height = _default_size(model)
    cfg_low, cfg_high = _cfg_range(model)
    return AimgParams(
        prompt=prompt,
        negprompt=negprompt,
        model_name=model.model_id,
        steps=min(max(DEFAULT_STEPS, model.min_steps), model.max_steps),
        width=width,
        height=height,
        sampler=model.default_sampler,
        cfgscale=min(max(DEFAULT_CFG_SCALE, cfg_low), cfg_high),
        restore_faces=model.default_face_fix,
    )


def _default_size(model: AimgModel) -> tuple[int | None, int | None]:
    size = model.default_resolution
    return (size[0], size[1]) if len(size) == 2 else (None, None)


def _cfg_range(model: AimgModel) -> tuple[float, float]:
    return max(CFG_SCALE_RANGE[0], model.min_cfg_scale), min(CFG_SCALE_RANGE[1], model.max_cfg_scale)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _listing(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values)


def _number(value: float) -> str:
    return f"{value:g}"


def validate_params(model: AimgModel, params: AimgParams, *, user: AimgSelfUser | None = None) -> list[str]:
    """Everything in ``params`` that ``model`` (and, when given, the account ``user``) would refuse.

    One sentence per problem, naming what is allowed, for the command to show before it calls the
    API. Fields left at ``None`` are the server's defaults and are not checked.
    """
    name = model.name or model.model_id
    problems: list[str] = []
    if not params.prompt.strip():
        problems.append("The prompt is empty.")
    if model.is_video:
        problems.append(f"{name} makes videos; use the video command for it.")
    if params.steps is not None and not model.min_steps <= params.steps <= model.max_steps:
        problems.append(
            f"Steps must be between {model.min_steps} and {model.max_steps} for {name} (got {params.steps})."
        )
    low, high = _cfg_range(model)
    if params.cfgscale is not None and not low <= params.cfgscale <= high:
        problems.append(
            f"CFG scale must be between {_number(low)} and {_number(high)} for {name} "
            f"(got {_number(params.cfgscale)})."
        )
    if params.width is not None and params.width not in model.allowed_widths:
        problems.append(
            f"Width {params.width} is not available for {name}; "
            f"choose one of {_listing(model.allowed_widths)}."
        )
    if params.height is not None and params.height not in model.allowed_heights:
        problems.append(
            f"Height {params.height} is not available for {name}; "
            f"choose one of {_listing(model.allowed_heights)}."
        )
    default_width, default_height = _default_size(model)
    width, height = params.width or default_width, params.height or default_height
    if width is not None and height is not None and width * height > model.max_resolution:
        problems.append(
            f"{width}x{height} is {width * height} pixels; {name} allows at most {model.max_resolution}."
        )
    if params.sampler is not None and params.sampler not in model.allowed_samplers:
        problems.append(
            f"Sampler {params.sampler!r} is not available for {name}; "
            f"choose one of {_listing(model.allowed_samplers)}."
        )
    if params.subseed_strength is not None and not 0 <= params.subseed_strength <= 1:
        problems.append(f"Subseed strength must be between 0 and 1 (got {_number(params.subseed_strength)}).")
    if (params.subseed_strength or 0) > 0 and not model.supports_variations:
        problems.append(f"{name} does not support variations (subseed strength must be 0).")
    if user is not None:
        if user.tier < model.min_tier:
            problems.append(f"{name} needs PRO tier {model.min_tier}; this account is tier {user.tier}.")
        if model.registration_wall and not user.is_authenticated:
            problems.append(f"{name} needs a signed-up account; this account's session is not signed in.")
    return problems


def build_request(model: AimgModel, params: Mapping[str, str]) -> AimgParams | AimgVideoParams:
    """The request a job's string parameters make: generateVideo's for a video model, else generateImage's.

    Keys are the field names of :class:`AimgParams` (``prompt``, ``negprompt``, ``steps``,
    ``cfgscale``, ``restore_faces``…; empty means unset). Unset image fields take the model's
    defaults, so the request checked before queueing is exactly the one sent.
    BackendError(INVALID_INPUT) when a value does not parse.
    """
    values = {key: value for key, value in params.items() if value != ""}
    if model.is_video:
        return _parsed(AimgVideoParams, {**values, "model_name": model.model_id})
    defaults = default_params(model, values.get("prompt", ""))
    return _parsed(
        AimgParams, {**defaults.model_dump(exclude_none=True), **values, "model_name": model.model_id}
    )


def build_workflow_request(params: Mapping[str, str]) -> AimgWorkflowRequest:
    """The enqueueWorkflow request a workflow job's string parameters make (``WORKFLOW_PARAM``
    names the template; ``prompt``, ``negprompt``, ``seed``, ``steps``, ``cfgscale``, ``width``,
    ``height`` are sent as the seed's explicit fields; empty means unset, other keys are ignored).
    BackendError(INVALID_INPUT) when a value does not parse."""
    fields = set(AimgWorkflowRequest.model_fields) - {"parameters"}
    return _parsed(AimgWorkflowRequest, {k: v for k, v in params.items() if k in fields and v != ""})


def _parsed(model: type[_M], values: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fields = _listing(sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]}))
        raise BackendError(ErrorKind.INVALID_INPUT, f"Not a valid value for: {fields}.") from None


def workflow_problems(template: AimgWorkflowTemplate, request: AimgWorkflowRequest) -> list[str]:
    """Every field of ``request`` that ``template`` would refuse, one sentence each naming what it
    allows: a field whose parameter the template lacks, a number outside the parameter's limits."""
    problems = []
    given = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    for field, name in WORKFLOW_FIELDS.items():
        if field not in given:
            continue
        parameter = template.parameter(name)
        if parameter is None:
            problems.append(f"The {template.name} workflow has no {name} setting; leave it out.")
        elif (problem := parameter.problem(given[field], template.name)) is not None:
            problems.append(problem)
    return problems


def request_problems(
    model: AimgModel, params: Mapping[str, str], *, user: AimgSelfUser | None = None
) -> list[str]:
    """:func:`validate_params` for a job's string parameters, videos included."""
    request = build_request(model, params)
    if isinstance(request, AimgVideoParams):
        # validate_params sends video models elsewhere; the limits it checks (steps, tier, sign-up)
        # hold for videos too, so check the video's fields against the model as a still one.
        still = model.model_copy(update={"media_type": "StaticImage"})
        return validate_params(still, AimgParams(prompt=request.prompt, steps=request.steps), user=user)
    return validate_params(model, request, user=user)


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------

_Query = dict[str, str | int]
_T = TypeVar("_T")


class _Cached(Generic[_T]):
    """A list AIMG rarely changes (models, report queues, workflow templates), kept for ``ttl``
    seconds; concurrent askers (autocomplete fires per keystroke) share one load."""

    def __init__(self, load: Callable[[], Awaitable[_T]], ttl: float, clock: Callable[[], float]) -> None:
        self._load, self._ttl, self._clock = load, ttl, clock
        self._entry: tuple[_T, float] | None = None
        self._lock = asyncio.Lock()

    async def get(self, *, refresh: bool = False) -> _T:
        async with self._lock:
            entry = self._entry
            if refresh or entry is None or self._clock() - entry[1] >= self._ttl:
                entry = (await self._load(), self._clock())
                self._entry = entry
            return entry[0]


#: The account options this backend reads (see :func:`bot.backends.check_options`).
OPTIONS = {"model": AccountOption(re.compile(r"[\w.\-]{1,64}"), DEFAULT_IMAGE_MODEL)}


class AimgBackend:
    """One AIMG account (a session id). Implements :class:`bot.backends.base.Backend`.

    ``account.options``: ``model`` is the model ``imagine`` uses (default: the seed's ``f222``).
    The model list, the report queues and the workflow templates are cached for ``models_ttl``
    seconds; ``get_models(refresh=True)`` (and the others' ``refresh``) reloads one.
    """

    service: ClassVar[str] = "AIMG"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.GENERATE})

    def __init__(
        self,
        account: Account,
        http: httpx.AsyncClient,
        *,
        models_ttl: float = MODELS_TTL_SECONDS,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root = account.base_url.rstrip("/")
        self._session = account.secret
        self._http = http
        self.default_model = account.options.get("model") or DEFAULT_IMAGE_MODEL
        self._rng = rng or random.SystemRandom()
        self._models = _Cached(self._load_models, models_ttl, clock)
        self._report_queues = _Cached(self._load_report_queues, models_ttl, clock)
        self._workflow_templates = _Cached(self._load_workflow_templates, models_ttl, clock)
        self._sample_prompts = _Cached(self._load_sample_prompts, models_ttl, clock)
        self._self_user = _Cached(self.get_self_user, models_ttl, clock)

    # --- Backend protocol ---------------------------------------------------------------------

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """generateImage with the account's model and that model's defaults (AIMG has no hooks)."""
        if images:
            raise BackendError(ErrorKind.INVALID_INPUT, "AIMG generates from text only; remove the images.")
        model = await self.get_model(self.default_model)
        params = default_params(model, prompt)
        problems = validate_params(model, params)
        if problems:
            raise BackendError(ErrorKind.INVALID_INPUT, " ".join(problems))
        return _submitted(await self.generate_image(params))

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """``aimg:reroll`` or ``aimg:variation`` on item ``task_id``; item verbs go to item_action."""
        verb = parse_verb(custom_id)
        if verb == "reroll":
            return await self.reroll(task_id)
        if verb == "variation":
            return _submitted(await self.variation(task_id))
        raise BackendError(
            ErrorKind.INVALID_INPUT, f"{custom_id} does not start a generation; it is an item action."
        )

    async def fetch(self, task_id: str) -> AimgSnapshot | None:
        """getItemStatus; once finished, getItemDetails too (for the prompt and the buttons)."""
        try:
            status = await self.get_item_status(task_id)
        except BackendError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        if job_status(status) is not JobStatus.SUCCESS:
            return to_snapshot(status)
        details = await self.get_item_details(task_id)
        model = await self._known_model(details.model_id)
        buttons = result_buttons(
            # A workflow's item is re-run by its template, which may not take a subseed.
            supports_variations=model is not None
            and model.supports_variations
            and not details.workflow_template_name,
            video=details.mtype == "video",
        )
        return to_snapshot(status, buttons=buttons, prompt=details.prompt or None)

    def parse_push(self, body: Any) -> TaskSnapshot:
        raise BackendError(ErrorKind.INVALID_INPUT, "AIMG does not push updates; poll with fetch().")

    async def generate(self, params: Mapping[str, str], *, state: str = "") -> SubmitResult:
        """generateImage, or generateVideo for a video model, from a job's string parameters
        (see :func:`build_request`; ``model_name`` defaults to the account's model); a workflow
        run when they name a template (``WORKFLOW_PARAM``, see :func:`build_workflow_request`)."""
        if params.get(WORKFLOW_PARAM):
            run, problems = await self.check_workflow(params)
            if problems:
                raise BackendError(ErrorKind.INVALID_INPUT, " ".join(problems))
            return await self.run_workflow(run)
        model = await self.get_model(params.get("model_name") or self.default_model)
        problems = request_problems(model, params)
        if problems:
            raise BackendError(ErrorKind.INVALID_INPUT, " ".join(problems))
        request = build_request(model, params)
        if isinstance(request, AimgVideoParams):
            return _submitted(await self.generate_video(request))
        return _submitted(await self.generate_image(request))

    # --- generation ---------------------------------------------------------------------------

    async def generate_image(self, params: AimgParams) -> AimgStatus:
        return await self._status_call("POST", "generateImage", body=params)

    async def generate_video(self, params: AimgVideoParams) -> AimgStatus:
        return await self._status_call("POST", "generateVideo", body=params)

    async def get_item_status(self, item_id: str) -> AimgStatus:
        return await self._status_call("GET", "getItemStatus", query={"imageID": item_id})

    async def reroll(self, item_id: str) -> SubmitResult:
        """The item's request again with a new seed (and no subseed); a workflow's item runs its
        workflow again."""
        details = await self.get_item_details(item_id)
        seed = self._rng.randrange(_SEED_LIMIT)
        if details.workflow_template_name:
            return await self.run_workflow(details.workflow_request(seed))
        if details.mtype == "video":
            video = details.video_params().model_copy(update={"seed": seed})
            return _submitted(await self.generate_video(video))
        params = details.image_params().model_copy(
            update={"seed": seed, "subseed": None, "subseed_strength": None}
        )
        return _submitted(await self.generate_image(params))

    async def variation(self, item_id: str, strength: float | None = None) -> AimgStatus:
        """The item's request with the same seed and a new subseed (models that support variations)."""
        details = await self.get_item_details(item_id)
        model = await self.get_model(details.model_id)
        if details.mtype == "video" or details.workflow_template_name or not model.supports_variations:
            raise BackendError(ErrorKind.INVALID_INPUT, f"{model.name} does not support variations.")
        # A variation of a variation keeps its strength; a first variation gets the house default.
        subseed_strength = strength or details.subseed_strength or VARIATION_STRENGTH
        params = details.image_params().model_copy(
            update={"subseed": self._rng.randrange(_SEED_LIMIT), "subseed_strength": subseed_strength}
        )
        return await self.generate_image(params)

    # --- models and service info --------------------------------------------------------------

    async def get_models(self, *, refresh: bool = False) -> list[AimgModel]:
        """Every model, in the order the service gives (which the seed asks front-ends to keep)."""
        return list(await self._models.get(refresh=refresh))

    async def _load_models(self) -> list[AimgModel]:
        return _parse_models((await self._call("GET", "getModels")).payload)

    async def get_model(self, model_id: str) -> AimgModel:
        """One model; reloads the list once if it is unknown (a model may be new since the last load)."""
        model = await self._known_model(model_id)
        if model is not None:
            return model
        models = await self.get_models(refresh=True)
        model = next((m for m in models if m.model_id == model_id), None)
        if model is None:
            available = _listing([m.model_id for m in models])
            raise BackendError(
                ErrorKind.INVALID_INPUT, f"Unknown AIMG model {model_id!r} (available: {available})."
            )
        return model

    async def _known_model(self, model_id: str) -> AimgModel | None:
        return next((m for m in await self.get_models() if m.model_id == model_id), None)

    async def get_queues_length(self, model_ids: Sequence[str] = ()) -> list[AimgQueueLength]:
        query: _Query = {"modelIDs": ",".join(model_ids)} if model_ids else {}
        envelope = await self._call("GET", "getQueuesLength", query=query)
        return _validate_list(AimgQueueLength, envelope.payload, "getQueuesLength")

    def model_of(self, params: Mapping[str, str]) -> str | None:
        """The model a job with ``params`` runs on; None for a workflow (its template decides)."""
        return None if params.get(WORKFLOW_PARAM) else params.get("model_name") or self.default_model

    async def concurrency(self, model_id: str) -> int:
        """How many items of ``model_id`` the account's user may have in flight at once: the
        model's ``tierNConcurrent`` for the user's PRO tier (both cached)."""
        model = await self.get_model(model_id)
        tier = (await self._self_user.get()).tier
        limits = (model.tier0_concurrent, model.tier1_concurrent, model.tier2_concurrent)
        return limits[min(max(tier, 0), 2)]

    async def sample_prompts(self) -> list[AimgPrompt]:
        """Every sample prompt, cached like the models (autocomplete asks per keystroke)."""
        return list(await self._sample_prompts.get())

    async def _load_sample_prompts(self) -> list[AimgPrompt]:
        return await self.get_sample_prompts()

    async def get_sample_prompts(self, *, random_one: bool = False) -> list[AimgPrompt]:
        query: _Query = {"randomOne": "true"} if random_one else {}
        envelope = await self._call("GET", "getSamplePrompts", query=query)
        return _validate_list(AimgPrompt, envelope.payload, "getSamplePrompts")

    # --- items --------------------------------------------------------------------------------

    async def get_item(self, item_id: str) -> AimgItem:
        return await self._object_call("GET", "getItem", AimgItem, query={"imageID": item_id})

    async def get_item_details(self, item_id: str) -> AimgItemDetails:
        return await self._object_call("GET", "getItemDetails", AimgItemDetails, query={"imageID": item_id})

    async def item_action(
        self,
        item_id: str,
        custom_id: str,
        *,
        report_queue: str | None = None,
        information: str | None = None,
    ) -> AimgOutcome:
        """``aimg:like|unlike|dislike|undislike|delete|report`` on one item; the outcome says
        whether it took effect. ``report_queue`` and ``information`` go with a report."""
        verb = parse_verb(custom_id)
        if verb not in ITEM_VERBS:
            raise BackendError(ErrorKind.INVALID_INPUT, f"{custom_id} starts a generation; use action().")
        calls: dict[str, Callable[[Sequence[str]], Awaitable[list[AimgOutcome]]]] = {
            "like": self.like_items,
            "unlike": self.unlike_items,
            "dislike": self.dislike_items,
            "undislike": self.undislike_items,
            "delete": self.delete_items,
        }
        ids = [item_id]
        outcomes = await (
            self.report_items(ids, report_queue=report_queue, information=information)
            if verb == "report"
            else calls[verb](ids)
        )
        outcome = next((o for o in outcomes if o.id == item_id), AimgOutcome(id=item_id, success=False))
        if not outcome.success and verb in _VOTE_REACHED:
            # AIMG keeps one vote per AIMG account, and members who share the server's account
            # share it: when another member's click already left the item as asked, this one
            # holds too (rather than fail with "already liked").
            item = await self.get_item(item_id)
            if _VOTE_REACHED[verb](item):
                return outcome.model_copy(update={"success": True, "message": None})
        return outcome

    async def like_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        """Like; the seed says this also removes a dislike."""
        return await self._outcomes("POST", "likeItems", body={"imageIDs": list(item_ids)})

    async def unlike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        return await self._outcomes("POST", "unlikeItems", body={"imageIDs": list(item_ids)})

    async def dislike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        """Dislike; the seed says this also removes a like."""
        return await self._outcomes("POST", "dislikeItems", body={"imageIDs": list(item_ids)})

    async def undislike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        return await self._outcomes("POST", "undislikeItems", body={"imageIDs": list(item_ids)})

    async def delete_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        # DELETE with the ids in the query, comma-separated (the seed's shape, unlike the POSTs).
        return await self._outcomes("DELETE", "deleteItems", query={"imageIDs": ",".join(item_ids)})

    async def report_items(
        self, item_ids: Sequence[str], *, report_queue: str | None = None, information: str | None = None
    ) -> list[AimgOutcome]:
        """Report for review; ``report_queue`` is one of :meth:`get_report_queues` (default: none given)."""
        body: dict[str, Any] = {"itemIds": list(item_ids)}
        if report_queue is not None:
            body["reportQueue"] = report_queue
        if information is not None:
            body["additionalInformation"] = information
        return await self._outcomes("POST", "reportItems", body=body)

    async def get_report_queues(self, *, refresh: bool = False) -> list[str]:
        """The categories a report may name, in the service's order (cached like the models)."""
        return list(await self._report_queues.get(refresh=refresh))

    async def _load_report_queues(self) -> list[str]:
        envelope = await self._call("GET", "getReportQueues")
        try:
            return _STRINGS.validate_python(envelope.payload or [])
        except ValidationError as exc:
            raise _malformed("getReportQueues", exc) from None

    async def get_my_creations(
        self,
        *,
        pagination_index: str | None = None,
        limit: int | None = None,
        mtype: MediaType | None = None,
        folder_id: str | None = None,
    ) -> AimgPage:
        """One page, newest first; pass the previous page's ``next_pagination_index`` for the next."""
        query: _Query = {}
        if pagination_index is not None:
            query["paginationIndex"] = pagination_index
        if limit is not None:
            query["limit"] = limit
        if mtype is not None:
            query["mtype"] = mtype
        if folder_id is not None:
            query["folderID"] = folder_id
        envelope = await self._call("GET", "getMyCreations", query=query)
        items = _validate_list(AimgItem, envelope.payload, "getMyCreations")
        metadata = envelope.metadata or {}
        next_index = metadata.get("nextPaginationIndex")
        total = metadata.get("totalCount")
        return AimgPage(
            items=items,
            next_pagination_index=str(next_index) if next_index not in (None, "", 0, "0") else None,
            total_count=total if isinstance(total, int) else None,
        )

    async def iter_my_creations(
        self, *, page_size: int = 100, mtype: MediaType | None = None
    ) -> AsyncIterator[AimgItem]:
        """Every item of the account, newest first, a page at a time."""
        index: str | None = None
        while True:
            page = await self.get_my_creations(pagination_index=index, limit=page_size, mtype=mtype)
            for item in page.items:
                yield item
            # A server that hands back the index it was given would otherwise loop forever.
            if not page.items or page.next_pagination_index in (None, index):
                return
            index = page.next_pagination_index

    # --- API2 workflows -----------------------------------------------------------------------

    async def get_workflow_templates(self, *, refresh: bool = False) -> list[AimgWorkflowTemplate]:
        """Every workflow template (PRO tier > 0 only: AIMG answers an error otherwise), cached."""
        return list(await self._workflow_templates.get(refresh=refresh))

    async def _load_workflow_templates(self) -> list[AimgWorkflowTemplate]:
        path = "2/getAggregatedWorkflowTemplates"
        return _validate_list(AimgWorkflowTemplate, (await self._call("GET", path)).payload, path)

    async def check_workflow(self, params: Mapping[str, str]) -> tuple[AimgWorkflowRequest, list[str]]:
        """The request a workflow job's parameters make, and everything its template would refuse
        (an unknown template too). The list is reloaded once for a name it lacks."""
        request = build_workflow_request(params)
        name = request.workflow_template_name
        templates = await self.get_workflow_templates()
        if all(t.name != name for t in templates):
            templates = await self.get_workflow_templates(refresh=True)
        template = next((t for t in templates if t.name == name), None)
        if template is None:
            available = _listing([t.name for t in templates]) or "none"
            return request, [f"There is no workflow template {name!r}; choose one of: {available}."]
        return request, workflow_problems(template, request)

    async def run_workflow(self, request: AimgWorkflowRequest) -> SubmitResult:
        """Enqueue a workflow; the job follows its first item (a batch of one is what Discord shows)."""
        handle = await self.enqueue_workflow(request)
        if not handle.item_ids:
            raise BackendError(ErrorKind.UNAVAILABLE, "AIMG started the workflow but named no item.")
        return SubmitResult(task_id=handle.item_ids[0])

    async def enqueue_workflow(self, request: AimgWorkflowRequest) -> AimgWorkflowHandle:
        """Start a workflow (PRO tier > 0 only); its item ids can be polled with get_item_status too."""
        return await self._object_call("POST", "2/enqueueWorkflow", AimgWorkflowHandle, body=request)

    async def get_workflow_status(self, *workflow_ids: str) -> list[AimgWorkflowState]:
        if not workflow_ids:
            return []
        query: _Query = (
            {"workflowId": workflow_ids[0]}
            if len(workflow_ids) == 1
            else {"workflowIds": ",".join(workflow_ids)}
        )
        envelope = await self._call("GET", "2/getWorkflowStatus", query=query)
        # One id may answer an object, several an array: the seed allows both.
        payload = envelope.payload if isinstance(envelope.payload, list) else [envelope.payload]
        return _validate_list(AimgWorkflowState, payload, "2/getWorkflowStatus")

    # --- users and sessions -------------------------------------------------------------------

    async def get_self_user(self) -> AimgSelfUser:
        """The account's user (tier, signed in or not). Without a session: a new anonymous one."""
        return await self._object_call("GET", "getSelfUser", AimgSelfUser)

    async def request_otp(self, email: str, *, sign_up: bool = False) -> AimgMessage:
        """Email a one-time password to ``email`` (first step of signing the session in)."""
        body: dict[str, Any] = {"email": email, "signUp": True} if sign_up else {"email": email}
        return await self._object_call("POST", "requestOTP", AimgMessage, body=body)

    async def authenticate_user(self, email: str, otp: str, *, adult_confirmed: bool = False) -> AimgSelfUser:
        """Sign this session in with the emailed OTP; the answer's session id is the account secret.

        ``adult_confirmed``: the member confirmed being 18 or older (AIMG remembers it). A code AIMG
        refuses is BackendError(INVALID_INPUT): the same code request stands, the code may be retyped.
        """
        body: dict[str, Any] = {"email": email, "otp": otp}
        if adult_confirmed:
            body["isAtLeast18Confirmed"] = True
        try:
            return await self._object_call("POST", "authenticateUser", AimgSelfUser, body=body)
        except BackendError as exc:
            if "otp" not in exc.detail.lower():
                raise
            raise BackendError(
                ErrorKind.INVALID_INPUT, "The one-time code is wrong or has expired."
            ) from None

    async def sign_out(self) -> AimgMessage:
        return await self._object_call("POST", "signOutUser", AimgMessage)

    # --- transport ----------------------------------------------------------------------------

    async def _status_call(
        self, method: str, path: str, *, query: _Query | None = None, body: BaseModel | None = None
    ) -> AimgStatus:
        return await self._object_call(method, path, AimgStatus, query=query, body=body)

    async def _object_call(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        query: _Query | None = None,
        body: BaseModel | dict[str, Any] | None = None,
    ) -> _M:
        envelope = await self._call(method, path, query=query, body=body)
        return _validate(model, envelope.payload, path)

    async def _outcomes(
        self, method: str, path: str, *, query: _Query | None = None, body: dict[str, Any] | None = None
    ) -> list[AimgOutcome]:
        envelope = await self._call(method, path, query=query, body=body)
        return _validate_list(AimgOutcome, envelope.payload, path)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: _Query | None = None,
        body: BaseModel | dict[str, Any] | None = None,
    ) -> _Envelope:
        payload = (
            body.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(body, BaseModel)
            else body
        )
        headers = {"X-Session-ID": self._session} if self._session else {}
        try:
            response = await self._http.request(
                method, f"{self._root}/{path}", params=query, json=payload, headers=headers
            )
        except httpx.TimeoutException:
            raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG did not answer {path} in time.") from None
        except httpx.HTTPError as exc:
            # Only the type: the text may carry the URL, and a URL may carry credentials.
            raise BackendError(
                ErrorKind.UNAVAILABLE, f"Could not reach AIMG ({type(exc).__name__})."
            ) from None
        envelope = _envelope(response)
        if envelope is not None and envelope.has_error:
            message = (envelope.error_message or "").strip()
            kind = error_kind(
                message, envelope.error_code if envelope.error_code is not None else response.status_code
            )
            code = f" (error code {envelope.error_code})" if envelope.error_code is not None else ""
            detail = f"{message}{code}" if message else f"AIMG reported an error on {path}{code}."
            log.info("AIMG %s refused: %s", path, kind.value)
            raise self._scrub(BackendError(kind, detail))
        if not response.is_success:
            raise self._scrub(_status_error(response, path))
        if envelope is None:
            raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG sent an unexpected answer to {path}.")
        return envelope

    def _scrub(self, error: BackendError) -> BackendError:
        """Never let the session id through text a server may have echoed."""
        return scrub(error, self._session)


#: Whether an item is already as a vote verb leaves it (for the viewing session).
_VOTE_REACHED: dict[str, Callable[[AimgItem], bool]] = {
    "like": lambda item: item.is_liked,
    "unlike": lambda item: not item.is_liked,
    "dislike": lambda item: item.is_disliked,
    "undislike": lambda item: not item.is_disliked,
}


def _submitted(status: AimgStatus) -> SubmitResult:
    return SubmitResult(task_id=status.image_id, queue_position=status.queue_position)


def _envelope(response: httpx.Response) -> _Envelope | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return _Envelope.model_validate(data)
    except ValidationError:
        return None


def _status_error(response: httpx.Response, path: str) -> BackendError:
    status = response.status_code
    if status == 404:
        # No envelope: the path itself is unknown, most likely a wrong base URL, not a missing item.
        return BackendError(
            ErrorKind.INVALID_INPUT, f"AIMG does not know /{path} (HTTP 404); check the base URL."
        )
    kind = _CODE_KINDS.get(status, ErrorKind.UNAVAILABLE)
    return BackendError(kind, f"HTTP {status} on {path}.")


_STRINGS = TypeAdapter(list[str])


def _malformed(path: str, exc: ValidationError) -> BackendError:
    return BackendError(
        ErrorKind.UNAVAILABLE, f"AIMG sent a malformed answer to {path} ({exc.error_count()} errors)."
    )


def _validate(model: type[_M], data: Any, path: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _malformed(path, exc) from None


def _validate_list(model: type[_M], data: Any, path: str) -> list[_M]:
    """A payload array of ``model``; a null payload is an empty list."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG sent a malformed answer to {path} (not a list).")
    return [_validate(model, entry, path) for entry in data]


def _parse_models(payload: Any) -> list[AimgModel]:
    """The usable models of a getModels answer; a malformed entry is skipped, not fatal."""
    if not isinstance(payload, list):
        raise BackendError(ErrorKind.UNAVAILABLE, "AIMG sent a malformed answer to getModels.")
    models = []
    for entry in payload:
        try:
            models.append(AimgModel.model_validate(entry))
        except ValidationError as exc:
            ident = entry.get("modelID") if isinstance(entry, dict) else None
            log.warning("AIMG model %r skipped: %d malformed fields", ident, exc.error_count())
    return models
