"""The engine's AIMG part: the account a member's AIMG commands use, the actions on a result's
item (👍 👎 🗑️ 🚩, the backend's ``ITEMS`` capability), a member's own signed-in session, the
checks before a generation is queued, and the per-model limit on jobs in flight.

Cogs reach AIMG only through here: they never hold a client (docs/architecture.md, AIMG).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, cast

from bot.backends.aimg import (
    DEFAULT_VIDEO_MODEL,
    WORKFLOW_PARAM,
    AimgBackend,
    AimgItem,
    AimgItemDetails,
    AimgModel,
    AimgPage,
    AimgPrompt,
    AimgWorkflowTemplate,
    parse_verb,
    request_problems,
    vote_of,
    vote_verb,
)
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.backends.base import Capability, SupportsItems
from bot.domain import MEMBER_SOURCE, Account, BackendError, BackendKind, Job
from bot.i18n import Msg, tr
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.prompt_rules import text_problem
from bot.logs import job_fields
from bot.store import Store

log = logging.getLogger(__name__)

#: How a member's /aimg logout ended: signed out at AIMG too, only forgotten here, or nothing linked.
Unlinked = Literal["signed_out", "here_only", "none"]
#: Seconds /aimg logout waits for AIMG's sign-out before forgetting the session anyway.
SIGN_OUT_WAIT = 10.0
#: Result buttons that act on the backend's item and start no job, with what the member reads.
ITEM_ACTIONS: dict[str, Msg] = {
    aimg_custom_id("like"): tr("👍 Liked."),
    aimg_custom_id("unlike"): tr("👍 Like removed."),
    aimg_custom_id("dislike"): tr("👎 Disliked."),
    aimg_custom_id("undislike"): tr("👎 Dislike removed."),
    aimg_custom_id("delete"): tr("🗑️ Deleted from the image service."),
    aimg_custom_id("report"): tr("🚩 Reported to the image service's moderators. Thank you."),
}
NO_ACCOUNT = tr("This server has no AIMG account for this channel. Ask a server admin to set one up.")
_GONE = tr("This button is no longer available.")
_AIMG = frozenset({BackendKind.AIMG})
#: The account that acts for a member on a job's item: (job, user id, channel id) → account id.
ActingAccount = Callable[[Job, int, int], "int | None"]


@dataclass(frozen=True)
class Creations:
    """One page of an account's creations, with each item's details (None: unreadable)."""

    page: AimgPage
    details: list[AimgItemDetails | None]


class AimgPart:
    """The engine's AIMG part (``JobEngine.aimg``)."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        *,
        acting_account: ActingAccount,
        reload_accounts: Callable[[], Awaitable[None]],
    ) -> None:
        self._store, self._accounts = store, accounts
        self._acting_account, self._reload_accounts = acting_account, reload_accounts

    # ---------------------------------------------------------------------------- accounts

    def account(self, guild_id: int, channel_id: int, user_id: int) -> Account | None:
        """The AIMG account a member's generations here use: their own linked account when they
        have one, else the first usable shared AIMG account of the channel."""
        own = [
            a
            for a in self._accounts.for_guild(guild_id)
            if a.source == MEMBER_SOURCE and a.options.get("owner_id") == str(user_id)
        ]
        shared = self._accounts.shared(guild_id, channel_id, _AIMG)
        for account in own + shared:
            if self._accounts.usable(account.id) and isinstance(
                self._accounts.backend(account.id), AimgBackend
            ):
                return account
        return None

    def _client(self, account: Account) -> AimgBackend:
        backend = self._accounts.backend(account.id)
        if not isinstance(backend, AimgBackend):
            raise UserError(NO_ACCOUNT)
        return backend

    def default_model(self, account: Account) -> str:
        return self._client(account).default_model

    async def models(self, account: Account) -> list[AimgModel]:
        return await self._client(account).get_models()

    async def sample_prompts(self, account: Account) -> list[AimgPrompt]:
        return await self._client(account).sample_prompts()

    async def workflow_templates(self, account: Account) -> list[AimgWorkflowTemplate]:
        return await self._client(account).get_workflow_templates()

    async def creations(self, account: Account, index: str | None, limit: int) -> Creations:
        """Page ``index`` of the account's creations (None: the first), with each item's details
        (getMyCreations has neither prompt nor model, getItemDetails has)."""
        client = self._client(account)
        page = await client.get_my_creations(pagination_index=index, limit=limit)

        async def details(item: AimgItem) -> AimgItemDetails | None:
            try:
                return await client.get_item_details(item.id)
            except BackendError:
                return None  # its card shows what getMyCreations said

        return Creations(page, list(await asyncio.gather(*(details(item) for item in page.items))))

    async def check_generation(
        self, account: Account, prompt: str, params: dict[str, str], *, video: bool
    ) -> tuple[dict[str, str], list[Msg]]:
        """The parameters as the job will keep them, and everything the chosen model (or workflow
        template) and the account would refuse in them. ``video`` asks for a video: the default
        video model unless ``params`` names a model (which must be one)."""
        client = self._client(account)
        if params.get(WORKFLOW_PARAM):
            _, problems = await client.check_workflow({**params, "prompt": prompt})
            return params, problems
        model = await client.get_model(
            params.get("model_name") or (DEFAULT_VIDEO_MODEL if video else client.default_model)
        )
        user = await client.get_self_user()
        problems = request_problems(model, {**params, "prompt": prompt}, user=user)
        if video and not model.is_video:
            problems.append(
                tr("{model} makes images; choose a video model or leave video off.", model=model.name)
            )
        return {**params, "model_name": model.model_id}, problems

    # ------------------------------------------------------------------------------ sign-in

    def _session(self, guild_id: int, base_url: str, session_id: str) -> AimgBackend:
        account = Account(
            id=0,
            guild_id=guild_id,
            name="aimg-login",
            kind=BackendKind.AIMG,
            base_url=base_url,
            secret=session_id,
        )
        return AimgBackend(account, self._accounts.http_for_url(base_url))

    async def start_sign_in(self, guild_id: int, base_url: str, email: str) -> str:
        """A fresh AIMG session that asked for a one-time code sent to ``email``; its id."""
        fresh = await self._session(guild_id, base_url, "").get_self_user()
        await self._session(guild_id, base_url, fresh.session_id).request_otp(email)
        return fresh.session_id

    async def finish_sign_in(
        self, guild_id: int, base_url: str, session_id: str, email: str, code: str
    ) -> str:
        """Sign the pending session in with the emailed code, the member having confirmed they are
        18 or older; the signed-in session id. BackendError(INVALID_INPUT): the code may be retyped."""
        user = await self._session(guild_id, base_url, session_id).authenticate_user(
            email, code, adult_confirmed=True
        )
        return user.session_id

    async def link_member_account(
        self, *, guild_id: int, user_id: int, base_url: str, session_id: str, email: str
    ) -> Account:
        """Store a member's signed-in AIMG session; their generations here use it from now on."""
        account = await self._store.link_member_account(
            guild_id=guild_id, user_id=user_id, base_url=base_url, session_id=session_id, email=email
        )
        self._accounts.put(account)
        return account

    async def unlink_member_account(self, guild_id: int, user_id: int) -> Unlinked:
        """Sign a member's own AIMG session out at AIMG and forget it here. "here_only": AIMG did
        not confirm the sign-out (its session may live on); "none": they had no account linked."""
        account = await self._store.member_account(guild_id, user_id)
        if account is None:
            return "none"
        signed_out = await self._sign_out(account)
        await self._store.remove_account(account.id)
        await self._reload_accounts()
        return "signed_out" if signed_out else "here_only"

    async def _sign_out(self, account: Account) -> bool:
        backend = self._accounts.backend(account.id) if self._accounts.get(account.id) else None
        if not isinstance(backend, AimgBackend):
            return False
        try:
            async with asyncio.timeout(SIGN_OUT_WAIT):
                # success False means the session had already ended: it is over either way.
                await backend.sign_out()
        except (BackendError, TimeoutError) as exc:
            log.info("account %s: AIMG sign-out failed (%s)", account.id, type(exc).__name__)
            return False
        return True

    # -------------------------------------------------------------------------------- items

    @staticmethod
    def is_item_action(job: Job, index: int) -> bool:
        """Whether button ``index`` acts on the backend's item (like, delete…) rather than start a job."""
        return 0 <= index < len(job.buttons) and job.buttons[index].custom_id in ITEM_ACTIONS

    def _item_backend(self, job: Job, index: int, user_id: int) -> tuple[SupportsItems, str]:
        """The item actions of the account that acts for ``user_id`` on ``job``'s item (the one
        that made it, see JobEngine._acting_account), and the item's id; a UserError when the
        button or the account is gone."""
        if not self.is_item_action(job, index) or job.backend_task_id is None:
            raise UserError(_GONE)
        account_id = self._acting_account(job, user_id, job.channel_id)
        if account_id is None or not self._accounts.usable(account_id):
            raise UserError(tr("The account that made this image is not available any more."))
        backend = self._accounts.backend(account_id)
        if Capability.ITEMS not in backend.capabilities:
            raise UserError(_GONE)
        return cast(SupportsItems, backend), job.backend_task_id

    async def report_queues(self, job: Job, index: int, user_id: int) -> list[str]:
        """The categories a report on ``job``'s item may name (cached by the backend)."""
        backend, _ = self._item_backend(job, index, user_id)
        return await backend.get_report_queues()

    async def item_action(
        self,
        job: Job,
        index: int,
        *,
        user_id: int,
        report_queue: str | None = None,
        details: str | None = None,
    ) -> Msg:
        """Like, dislike, delete or report the item a finished job made; the sentence to show.

        👍 and 👎 toggle: the member's vote on the item is stored, and the same button again takes
        it back. A report goes in ``report_queue`` (AIMG's category) with the member's ``details``."""
        problem = text_problem(details or "", "report")
        if problem:
            raise UserError(problem)
        backend, item_id = self._item_backend(job, index, user_id)
        custom_id = job.buttons[index].custom_id
        pressed = vote_of(custom_id)
        vote: str | None = None
        if pressed is not None:
            toggled, vote = vote_verb(pressed, await self._store.aimg_vote(job.id, user_id))
            custom_id = aimg_custom_id(toggled)
        try:
            outcome = await backend.item_action(
                item_id, custom_id, report_queue=report_queue, information=details
            )
        except BackendError as exc:
            raise UserError(exc.user_message) from None
        verb = parse_verb(custom_id)
        done = "done" if outcome.success else "refused"
        log.info("job %s: %s by %s: %s", job.id, verb, user_id, done, extra=job_fields(job, BackendKind.AIMG))
        if not outcome.success:
            raise UserError(_not_done(verb, outcome.message))
        if pressed is not None:
            await self._store.set_aimg_vote(job.id, user_id, vote)
        if report_queue:
            return tr(
                "🚩 Reported as {category}. Thanks: AIMG's moderators will review it.", category=report_queue
            )
        return ITEM_ACTIONS[custom_id]

    async def member_vote(self, job_id: int, user_id: int) -> str | None:
        """The member's 👍 ("like") or 👎 ("dislike") on job ``job_id``'s item; None: no vote."""
        return await self._store.aimg_vote(job_id, user_id)

    # -------------------------------------------------------------------- per-model limits

    async def model_slot(self, job: Job, account_id: int) -> tuple[tuple[int, str], int] | None:
        """For a job on an AIMG account: (account, model) and how many of that model the account
        may run at once (AIMG's per-tier limit, docs/backends/aimg.md); None: no such limit."""
        backend = self._accounts.backend(account_id)
        model = backend.model_of(job.params) if isinstance(backend, AimgBackend) else None
        if not isinstance(backend, AimgBackend) or model is None:
            return None
        try:
            return (account_id, model), await backend.concurrency(model)
        except BackendError:
            return None  # unknown here: AIMG's own refusal (retried as queue full) still guards

    async def model_load(self, in_flight: Iterable[tuple[Job, int | None]]) -> Counter[tuple[int, str]]:
        """Jobs in flight per (AIMG account, model), from each live job and its account."""
        load: Counter[tuple[int, str]] = Counter()
        for job, account_id in in_flight:
            if job.status.terminal or account_id is None or not self._accounts.get(account_id):
                continue
            backend = self._accounts.backend(account_id)
            model = backend.model_of(job.params) if isinstance(backend, AimgBackend) else None
            if model is not None:
                load[(account_id, model)] += 1
        return load


#: What a member reads when AIMG refused an item action, by its verb (with AIMG's own words, when
#: it gave any, as it wrote them).
_NOT_DONE: dict[str, Msg] = {
    "like": tr("The image service did not like this item."),
    "unlike": tr("The image service did not remove the like from this item."),
    "dislike": tr("The image service did not dislike this item."),
    "undislike": tr("The image service did not remove the dislike from this item."),
    "delete": tr("The image service did not delete this item."),
    "report": tr("The image service did not report this item."),
}


def _not_done(verb: str, said: str | None) -> Msg:
    sentence = _NOT_DONE[verb]  # an item action's verb: ITEM_ACTIONS holds the button
    return tr("{sentence} (Service said: {detail})", sentence=sentence, detail=said) if said else sentence
