"""Editor links: ``/edit/<token>``, the token signed so that nothing in it can be changed.

A token is ``<payload>.<signature>``, both base64url: the payload names the job, its Vary (Region)
button, the member it was given to, the channel the result goes to, when it expires and a random
nonce (what makes it one-use); the signature is HMAC-SHA256 over the payload with a key derived
from the store's secret key, so every process that shares the store can check it and a restart
keeps it valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

#: How long a link works after it is given (Discord's interaction tokens live as long).
LINK_SECONDS = 15 * 60
#: Longer tokens are refused before anything is decoded.
MAX_TOKEN_CHARS = 400


class LinkError(Exception):
    """A link that cannot be used; the message is the sentence the page shows."""

    def __init__(self, sentence: str, status: int) -> None:
        super().__init__(sentence)
        self.status = status


FORGED = "This editor link is not valid. Click Vary (Region) in Discord again for a new one."
EXPIRED = "This editor link has expired (links work for 15 minutes). Click Vary (Region) in Discord again."
USED = "This editor link was already used. Click Vary (Region) in Discord again to vary the image once more."


@dataclass(frozen=True)
class EditorLink:
    job_id: int
    index: int
    user_id: int
    channel_id: int
    expires: int
    nonce: str


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(
        self, job_id: int, index: int, user_id: int, channel_id: int, *, now: float | None = None
    ) -> str:
        expires = int((time.time() if now is None else now) + LINK_SECONDS)
        payload = {
            "j": job_id, "i": index, "u": user_id, "c": channel_id, "e": expires, "n": secrets.token_hex(8)
        }  # fmt: skip
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._sign(body))}"

    def verify(self, token: str, *, now: float | None = None) -> EditorLink:
        """The link ``token`` stands for; LinkError when it was forged or has expired."""
        body, _, signature = token.partition(".")
        if len(token) > MAX_TOKEN_CHARS or not body or not signature:
            raise LinkError(FORGED, 403)
        try:
            given = _unb64(signature)
        except ValueError:
            raise LinkError(FORGED, 403) from None
        if not hmac.compare_digest(given, self._sign(body)):
            raise LinkError(FORGED, 403)
        try:
            data = json.loads(_unb64(body))
            link = EditorLink(
                job_id=int(data["j"]), index=int(data["i"]), user_id=int(data["u"]),
                channel_id=int(data["c"]), expires=int(data["e"]), nonce=str(data["n"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            raise LinkError(FORGED, 403) from None
        if link.expires < (time.time() if now is None else now):
            raise LinkError(EXPIRED, 410)
        return link

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
