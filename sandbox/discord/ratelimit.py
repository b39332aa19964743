"""Discord's rate limits: a global per-token bucket, per-route buckets and the hidden channel edit limit."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from .clock import Clock
from .limits import Limits, Rate

# Routes that identify their bucket by these path parameters ("major parameters").
MAJOR_PARAMS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id")
EDIT_ROUTE = "PATCH /channels/{channel_id}/messages/{message_id}"


@dataclass
class Bucket:
    rate: Rate
    remaining: int
    reset_at: float


@dataclass(frozen=True)
class Verdict:
    """Outcome of one request against its buckets, with the values of the X-RateLimit-* headers."""

    allowed: bool
    scope: str  # "user", "global" or "shared" when refused
    retry_after: float
    limit: int
    remaining: int
    reset_at: float
    reset_after: float
    bucket_hash: str

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{self.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{self.reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket_hash,
        }


@functools.cache
def _bucket_hash(route_key: str) -> str:
    """The X-RateLimit-Bucket of a route (one per route, so computed once)."""
    return hashlib.sha1(route_key.encode()).hexdigest()[:16]


class RateLimiter:
    def __init__(self, clock: Clock, limits: Limits) -> None:
        self._clock = clock
        self._limits = limits
        self._buckets: dict[str, Bucket] = {}

    def _bucket(self, key: str, rate: Rate, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset_at or bucket.rate != rate:
            bucket = Bucket(rate, rate.limit, now + rate.per)
            self._buckets[key] = bucket
        return bucket

    def check(self, method: str, route: str, params: dict[str, str], token: str | None) -> Verdict:
        """Consume one request from every applicable bucket, or none if any of them is empty."""
        now = self._clock.now()
        route_key = f"{method} {route}"
        rate = self._limits.route_rates.get(route_key, self._limits.default_route_rate)
        major = ":".join(params[p] for p in MAJOR_PARAMS if p in params)
        route_bucket = self._bucket(f"route:{route_key}:{major}", rate, now)
        # Interaction and webhook-token routes carry no bot token and are exempt from the global limit.
        checks: list[tuple[str, Bucket]] = [("user", route_bucket)]
        if token is not None and not route.startswith(("/interactions/", "/webhooks/")):
            checks.append(("global", self._bucket(f"global:{token}", self._limits.global_rate, now)))
        if route_key == EDIT_ROUTE:
            checks.append(
                ("shared", self._bucket(f"edit:{params['channel_id']}", self._limits.channel_edit_rate, now))
            )
        refused = next(((scope, b) for scope, b in checks if b.remaining <= 0), None)
        if refused is None:
            for _, bucket in checks:
                bucket.remaining -= 1
        digest = _bucket_hash(route_key)
        verdict_bucket = refused[1] if refused is not None else route_bucket
        return Verdict(
            allowed=refused is None,
            scope=refused[0] if refused is not None else "user",
            retry_after=max(verdict_bucket.reset_at - now, 0.0),
            limit=route_bucket.rate.limit,
            remaining=route_bucket.remaining,
            reset_at=route_bucket.reset_at,
            reset_after=max(route_bucket.reset_at - now, 0.0),
            bucket_hash=digest,
        )
