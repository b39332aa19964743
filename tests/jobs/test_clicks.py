"""A click is one decision (JobEngine.click): an answer to the member, a form first, a refusal,
or a new job; and the bot's own buttons a result gets beside its backend's."""

from __future__ import annotations

import pytest

from bot.backends.aimg import custom_id as aimg_custom_id
from bot.backends.base import SEED_BUTTON
from bot.backends.picks import IMAGINE_ALL
from bot.config import JobSettings
from bot.domain import BackendKind, Job, JobKind, JobStatus, ResultButton, TaskSnapshot, UserPrefs
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.clicks import USE_SETTINGS, Click, ClickPlan, Clicks, Form
from bot.jobs.engine import JobEngine
from bot.store import Store
from tests.jobs.conftest import GUILD, Seen, add_account, queue

OWNER = 100
BUTTONS = [
    ResultButton(custom_id="MJ::JOB::upsample::1::h", label="U1", kind=JobKind.UPSCALE),
    ResultButton(custom_id="MJ::JOB::variation::1::h", label="V1", kind=JobKind.VARIATION),
    ResultButton(custom_id="MJ::CustomZoom::h", label="Custom Zoom", kind=JobKind.ZOOM),
    ResultButton(custom_id="MJ::Inpaint::1::h::SOLO", label="Vary (Region)", kind=JobKind.VARIATION),
    ResultButton(custom_id="MJ::BOOKMARK::h", emoji="❤️"),
    ResultButton(custom_id=SEED_BUTTON, emoji="✉️"),
    ResultButton(custom_id=USE_SETTINGS, label="Use these settings"),
    ResultButton(custom_id=aimg_custom_id("like"), emoji="👍"),
]
U1, V1, ZOOM, REGION, BOOKMARK, SEED, SETTINGS, LIKE = range(len(BUTTONS))


async def _finished(store: Store, pool: AccountPool, kind: BackendKind) -> Job:
    account = await add_account(store, pool, kind.value, kind=kind)
    job = await queue(store, owner_id=OWNER)
    return await store.update_job(
        job.id, account_id=account, backend_task_id="t1", status=JobStatus.SUCCESS, buttons=BUTTONS
    )


async def _remix(store: Store, on: bool) -> None:
    await store.set_user_prefs(GUILD, OWNER, UserPrefs(remix=on))


@pytest.mark.parametrize(
    ("index", "plan"),
    [
        (U1, ClickPlan(Click.PRESS)),
        (V1, ClickPlan(Click.PRESS)),
        (ZOOM, ClickPlan(Click.FORM, Form.ZOOM)),
        (REGION, ClickPlan(Click.FORM, Form.REGION)),
        (BOOKMARK, ClickPlan(Click.BOOKMARK)),
        (SEED, ClickPlan(Click.SEED)),
        (SETTINGS, ClickPlan(Click.FORM, Form.SETTINGS)),
        (LIKE, ClickPlan(Click.ITEM)),
    ],
)
async def test_each_button_is_one_decision(
    store: Store, pool: AccountPool, index: int, plan: ClickPlan
) -> None:
    job = await _finished(store, pool, BackendKind.MJ_PROXY)
    engine = JobEngine(store, pool, Seen(), JobSettings())
    assert await engine.click(job, index, user_id=OWNER) == plan


async def test_remix_opens_the_prompt_where_the_service_remixes(store: Store, pool: AccountPool) -> None:
    job = await _finished(store, pool, BackendKind.MJ_PROXY)
    clicks = Clicks(store, pool)
    assert await clicks.plan(job, V1, user_id=OWNER) == ClickPlan(Click.PRESS)
    await _remix(store, on=True)
    assert await clicks.plan(job, V1, user_id=OWNER) == ClickPlan(Click.FORM, Form.REMIX)
    assert await clicks.plan(job, U1, user_id=OWNER) == ClickPlan(Click.PRESS)  # an upscale has no remix


async def test_remix_is_refused_where_the_service_keeps_it_but_takes_no_prompt(
    store: Store, pool: AccountPool
) -> None:
    job = await _finished(store, pool, BackendKind.NEXTLEG)
    await _remix(store, on=True)
    plan = await Clicks(store, pool).plan(job, V1, user_id=OWNER)
    assert plan.does is Click.REFUSE
    assert plan.refusal == (
        "TheNextLeg can't remix prompts from the bot yet. Turn Remix off in /settings to use this button."
    )


async def test_a_button_that_is_gone_is_refused(store: Store, pool: AccountPool) -> None:
    job = await _finished(store, pool, BackendKind.MJ_PROXY)
    with pytest.raises(UserError, match="no longer available"):
        await Clicks(store, pool).plan(job, len(BUTTONS), user_id=OWNER)


async def test_the_bots_own_buttons_follow_the_backends(store: Store, pool: AccountPool) -> None:
    mj = await add_account(store, pool, "proxy")
    aimg = await add_account(store, pool, "aimg", kind=BackendKind.AIMG)
    clicks = Clicks(store, pool)
    snap = TaskSnapshot(task_id="t", status=JobStatus.SUCCESS, buttons=[BUTTONS[U1]])

    def added(kind: JobKind, **fields: int) -> list[str]:
        job = Job.model_validate({**base.model_dump(), "kind": kind, **fields})
        return [b.custom_id for b in clicks.result_buttons(job, snap)][1:]

    base = await queue(store, owner_id=OWNER)
    assert added(JobKind.IMAGINE, account_id=mj) == []
    assert added(JobKind.DESCRIBE, account_id=mj) == [IMAGINE_ALL]
    assert added(JobKind.GENERATE, account_id=aimg) == [USE_SETTINGS]
    assert added(JobKind.UPSCALE, account_id=aimg, parent_job_id=base.id) == [USE_SETTINGS]
    assert added(JobKind.UPSCALE, account_id=mj, parent_job_id=base.id) == []
