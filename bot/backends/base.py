"""The interface every backend module implements, and the registry that picks one by kind."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx

from bot.domain import Account, Dimensions, ServiceAccount, SettingsState, SubmitResult, TaskSnapshot


class Capability(StrEnum):
    """An optional part of a backend's API. A backend class lists those it offers in
    ``capabilities``; each comes with the protocol its methods follow (``PROTOCOLS``)."""

    MODAL = "modal"
    BLEND = "blend"
    DESCRIBE = "describe"
    SHORTEN = "shorten"
    CANCEL = "cancel"
    SETTINGS = "settings"
    GENERATE = "generate"
    REMIX = "remix"
    FETCH_MANY = "fetch_many"
    #: Blend, describe and /imagine's image prompts given by URL (the Discord attachment's), not
    #: by bytes.
    BLEND_URLS = "blend_urls"
    DESCRIBE_URL = "describe_url"
    IMAGINE_URLS = "imagine_urls"
    #: Custom Zoom: a button pressed with a prompt carrying ``--zoom`` (and ``--ar``).
    CUSTOM_ZOOM = "custom_zoom"
    #: The seed of a finished task (Midjourney's ✉️).
    SEED = "seed"
    #: Jobs sent to the Niji bot instead of Midjourney's (midjourney-proxy's ``botType``).
    NIJI = "niji"
    #: A summary of the service's own accounts and queue (midjourney-proxy's), for admins.
    SERVICE_STATUS = "service_status"
    #: The service account's own status (Midjourney's /info).
    ACCOUNT_INFO = "account_info"
    #: Vary (Region): a button pressed with the member's mask (and prompt).
    VARY_REGION = "vary_region"
    #: The Midjourney accounts the service drives for this token, and their moderation holds.
    SERVICE_ACCOUNTS = "service_accounts"
    #: Buttons that act on the result's item at the service and start no task (AIMG's 👍 👎 🗑️ 🚩).
    ITEMS = "items"


@dataclass(frozen=True)
class AccountOption:
    """One ``account.options`` key a backend reads: the whole value must match ``pattern``;
    ``example`` shows an admin what fits."""

    pattern: re.Pattern[str]
    example: str


@dataclass(frozen=True)
class ItemOutcome:
    """Whether an item action took effect; ``message``: the service's reason when it did not."""

    success: bool
    message: str | None = None


class Backend(Protocol):
    """One backend account's API, mapped onto the domain model. No Discord knowledge here.

    Every method raises :class:`bot.domain.BackendError` on failure, whatever the transport said.
    ``hook_url`` is where the backend should push task updates (``None``: poll only); ``state`` is
    an opaque string the backend echoes back in the task.
    """

    @property
    def service(self) -> str:
        """The service's name, as a member reads it ("useapi.net"; with the flavour where it
        changes what works: "midjourney-proxy (open-source)")."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this account's client offers beyond this protocol; the engine calls nothing else
        (a method of the same name is not enough: its signature may differ,
        tests/backends/test_capabilities.py). It may depend on the account (its flavour)."""
        ...

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """``images``: the image prompts' bytes; a backend declaring ``IMAGINE_URLS`` gets them by
        URL instead (:class:`SupportsImagineUrls`), never here."""
        ...

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...

    async def fetch(self, task_id: str) -> TaskSnapshot | None:
        """The task as the backend sees it now; ``None`` when the backend does not know it."""
        ...

    def parse_push(self, body: Any) -> TaskSnapshot:
        """A webhook body (already JSON-decoded) as a snapshot; BackendError(INVALID_INPUT) if malformed."""
        ...


class BackendClass(Protocol):
    """A backend class, as the registry holds it: what it declares, and how to make one.
    ``capabilities`` here is everything some account of the kind may offer."""

    service: str
    capabilities: frozenset[Capability]

    def __call__(self, account: Account, http: httpx.AsyncClient) -> Backend: ...


# The protocols of the capabilities: a backend declaring one implements its methods exactly so.


class SupportsModal(Protocol):
    async def modal(
        self, task_id: str, prompt: str | None = None, mask_png: bytes | None = None
    ) -> SubmitResult:
        """Confirm a task waiting in MODAL state, with the prompt (and mask) the member gave."""
        ...


