"""Secrets at rest: account secrets written by the bot are sealed with Fernet.

The key comes from ``[store] secret_key`` / ``MJBOT_STORE_SECRET_KEY``; without one the bot makes a
key file next to the database (owner-only permissions) and says so in the log. Losing the key
means re-entering account secrets, nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

_PREFIX = "enc:v1:"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` (e.g. signing links), from this key: one secret to keep, not two."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def load(cls, key: str | None, key_file: Path) -> SecretBox:
        if key:
            return cls(key.encode())
        if key_file.exists():
            return cls(key_file.read_bytes().strip())
        key_file.parent.mkdir(parents=True, exist_ok=True)
        new_key = Fernet.generate_key()
        # Created with 0600 from the start, so the key is never readable by others.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(new_key)
        log.warning(
            "No [store] secret_key configured: generated one in %s (owner-only). Back it up with the "
            "database, or set MJBOT_STORE_SECRET_KEY.",
            key_file,
        )
        return cls(new_key)

    def seal(self, plaintext: str) -> str:
        if not plaintext:
            return ""
        return _PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        """The plaintext of a sealed value; an unsealed (legacy or empty) value as it is."""
        if not stored.startswith(_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            # Wrong key: treat as no secret, so the account fails auth visibly instead of the bot dying.
            log.error("An account secret cannot be decrypted with the configured key; re-enter it.")
            return ""
