"""How the engine's parts call a backend: any exception becomes a BackendError, a capability is
used only where its backend declares it, and every call is counted. ``UserError`` is the refusal
a member reads."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from bot.backends.base import Backend, Capability
from bot.domain import BackendError, BackendKind, ErrorKind
from bot.i18n import Msg, tr
from bot.jobs.accounts import AccountPool
from bot.metrics import Metrics

log = logging.getLogger(__name__)


class UserError(Exception):
    """Input refused before any backend call; the message is the sentence the member reads."""


#: What each capability lets the bot do, as a member reads it.
_ABILITIES: dict[Capability, Msg] = {
    Capability.MODAL: tr("confirm this action"),
    Capability.BLEND: tr("blend images"),
    Capability.DESCRIBE: tr("describe images"),
    Capability.SHORTEN: tr("shorten prompts"),
    Capability.CANCEL: tr("cancel jobs"),
    Capability.SETTINGS: tr("keep Midjourney settings"),
    Capability.GENERATE: tr("generate with these parameters"),
    Capability.REMIX: tr("remix prompts"),
    Capability.FETCH_MANY: tr("list jobs"),
    Capability.BLEND_URLS: tr("blend images"),
    Capability.DESCRIBE_URL: tr("describe images"),
    Capability.IMAGINE_URLS: tr("take image prompts"),
    Capability.CUSTOM_ZOOM: tr("zoom by a custom amount"),
    Capability.SEED: tr("tell a job's seed"),
    Capability.NIJI: tr("use the Niji bot"),
    Capability.SERVICE_STATUS: tr("show its own accounts and queue"),
    Capability.ACCOUNT_INFO: tr("show its account's status"),
    Capability.VARY_REGION: tr("vary a region"),
    Capability.SERVICE_ACCOUNTS: tr("list its Midjourney accounts"),
}


def cannot(capability: Capability, who: str) -> Msg:
    """``who`` (a service, or a sentence's subject naming services) lacks ``capability``."""
    return tr("{who} can't {ability} from the bot yet.", who=who, ability=_ABILITIES[capability])


_P = TypeVar("_P")


def capable(
    backend: Backend, capability: Capability, protocol: Callable[..., _P], *, for_member: bool = False
) -> _P:
    """``backend`` as ``protocol`` when its class declares ``capability`` (whose methods the
    tests check against the protocol), else BackendError(UNSUPPORTED) naming the service (a
    UserError ``for_member``: a command the member is waiting on)."""
    if capability not in backend.capabilities:
        sentence = cannot(capability, backend.service)
        raise UserError(sentence) if for_member else BackendError(ErrorKind.UNSUPPORTED, sentence)
    return cast(_P, backend)


_T = TypeVar("_T")


async def guarded(backend: Backend, job_id: int, what: str, call: Awaitable[_T]) -> _T:
    """Await a backend call; anything it raises comes out as a BackendError, so a client's bug
    or an answer it could not read fails the job instead of leaving it waiting with its slot."""
    try:
        return await call
    except BackendError:
        raise
    except Exception as exc:
        raise unexpected(backend, job_id, what, exc) from exc


def unexpected(backend: Backend, job_id: int, what: str, exc: Exception) -> BackendError:
    """Log an exception a backend call raised (its type and origin only: its text may quote the
    request, secrets included) and turn it into the BackendError a member reads."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename]
    origin = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "a library"
    log.error(
        "job %s: %s.%s raised %s at %s", job_id, type(backend).__name__, what, type(exc).__name__, origin
    )
    return BackendError(
        ErrorKind.UNEXPECTED,
        f"{backend.service} gave an answer the bot could not use ({type(exc).__name__}).",
    )


class CallCounter:
    """Backend calls and their failures per service, for ``/metrics``."""

    def __init__(self, accounts: AccountPool, metrics: Metrics) -> None:
        self._accounts = accounts
        self.metrics = metrics

    def service(self, account_id: int | None) -> BackendKind | None:
        account = self._accounts.get(account_id) if account_id is not None else None
        return account.kind if account is not None else None

    def call(self, account_id: int) -> None:
        service = self.service(account_id)
        if service is not None:
            self.metrics.backend_call(service)

    def failed(self, account_id: int, exc: BackendError) -> None:
        service = self.service(account_id)
        if service is not None:
            self.metrics.backend_failed(service, exc.kind)
