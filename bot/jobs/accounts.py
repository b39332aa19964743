"""The accounts a guild's jobs can run on, their backend clients, and the choice of one for a job."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

import httpx

from bot.backends import create_backend
from bot.backends.base import Backend, Capability
from bot.domain import MEMBER_SOURCE, Account, BackendKind
from bot.net import AddressPolicy, parse_address, same_origin


class AccountPool:
    """Accounts by id with a lazily built backend client each; secrets resolved in memory only.

    Config-file accounts (the operator's) use ``http``; accounts added in Discord use ``guarded``,
    whose connections go only where ``policy`` allows (None: anywhere), see :mod:`bot.net`.

    ``anywhere=True`` (the dispatcher's view of a server another process owns, docs/scaling.md)
    counts the config-file accounts this process's config does not declare as the store has them:
    another process's config may declare them, and that process submits their jobs.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        rng: random.Random | None = None,
        *,
        guarded: httpx.AsyncClient | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        self._http = http
        self._guarded = guarded or http
        self.policy = policy
        self._rng = rng or random.Random()
        self._accounts: dict[int, Account] = {}
        self._clients: dict[int, Backend] = {}
        #: Config-file accounts not in this process's config file, as stored.
        self._elsewhere: dict[int, Account] = {}

    def put(self, account: Account) -> None:
        self._accounts[account.id] = account
        self._clients.pop(account.id, None)

    def sync(self, stored: list[Account], config_secrets: Mapping[int, str]) -> None:
        """Match the store. Config-file accounts take their secret from the config; one no longer
        in the config file stays known (its jobs' history) but disabled. Unchanged accounts keep
        their client (and its pacing state)."""
        seen = set()
        self._elsewhere = {}
        for account in stored:
            if account.source == "config":
                if account.id in config_secrets:
                    account = account.model_copy(update={"secret": config_secrets[account.id]})
                else:
                    self._elsewhere[account.id] = account
                    account = account.model_copy(update={"enabled": False})
            seen.add(account.id)
            if self._accounts.get(account.id) != account:
                self.put(account)
        for gone in set(self._accounts) - seen:
            del self._accounts[gone]
            self._clients.pop(gone, None)

    def get(self, account_id: int) -> Account | None:
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        return list(self._accounts.values())

    def for_guild(self, guild_id: int, *, anywhere: bool = False) -> list[Account]:
        return [a for a in self._view(anywhere).values() if a.guild_id == guild_id]

    def _view(self, anywhere: bool) -> Mapping[int, Account]:
        return self._accounts | self._elsewhere if anywhere and self._elsewhere else self._accounts

    def serves(
        self,
        guild_id: int,
        channel_id: int,
        *,
        usable_only: bool = False,
        kinds: Collection[BackendKind] | None = None,
        needs: Collection[Capability] = (),
        anywhere: bool = False,
    ) -> bool:
        """Whether any enabled (and, with ``usable_only``, not quarantined) shared account of one
        of ``kinds`` (default: any), offering one of ``needs`` (default: nothing asked), answers here."""
        return any(
            a.enabled and (not usable_only or _healthy(a))
            for a in self.shared(guild_id, channel_id, kinds, needs, anywhere=anywhere)
        )

    def shared(
        self,
        guild_id: int,
        channel_id: int,
        kinds: Collection[BackendKind] | None = None,
        needs: Collection[Capability] = (),
        *,
        anywhere: bool = False,
    ) -> list[Account]:
        """The guild's accounts of ``kinds`` (default: any) answering in the channel and offering
        one of ``needs`` (see :meth:`offers`), members' own accounts left out: those run their
        owner's jobs only, pinned when queued."""
        return [
            a
            for a in self.for_guild(guild_id, anywhere=anywhere)
            if a.source != MEMBER_SOURCE
            and a.channel_id in (None, channel_id)
            and (kinds is None or a.kind in kinds)
            and self.offers(a.id, needs)
        ]

    def offers(self, account_id: int, needs: Collection[Capability]) -> bool:
        """Whether the account's client offers one of ``needs`` (none asked: True). What a client
        offers may depend on the account, not only its kind (midjourney-proxy's flavour)."""
        return not needs or not self.backend(account_id).capabilities.isdisjoint(needs)

    def services(self, accounts: Collection[Account]) -> str:
        """The accounts' services as members know them, flavour included ("TheNextLeg and
        midjourney-proxy (open-source)")."""
        return " and ".join(sorted({self.backend(a.id).service for a in accounts}))

    def http_for(self, account_id: int | None) -> httpx.AsyncClient:
        """The HTTP client for requests made for the account (its calls and its images)."""
        account = self._accounts.get(account_id) if account_id is not None else None
        return self.http_for_url(account.base_url) if account is not None else self._guarded

    def http_for_url(self, base_url: str) -> httpx.AsyncClient:
        """The operator's client for a config-file account's origin (a member's AIMG sign-in
        reuses it), the guarded one for any other."""
        trusted = any(
            a.source == "config" and same_origin(base_url, a.base_url) for a in self._accounts.values()
        )
        return self._http if trusted else self._guarded

    async def refused_address(self, base_url: str) -> bool:
        """Whether ``base_url``'s host is (or resolves to) an address an admin's account may not
        reach. A first, friendly check: the guarded client checks every connection again."""
        if self.policy is None:
            return False
        policy = self.policy
        try:
            parts = urlsplit(base_url)
            host, port = parts.hostname or "", parts.port
            async with asyncio.timeout(5):
                found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (ValueError, OSError, TimeoutError):
            return False  # unresolvable now: the connection check decides later
        return not all(policy.allows(parse_address(str(info[4][0]))) for info in found)

    def backend(self, account_id: int) -> Backend:
        client = self._clients.get(account_id)
        if client is None:
            client = create_backend(self._accounts[account_id], self.http_for(account_id))
            self._clients[account_id] = client
        return client

    def quarantine(self, account_id: int, reason: str | None) -> None:
        account = self._accounts.get(account_id)
        if account is not None:
            self._accounts[account_id] = account.model_copy(update={"quarantine_reason": reason})

    def usable(self, account_id: int, *, anywhere: bool = False) -> bool:
        account = self._elsewhere.get(account_id) if anywhere else None
        account = account or self._accounts.get(account_id)
        return account is not None and _healthy(account)

    def choose(
        self,
        guild_id: int,
        channel_id: int,
        busy: Mapping[int, int],
        kinds: Collection[BackendKind] | None = None,
        needs: Collection[Capability] = (),
        *,
        anywhere: bool = False,
    ) -> Account | None:
        """A random healthy account of ``kinds`` (default: any), offering one of ``needs``, with
        free capacity (docs/backends/useapi.md's rule), or None when all are full."""
        free = [
            a
            for a in self.shared(guild_id, channel_id, kinds, needs, anywhere=anywhere)
            if _healthy(a) and busy.get(a.id, 0) < a.max_jobs
        ]
        return self._rng.choice(free) if free else None

    def capacity_id(self, account_id: int) -> int:
        """The account whose slots ``account_id``'s jobs take (docs/scaling.md): config-file
        accounts of several servers naming one service account (kind, URL, secret and options)
        share its ``max_jobs``, counted under the lowest of their ids; any other is its own (one
        declared elsewhere too: its secret is not known here)."""
        account = self._accounts[account_id]
        if account.source != "config" or account_id in self._elsewhere:
            return account_id
        return min(
            a.id
            for a in self._accounts.values()
            if a.id not in self._elsewhere and _same_service_account(a, account)
        )

    def has_capacity(self, account_id: int, busy: Mapping[int, int]) -> bool:
        account = self._accounts.get(account_id)
        return account is not None and busy.get(account_id, 0) < account.max_jobs


def _healthy(account: Account) -> bool:
    """In rotation: enabled and not quarantined (:meth:`AccountPool.usable`)."""
    return account.enabled and account.quarantine_reason is None


def _same_service_account(a: Account, b: Account) -> bool:
    return a.source == b.source == "config" and (a.kind, a.base_url, a.secret, a.options) == (
        b.kind,
        b.base_url,
        b.secret,
        b.options,
    )
