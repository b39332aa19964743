"""The AIMG client (docs/backends/aimg.md): one account's session and every call the bot makes.

Every call carries ``X-Session-ID: <account.secret>`` (the session *is* the credential). There is
no push: ``getItemStatus`` is polled; a finished item's parameters come back from
``getItemDetails``, which is how re-roll and variation rebuild the request. Workflow templates
(API2) run as generations too: a job whose parameters name a ``workflow_template_name`` is enqueued
with ``2/enqueueWorkflow`` and its items are polled like any other.

Signing an account in needs no special client: with an empty ``secret``,
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from bot.backends.aimg.cache import Cached
from bot.backends.aimg.errors import (
    STRINGS,
    malformed,
    validated_list,
)
from bot.backends.aimg.items import ITEM_VERBS, VOTE_REACHED, parse_verb, result_buttons
from bot.backends.aimg.library import AimgLibrary
from bot.backends.aimg.models import (
    WORKFLOW_PARAM,
    AimgItem,
    AimgItemDetails,
    AimgMessage,
    AimgModel,
    AimgOutcome,
    AimgParams,
    AimgPrompt,
    AimgQueueLength,
    AimgSelfUser,
    AimgSnapshot,
    AimgStatus,
    AimgVideoParams,
    AimgWorkflowHandle,
    AimgWorkflowRequest,
    AimgWorkflowState,
    AimgWorkflowTemplate,
)
from bot.backends.aimg.status import job_status, split_task, to_snapshot, workflow_failure, workflow_task
from bot.backends.aimg.transport import AimgTransport, Query, parse_models
from bot.backends.aimg.validation import (
    DEFAULT_IMAGE_MODEL,
    build_request,
    build_workflow_request,
    default_params,
    listing,
    request_problems,
    validate_params,
    workflow_problems,
)
from bot.backends.base import AccountOption, Capability, ItemOutcome
from bot.domain import Account, BackendError, ErrorKind, JobStatus, SubmitResult, TaskSnapshot
from bot.i18n import Msg, joined, tr

log = logging.getLogger(__name__)

#: How far a variation strays from its parent when the parent was not a variation itself.
VARIATION_STRENGTH = 0.3
MODELS_TTL_SECONDS = 600.0
#: Seeds are drawn from the usual Stable Diffusion range.
_SEED_LIMIT = 2**32
#: Waiting items whose model is kept at most (see AimgBackend._queue_length).
_WAITING_KEPT = 1024
#: reportItems' category when none is given (the service's default).
DEFAULT_REPORT_QUEUE = "Not Specified"


#: The account options this backend reads (see :func:`bot.backends.check_options`).
OPTIONS = {"model": AccountOption(re.compile(r"[\w.\-]{1,64}"), DEFAULT_IMAGE_MODEL)}


class AimgBackend(AimgLibrary):
    """One AIMG account (a session id). Implements :class:`bot.backends.base.Backend`.

    ``account.options``: ``model`` is the model ``imagine`` uses (default: ``f222``, docs/backends/aimg.md).
    The model list, the report queues and the workflow templates are cached for ``models_ttl``
    seconds; ``get_models(refresh=True)`` (and the others' ``refresh``) reloads one.
    """

    service: ClassVar[str] = "AIMG"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.GENERATE, Capability.ITEMS})

    def __init__(
        self,
        account: Account,
        http: httpx.AsyncClient,
        *,
        models_ttl: float = MODELS_TTL_SECONDS,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(AimgTransport(account.base_url, account.secret, http))
        self.default_model = account.options.get("model") or DEFAULT_IMAGE_MODEL
        self._rng = rng or random.SystemRandom()
        self._models = Cached(self._load_models, models_ttl, clock)
        self._report_queues = Cached(self._load_report_queues, models_ttl, clock)
        self._workflow_templates = Cached(self._load_workflow_templates, models_ttl, clock)
        self._sample_prompts = Cached(self._load_sample_prompts, models_ttl, clock)
        self._self_user = Cached(self.get_self_user, models_ttl, clock)
        #: The model of each item seen waiting in AIMG's queue (see _queue_length).
        self._waiting_models: dict[str, str] = {}

    # --- Backend protocol ---------------------------------------------------------------------

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """generateImage with the account's model and that model's defaults (AIMG has no hooks)."""
        if images:
            raise BackendError(
                ErrorKind.INVALID_INPUT, tr("AIMG generates from text only; remove the images.")
            )
        model = await self.get_model(self.default_model)
        params = default_params(model, prompt)
        problems = validate_params(model, params)
        if problems:
            raise BackendError(ErrorKind.INVALID_INPUT, joined(problems))
        return _submitted(await self.generate_image(params))

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """``aimg:reroll`` or ``aimg:variation`` on task ``task_id``'s (first) item; item verbs go
        to item_action."""
        verb = parse_verb(custom_id)
        item_id, _ = split_task(task_id)
        if verb == "reroll":
            return await self.reroll(item_id)
        if verb == "variation":
            return _submitted(await self.variation(item_id))
        raise BackendError(
            ErrorKind.INVALID_INPUT, f"{custom_id} does not start a generation; it is an item action."
        )

    async def fetch(self, task_id: str) -> AimgSnapshot | None:
        """getItemStatus of the task's (first) item; while it waits, the length of its queue;
        once finished, getItemDetails (for the prompt and the buttons). A workflow run's state
        (``2/getWorkflowStatus``) also gives its own error and every item of its batch."""
        item_id, workflow_id = split_task(task_id)
        try:
            status = await self.get_item_status(item_id)
            run = await self._run(workflow_id) if workflow_id else None
        except BackendError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return None
            raise
        state = job_status(status)
        if run is not None and (run.is_error or state is JobStatus.FAILURE):
            reason = workflow_failure(self._api.hide_session(run.error_message or ""))
            return AimgSnapshot(task_id=task_id, status=JobStatus.FAILURE, fail_reason=reason)
        if state is JobStatus.SUBMITTED:
            return to_snapshot(status, task_id=task_id, queue_length=await self._queue_length(item_id))
        self._waiting_models.pop(item_id, None)
        if state is not JobStatus.SUCCESS:
            return to_snapshot(status, task_id=task_id)
        if run is not None and not run.is_complete:
            # The batch's first item is done, the others still run.
            done = sum(1 for f in run.output_files if f.download_url)
            progress = min(99, 100 * done // max(len(run.item_ids), 1))
            return AimgSnapshot(task_id=task_id, status=JobStatus.IN_PROGRESS, progress=progress)
        details = await self.get_item_details(item_id)
        model = await self._known_model(details.model_id)
        buttons = result_buttons(
            # A workflow's item is re-run by its template, which may not take a subseed.
            supports_variations=model is not None
            and model.supports_variations
            and not details.workflow_template_name,
            video=details.mtype == "video",
        )
        urls = await self._batch_urls(status, run.item_ids) if run is not None else []
        return to_snapshot(
            status, task_id=task_id, buttons=buttons, prompt=details.prompt or None, result_urls=urls
        )

    async def _run(self, workflow_id: str) -> AimgWorkflowState | None:
        return next(iter(await self.get_workflow_status(workflow_id)), None)

    async def _batch_urls(self, first: AimgStatus, item_ids: Sequence[str]) -> list[str]:
        """Every finished image of a batch, its first item's first (each asked with getItemStatus)."""
        others = [i for i in item_ids if i != first.image_id]
        statuses = [first, *await asyncio.gather(*(self.get_item_status(i) for i in others))]
        return [s.url for s in statuses if s.url and job_status(s) is JobStatus.SUCCESS]

    async def _queue_length(self, item_id: str) -> int | None:
        """How many wait in the queue item ``item_id`` waits in (getQueuesLength): its model's
        priority (``-p1-``) queues for a PRO user, its other queues else; None when AIMG does not
        say. The item's model is asked once (getItemDetails) and kept while it waits."""
        try:
            model = self._waiting_models.get(item_id) or (await self.get_item_details(item_id)).model_id
            if len(self._waiting_models) >= _WAITING_KEPT:
                self._waiting_models.clear()  # items that never left the queue (timed out)
            self._waiting_models[item_id] = model
            pro = (await self._self_user.get()).tier > 0
            queues = await self.get_queues_length([model])
        except BackendError:
            return None
        lengths = [q.queue_length for q in queues if q.model_id == model and ("-p1-" in q.queue_id) == pro]
        return sum(lengths) if lengths else None

    def parse_push(self, body: Any) -> TaskSnapshot:
        raise BackendError(ErrorKind.INVALID_INPUT, "AIMG does not push updates; poll with fetch().")

    async def generate(self, params: Mapping[str, str], *, state: str = "") -> SubmitResult:
        """generateImage, or generateVideo for a video model, from a job's string parameters
        (see :func:`build_request`; ``model_name`` defaults to the account's model); a workflow
        run when they name a template (``WORKFLOW_PARAM``, see :func:`build_workflow_request`)."""
        if params.get(WORKFLOW_PARAM):
            run, problems = await self.check_workflow(params)
            if problems:
                raise BackendError(ErrorKind.INVALID_INPUT, joined(problems))
            return await self.run_workflow(run)
        model = await self.get_model(params.get("model_name") or self.default_model)
        problems = request_problems(model, params)
        if problems:
            raise BackendError(ErrorKind.INVALID_INPUT, joined(problems))
        request = build_request(model, params)
        if isinstance(request, AimgVideoParams):
            return _submitted(await self.generate_video(request))
        return _submitted(await self.generate_image(request))

    # --- generation ---------------------------------------------------------------------------

    async def generate_image(self, params: AimgParams) -> AimgStatus:
        return await self._api.status("POST", "generateImage", body=params)

    async def generate_video(self, params: AimgVideoParams) -> AimgStatus:
        return await self._api.status("POST", "generateVideo", body=params)

    async def get_item_status(self, item_id: str) -> AimgStatus:
        return await self._api.status("GET", "getItemStatus", query={"imageID": item_id})

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
            raise BackendError(
                ErrorKind.INVALID_INPUT, tr("{model} does not support variations.", model=model.name)
            )
        # A variation of a variation keeps its strength; a first variation gets the house default.
        subseed_strength = strength or details.subseed_strength or VARIATION_STRENGTH
        params = details.image_params().model_copy(
            update={"subseed": self._rng.randrange(_SEED_LIMIT), "subseed_strength": subseed_strength}
        )
        return await self.generate_image(params)

    # --- models and service info --------------------------------------------------------------

    async def get_models(self, *, refresh: bool = False) -> list[AimgModel]:
        """Every model, in the order the service gives (front-ends keep it: docs/backends/aimg.md)."""
        return list(await self._models.get(refresh=refresh))

    async def _load_models(self) -> list[AimgModel]:
        return parse_models((await self._api.call("GET", "getModels")).payload)

    async def get_model(self, model_id: str) -> AimgModel:
        """One model; reloads the list once if it is unknown (a model may be new since the last load)."""
        model = await self._known_model(model_id)
        if model is not None:
            return model
        models = await self.get_models(refresh=True)
        model = next((m for m in models if m.model_id == model_id), None)
        if model is None:
            available = listing([m.model_id for m in models])
            raise BackendError(
                ErrorKind.INVALID_INPUT,
                tr(
                    "Unknown AIMG model {model} (available: {available}).",
                    model=repr(model_id),
                    available=available,
                ),
            )
        return model

    async def _known_model(self, model_id: str) -> AimgModel | None:
        return next((m for m in await self.get_models() if m.model_id == model_id), None)

    async def get_queues_length(self, model_ids: Sequence[str] = ()) -> list[AimgQueueLength]:
        query: Query = {"modelIDs": ",".join(model_ids)} if model_ids else {}
        envelope = await self._api.call("GET", "getQueuesLength", query=query)
        return validated_list(AimgQueueLength, envelope.payload, "getQueuesLength")

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
        query: Query = {"randomOne": "true"} if random_one else {}
        envelope = await self._api.call("GET", "getSamplePrompts", query=query)
        return validated_list(AimgPrompt, envelope.payload, "getSamplePrompts")

    # --- items --------------------------------------------------------------------------------

    async def get_item(self, item_id: str) -> AimgItem:
        return await self._api.object("GET", "getItem", AimgItem, query={"imageID": item_id})

    async def get_item_details(self, item_id: str) -> AimgItemDetails:
        return await self._api.object("GET", "getItemDetails", AimgItemDetails, query={"imageID": item_id})

    async def item_action(
        self,
        task_id: str,
        custom_id: str,
        *,
        report_queue: str | None = None,
        information: str | None = None,
    ) -> ItemOutcome:
        """``aimg:like|unlike|dislike|undislike|delete|report`` on task ``task_id``'s item (every
        item of a workflow run's batch); the outcome, its first item's, says whether it took
        effect. ``report_queue`` and ``information`` go with a report."""
        verb = parse_verb(custom_id)
        if verb not in ITEM_VERBS:
            raise BackendError(ErrorKind.INVALID_INPUT, f"{custom_id} starts a generation; use action().")
        item_id, workflow_id = split_task(task_id)
        run = await self._run(workflow_id) if workflow_id else None
        calls: dict[str, Callable[[Sequence[str]], Awaitable[list[AimgOutcome]]]] = {
            "like": self.like_items,
            "unlike": self.unlike_items,
            "dislike": self.dislike_items,
            "undislike": self.undislike_items,
            "delete": self.delete_items,
        }
        ids = [item_id, *(i for i in run.item_ids if i != item_id)] if run is not None else [item_id]
        outcomes = await (
            self.report_items(ids, report_queue=report_queue, information=information)
            if verb == "report"
            else calls[verb](ids)
        )
        outcome = next((o for o in outcomes if o.id == item_id), AimgOutcome(id=item_id, success=False))
        if not outcome.success and verb in VOTE_REACHED:
            # AIMG keeps one vote per AIMG account, and members who share the server's account
            # share it: when another member's click already left the item as asked, this one
            # holds too (rather than fail with "already liked").
            item = await self.get_item(item_id)
            if VOTE_REACHED[verb](item):
                return ItemOutcome(success=True)
        return ItemOutcome(success=outcome.success, message=outcome.message)

    async def get_report_queues(self, *, refresh: bool = False) -> list[str]:
        """The categories a report may name, in the service's order (cached like the models)."""
        return list(await self._report_queues.get(refresh=refresh))

    async def _load_report_queues(self) -> list[str]:
        envelope = await self._api.call("GET", "getReportQueues")
        try:
            return STRINGS.validate_python(envelope.payload or [])
        except ValidationError as exc:
            raise malformed("getReportQueues", exc) from None

    # --- API2 workflows -----------------------------------------------------------------------

    async def get_workflow_templates(self, *, refresh: bool = False) -> list[AimgWorkflowTemplate]:
        """Every workflow template (PRO tier > 0 only: AIMG answers an error otherwise), cached."""
        return list(await self._workflow_templates.get(refresh=refresh))

    async def _load_workflow_templates(self) -> list[AimgWorkflowTemplate]:
        path = "2/getAggregatedWorkflowTemplates"
        return validated_list(AimgWorkflowTemplate, (await self._api.call("GET", path)).payload, path)

    async def check_workflow(self, params: Mapping[str, str]) -> tuple[AimgWorkflowRequest, list[Msg]]:
        """The request a workflow job's parameters make, and everything its template would refuse
        (an unknown template too). The list is reloaded once for a name it lacks."""
        request = build_workflow_request(params)
        name = request.workflow_template_name
        templates = await self.get_workflow_templates()
        if all(t.name != name for t in templates):
            templates = await self.get_workflow_templates(refresh=True)
        template = next((t for t in templates if t.name == name), None)
        if template is None:
            if not templates:
                return request, [
                    tr("There is no workflow template {name}; this account has none.", name=repr(name))
                ]
            available = listing([t.name for t in templates])
            return request, [
                tr(
                    "There is no workflow template {name}; choose one of: {available}.",
                    name=repr(name),
                    available=available,
                )
            ]
        return request, workflow_problems(template, request)

    async def run_workflow(self, request: AimgWorkflowRequest) -> SubmitResult:
        """Enqueue a workflow; the job follows its first item, and the workflow for its error and
        the rest of its batch (the task id holds both, :func:`workflow_task`)."""
        handle = await self.enqueue_workflow(request)
        if not handle.item_ids:
            raise BackendError(ErrorKind.UNAVAILABLE, "AIMG started the workflow but named no item.")
        return SubmitResult(task_id=workflow_task(handle.item_ids[0], handle.workflow_id))

    async def enqueue_workflow(self, request: AimgWorkflowRequest) -> AimgWorkflowHandle:
        """Start a workflow (PRO tier > 0 only); its item ids can be polled with get_item_status too."""
        return await self._api.object("POST", "2/enqueueWorkflow", AimgWorkflowHandle, body=request)

    async def get_workflow_status(self, *workflow_ids: str) -> list[AimgWorkflowState]:
        if not workflow_ids:
            return []
        query: Query = (
            {"workflowId": workflow_ids[0]}
            if len(workflow_ids) == 1
            else {"workflowIds": ",".join(workflow_ids)}
        )
        envelope = await self._api.call("GET", "2/getWorkflowStatus", query=query)
        # One id may answer an object, several an array (docs/backends/aimg.md).
        payload = envelope.payload if isinstance(envelope.payload, list) else [envelope.payload]
        return validated_list(AimgWorkflowState, payload, "2/getWorkflowStatus")

    # --- users and sessions -------------------------------------------------------------------

    async def get_self_user(self) -> AimgSelfUser:
        """The account's user (tier, signed in or not). Without a session: a new anonymous one."""
        return await self._api.object("GET", "getSelfUser", AimgSelfUser)

    async def request_otp(self, email: str, *, sign_up: bool = False) -> AimgMessage:
        """Email a one-time password to ``email`` (first step of signing the session in)."""
        body: dict[str, Any] = {"email": email, "signUp": True} if sign_up else {"email": email}
        return await self._api.object("POST", "requestOTP", AimgMessage, body=body)

    async def authenticate_user(self, email: str, otp: str, *, adult_confirmed: bool = False) -> AimgSelfUser:
        """Sign this session in with the emailed OTP; the answer's session id is the account secret.

        ``adult_confirmed``: the member confirmed being 18 or older (AIMG remembers it). A code AIMG
        refuses is BackendError(INVALID_INPUT): the same code request stands, the code may be retyped.
        """
        body: dict[str, Any] = {"email": email, "otp": otp}
        if adult_confirmed:
            body["isAtLeast18Confirmed"] = True
        try:
            return await self._api.object("POST", "authenticateUser", AimgSelfUser, body=body)
        except BackendError as exc:
            if "otp" not in exc.detail.lower():
                raise
            raise BackendError(
                ErrorKind.INVALID_INPUT, "The one-time code is wrong or has expired."
            ) from None

    async def sign_out(self) -> AimgMessage:
        return await self._api.object("POST", "signOutUser", AimgMessage)


def _submitted(status: AimgStatus) -> SubmitResult:
    return SubmitResult(task_id=status.image_id, queue_position=status.queue_position)
