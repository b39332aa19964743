"""Intake alone: a command or a press is checked, stored QUEUED and handed to dispatch; a /describe
pick becomes a new /imagine, a follow-up stays on its parent's account, an item action starts no
job, a member's own AIMG account acts for its owner alone, and a cancel is written once."""

from __future__ import annotations

import pytest

from bot.backends.picks import IMAGINE_ALL
from bot.config import JobSettings
from bot.domain import Account, BackendKind, Job, JobKind, JobStatus, ResultButton
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter, UserError
from bot.jobs.intake import Intake
from bot.jobs.rules import Rules
from bot.metrics import Metrics
from bot.store import Store
from tests.jobs.conftest import CHANNEL, GUILD, Seen, add_account, make_dispatcher, make_tracker, queue

BOB = 100
LIKE = "like"


class Items:
    """The AIMG part's side of a click: item buttons are those whose id is LIKE."""

    def __init__(self, shared: Account | None = None) -> None:
        self.acted: list[tuple[int, int, int]] = []
        self.shared = shared

    def is_item_action(self, job: Job, index: int) -> bool:
        return job.buttons[index].custom_id == LIKE

    async def item_action(self, job: Job, index: int, *, user_id: int) -> str:
        self.acted.append((job.id, index, user_id))
        return "👍 Liked."

    def account(self, guild_id: int, channel_id: int, user_id: int) -> Account | None:
        return self.shared


async def _sent(job: Job, account_id: int) -> None:
    """Dispatched jobs are left as they are: intake's part ends at the queue."""


def _intake(store: Store, pool: AccountPool, seen: Seen, items: Items | None = None) -> Intake:
    tracker = make_tracker(store, pool, seen)
    return Intake(
        store,
        pool,
        seen,
        JobSettings(),
        calls=CallCounter(pool, Metrics()),
        rules=Rules(store, pool),
        dispatcher=make_dispatcher(store, pool, seen, _sent, tracker),
        tracker=tracker,
        items=items or Items(),
    )


async def _finished(store: Store, job: Job, account_id: int, *buttons: ResultButton, **fields: object) -> Job:
    return await store.update_job(
        job.id,
        account_id=account_id,
        backend_task_id="t1",
        status=JobStatus.SUCCESS,
        buttons=list(buttons),
        **fields,
    )


async def test_a_command_is_checked_then_queued_and_shown(store: Store, pool: AccountPool) -> None:
    await add_account(store, pool, "proxy")
    seen = Seen()
    intake = _intake(store, pool, seen)
    with pytest.raises(UserError, match="The prompt is empty"):
        await intake.submit(JobKind.IMAGINE, guild_id=GUILD, channel_id=CHANNEL, owner_id=BOB, prompt="  ")
    with pytest.raises(UserError, match="Blend needs 2 to 5 images"):
        await intake.submit(JobKind.BLEND, guild_id=GUILD, channel_id=CHANNEL, owner_id=BOB, images=[b"x"])
    job = await intake.submit(
        JobKind.IMAGINE, guild_id=GUILD, channel_id=CHANNEL, owner_id=BOB, prompt=" a cat "
    )
    assert (job.status, job.prompt) == (JobStatus.QUEUED, "a cat")
    assert seen.jobs[0] == job


async def test_a_describe_pick_is_a_new_imagine_for_the_clicker(store: Store, pool: AccountPool) -> None:
    account = await add_account(store, pool, "proxy")
    intake = _intake(store, pool, Seen())
    described = await _finished(
        store, await queue(store, owner_id=BOB, kind=JobKind.DESCRIBE), account,
        ResultButton(custom_id=IMAGINE_ALL), result_text="1️⃣ a red fox\n\n2️⃣ a blue bird",
    )  # fmt: skip
    jobs = await intake.press(described, 0, user_id=200, channel_id=CHANNEL)
    assert [(j.kind, j.prompt, j.owner_id, j.account_id) for j in jobs] == [
        (JobKind.IMAGINE, "a red fox", 200, None),
        (JobKind.IMAGINE, "a blue bird", 200, None),
    ]


async def test_a_follow_up_runs_on_its_parents_account_and_an_item_action_starts_no_job(
    store: Store, pool: AccountPool
) -> None:
    account = await add_account(store, pool, "proxy")
    items = Items()
    intake = _intake(store, pool, Seen(), items)
    upscale = ResultButton(custom_id="MJ::JOB::upsample::1::h", kind=JobKind.UPSCALE)
    parent = await _finished(
        store, await queue(store, owner_id=BOB), account, upscale, ResultButton(custom_id=LIKE)
    )

    [job] = await intake.press(parent, 0, user_id=BOB, channel_id=CHANNEL, prompt="edited", remix=True)
    assert (job.kind, job.account_id, job.parent_job_id) == (JobKind.UPSCALE, account, parent.id)
    assert job.action_custom_id == upscale.custom_id
    assert job.params == {"prompt": "edited", "remix": "1"}
    assert await intake.press(parent, 1, user_id=BOB, channel_id=CHANNEL) == []
    assert items.acted == [(parent.id, 1, BOB)]
    running = await store.update_job(parent.id, status=JobStatus.IN_PROGRESS)
    with pytest.raises(UserError, match="no longer available"):
        await intake.press(running, 0, user_id=BOB, channel_id=CHANNEL)


async def test_a_members_own_account_acts_for_its_owner_and_others_use_theirs(
    store: Store, pool: AccountPool
) -> None:
    shared = await add_account(store, pool, "aimg", kind=BackendKind.AIMG)
    own = await store.link_member_account(
        guild_id=GUILD, user_id=BOB, base_url="http://127.0.0.1:9", session_id="s", email="bob@example.com"
    )
    accounts = await store.list_accounts()
    pool.sync(accounts, {a.id: "secret" for a in accounts})
    made = await _finished(store, await queue(store, owner_id=BOB, kind=JobKind.GENERATE), own.id)
    alone, items = _intake(store, pool, Seen()), Items(pool.get(shared))

    assert alone.acting_account(made, BOB, CHANNEL) == own.id
    assert _intake(store, pool, Seen(), items).acting_account(made, 200, CHANNEL) == shared
    with pytest.raises(UserError, match=f"made with <@{BOB}>'s own AIMG account"):
        alone.acting_account(made, 200, CHANNEL)


async def test_a_cancel_is_written_once(store: Store, pool: AccountPool) -> None:
    await add_account(store, pool, "proxy", kind=BackendKind.MJ_PROXY)
    seen = Seen()
    intake = _intake(store, pool, seen)
    job = await queue(store, owner_id=BOB)
    assert await intake.cancel(job.id) is None  # nothing ran at the service
    assert seen.jobs[-1].status is JobStatus.CANCELLED
    with pytest.raises(UserError, match="already finished"):
        await intake.cancel(job.id)
