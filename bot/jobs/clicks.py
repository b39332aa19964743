"""A result's buttons: the bot's own added to those its backend offers, and what a click on one
means (one decision: an answer to the member, a form first, or a new job)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.backends.base import SEED_BUTTON, Capability
from bot.backends.picks import IMAGINE_ALL
from bot.domain import BackendKind, Job, JobKind, ResultButton, TaskSnapshot
from bot.i18n import joined, tr
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError, cannot
from bot.store import Store

#: Our own button on a GENERATE result: reopen its parameters in a modal for a new generation.
USE_SETTINGS = "mjbot:use_settings"
#: midjourney-proxy's ❤️ (a bookmark): no new task, see JobEngine.bookmark.
_BOOKMARK = "MJ::BOOKMARK::"
#: With Remix on, these open a prompt editor first (as in Midjourney).
REMIX_KINDS = frozenset({JobKind.VARIATION, JobKind.REROLL, JobKind.PAN})


class Click(StrEnum):
    """What a click on a result button does."""

    SEED = "seed"  # ✉️: the result's seed, told to the member alone
    ITEM = "item"  # 👍 👎 🗑️ 🚩: an action on the service's item (AIMG), no job
    BOOKMARK = "bookmark"  # ❤️: pressed at the service, no job
    FORM = "form"  # a form first (``ClickPlan.form``); its submit presses the button
    REFUSE = "refuse"  # ``ClickPlan.refusal``, to the member alone
    PRESS = "press"  # a new job at once (JobEngine.press)


class Form(StrEnum):
    """The form a click opens before its job can start."""

    ZOOM = "zoom"  # Custom Zoom: the prompt and the zoom
    REGION = "region"  # Vary (Region): the prompt and the region (or the editor page's link)
    SETTINGS = "settings"  # "Use these settings": the generation's parameters
    REMIX = "remix"  # Remix mode: the prompt, edited


@dataclass(frozen=True)
class ClickPlan:
    does: Click
    form: Form | None = None
    refusal: str | None = None


def on_aimg(accounts: AccountPool, account_id: int | None) -> bool:
    account = accounts.get(account_id) if account_id is not None else None
    return account is not None and account.kind is BackendKind.AIMG


def is_bookmark(job: Job, index: int) -> bool:
    """Whether button ``index`` is midjourney-proxy's ❤️, which makes no image: the service
    answers with the pressed task's own id (docs/backends/midjourney-proxy.md)."""
    return 0 <= index < len(job.buttons) and job.buttons[index].custom_id.startswith(_BOOKMARK)


class Clicks:
    """The buttons a finished job shows, and the plan for a click on one (item actions, which
    are the AIMG part's, are decided before this)."""

    def __init__(self, store: Store, accounts: AccountPool) -> None:
        self._store = store
        self._accounts = accounts

    def result_buttons(self, job: Job, snap: TaskSnapshot) -> list[ResultButton]:
        """``job``'s buttons once ``snap`` finished it: its backend's, then the bot's own ("Imagine
        all" on a /describe, "Use these settings" on an AIMG generation and its follow-ups)."""
        buttons = list(snap.buttons)
        if job.kind is JobKind.DESCRIBE:
            buttons.append(ResultButton(custom_id=IMAGINE_ALL, label="Imagine all"))
        if job.kind is JobKind.GENERATE or (job.parent_job_id and on_aimg(self._accounts, job.account_id)):
            buttons.append(ResultButton(custom_id=USE_SETTINGS, label="Use these settings", emoji="⚙️", row=0))
        return buttons

    async def plan(self, job: Job, index: int, *, user_id: int) -> ClickPlan:
        """What ``user_id``'s click on button ``index`` of finished ``job`` does."""
        if not 0 <= index < len(job.buttons):
            raise UserError(tr("This button is no longer available. Run /imagine again."))
        button = job.buttons[index]
        if button.custom_id == SEED_BUTTON:
            return ClickPlan(Click.SEED)
        if is_bookmark(job, index):
            return ClickPlan(Click.BOOKMARK)
        if button.is_custom_zoom:
            return ClickPlan(Click.FORM, Form.ZOOM)
        if button.is_vary_region:
            return ClickPlan(Click.FORM, Form.REGION)
        if button.custom_id == USE_SETTINGS:
            return ClickPlan(Click.FORM, Form.SETTINGS)
        if button.kind in REMIX_KINDS and (await self._store.user_prefs(job.guild_id, user_id)).remix:
            if self._supports_remix(job):
                return ClickPlan(Click.FORM, Form.REMIX)
            refusal = self._remix_refusal(job)
            if refusal is not None:
                return ClickPlan(Click.REFUSE, refusal=refusal)
        return ClickPlan(Click.PRESS)

    def _supports_remix(self, job: Job) -> bool:
        """Whether the account that made ``job`` can run its buttons with an edited prompt."""
        if job.account_id is None or not self._accounts.usable(job.account_id):
            return False
        return Capability.REMIX in self._accounts.backend(job.account_id).capabilities

    def _remix_refusal(self, job: Job) -> str | None:
        """Why ``job``'s buttons cannot be pressed with Remix on: its service keeps the account's
        own Remix mode (so Midjourney asks for a prompt) but cannot send one. None when they can."""
        if job.account_id is None or not self._accounts.usable(job.account_id):
            return None
        backend = self._accounts.backend(job.account_id)
        if Capability.SETTINGS not in backend.capabilities or Capability.REMIX in backend.capabilities:
            return None
        return joined(
            [cannot(Capability.REMIX, backend.service), tr("Turn Remix off in /settings to use this button.")]
        )