class SupportsBlend(Protocol):
    async def blend(
        self,
        images: Sequence[bytes],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult: ...


class SupportsDescribe(Protocol):
    async def describe(
        self, image: bytes, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...


class SupportsShorten(Protocol):
    async def shorten(self, prompt: str, *, hook_url: str | None = None, state: str = "") -> SubmitResult: ...


class SupportsCancel(Protocol):
    async def cancel(self, task_id: str) -> None: ...


class SupportsSettings(Protocol):
    """The service keeps Midjourney settings itself, per account (TheNextLeg's /settings)."""

    async def settings_state(self) -> SettingsState: ...

    async def press_setting(self, label: str) -> SettingsState: ...


class SupportsGenerate(Protocol):
    """Generation with explicit, backend-specific parameters (AIMG's model, size, steps…)."""

    async def generate(self, params: Mapping[str, str], *, state: str = "") -> SubmitResult: ...


class SupportsRemix(Protocol):
    async def remix(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press button ``custom_id`` of task ``task_id`` with an edited prompt (Midjourney's Remix).

        Returns the started task; BackendError(INVALID_INPUT) when the service cannot remix.
        """
        ...


class SupportsFetchMany(Protocol):
    async def fetch_many(self, task_ids: Sequence[str]) -> list[TaskSnapshot]:
        """The tasks the backend knows among ``task_ids``, in one request."""
        ...


class SupportsBlendUrls(Protocol):
    async def blend_urls(
        self,
        urls: Sequence[str],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult: ...


class SupportsDescribeUrl(Protocol):
    async def describe_url(
        self, url: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult: ...


class SupportsImagineUrls(Protocol):
    async def imagine_urls(
        self, prompt: str, urls: Sequence[str], *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """/imagine with image prompts: the images at ``urls`` (in order) before ``prompt``, as
        :func:`image_prompt` writes them."""
        ...


def image_prompt(urls: Sequence[str], prompt: str) -> str:
    """A Midjourney prompt with image prompts: their URLs first, then the text and parameters."""
    return " ".join([*urls, prompt])


class SupportsCustomZoom(Protocol):
    async def custom_zoom(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press Custom Zoom ``custom_id`` of task ``task_id``; ``prompt`` ends with ``--zoom Z``
        (1 to 2) and may carry ``--ar W:H``, as Midjourney's own Custom Zoom box does."""
        ...


class SupportsSeed(Protocol):
    async def seed(self, task_id: str) -> str:
        """The seed of finished task ``task_id``."""
        ...


class SupportsNiji(Protocol):
    def for_niji(self) -> Backend:
        """This account's client with its new jobs (imagine, blend, describe, shorten) sent to the
        Niji bot; follow-ups run on their parent's bot by themselves."""
        ...


class SupportsServiceStatus(Protocol):
    async def service_status(self) -> str | None:
        """One line of counts about the service's own accounts and queue, built from what it
        answered (never its text); None when it offers neither."""
        ...


#: The custom id of the result button a backend adds when it can tell the result's seed
#: (:class:`SupportsSeed`); the engine answers it, no job is made.
SEED_BUTTON = "mjbot:seed"


class SupportsAccountInfo(Protocol):
    async def account_info(self) -> Mapping[str, str]:
        """The service account's status, as label → value (e.g. "Fast Time Remaining")."""
        ...


class SupportsVaryRegion(Protocol):
    async def vary_region(
        self,
        task_id: str,
        custom_id: str,
        mask_png: bytes,
        prompt: str | None = None,
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        """Press Vary (Region) ``custom_id`` of task ``task_id`` with the member's mask (white:
        the part to repaint) and, with Remix, a new prompt."""
        ...


class SupportsServiceAccounts(Protocol):
    async def service_accounts(self) -> list[ServiceAccount]:
        """The Midjourney accounts the service drives for this account's jobs."""
        ...

    async def reset_service_account(self, name: str) -> None:
        """Ask the service to put its held account ``name`` back into rotation."""
        ...


class SupportsItems(Protocol):
    async def item_action(
        self,
        task_id: str,
        custom_id: str,
        *,
        report_queue: str | None = None,
        information: str | None = None,
    ) -> ItemOutcome:
        """Press item button ``custom_id`` (a vote, delete, report) of task ``task_id``'s result
        at the service; a report goes in ``report_queue`` with the member's ``information``."""
        ...

    async def get_report_queues(self, *, refresh: bool = False) -> list[str]:
        """The categories a report may name, in the service's order."""
        ...


PROTOCOLS: Mapping[Capability, type] = {
    Capability.MODAL: SupportsModal,
    Capability.BLEND: SupportsBlend,
    Capability.DESCRIBE: SupportsDescribe,
    Capability.SHORTEN: SupportsShorten,
    Capability.CANCEL: SupportsCancel,
    Capability.SETTINGS: SupportsSettings,
    Capability.GENERATE: SupportsGenerate,
    Capability.REMIX: SupportsRemix,
    Capability.FETCH_MANY: SupportsFetchMany,
    Capability.BLEND_URLS: SupportsBlendUrls,
    Capability.DESCRIBE_URL: SupportsDescribeUrl,
    Capability.IMAGINE_URLS: SupportsImagineUrls,
    Capability.CUSTOM_ZOOM: SupportsCustomZoom,
    Capability.SEED: SupportsSeed,
    Capability.NIJI: SupportsNiji,
    Capability.SERVICE_STATUS: SupportsServiceStatus,
    Capability.ACCOUNT_INFO: SupportsAccountInfo,
    Capability.VARY_REGION: SupportsVaryRegion,
    Capability.SERVICE_ACCOUNTS: SupportsServiceAccounts,
    Capability.ITEMS: SupportsItems,
}
