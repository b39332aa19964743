"""Secrets at rest: account secrets written by the bot are sealed with Fernet.

The key comes from ``[store] secret_key`` / ``MJBOT_STORE_SECRET_KEY``; without one the bot makes a
key file next to the database (owner-only permissions) and says so in the log. Losing the key
means re-entering account secrets, nothing else: an account whose sealed secret does not open
is out of rotation with :data:`SECRET_LOST` as its reason until its secret is entered again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from bot.config import StartupError

_PREFIX = "enc:v1:"

#: Why an account whose sealed secret does not open with the bot's key is out of rotation.
SECRET_LOST = "secret lost: enter it again with `/setup account secret`"


class SecretBox:
    def __init__(self, key: bytes, *, made_in: Path | None = None) -> None:
        self._fernet = Fernet(key)
        self._key = key
        #: The key file this key was just generated into; None when the key already existed.
        self.made_in = made_in

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` (e.g. signing links), from this key: one secret to keep, not two."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    @classmethod
    def load(cls, key: str | None, key_file: Path) -> SecretBox:
        """The configured key, else the key file's, else a new key written to ``key_file``.
        StartupError when the key is not a Fernet key or the key file cannot be used."""
        if key:
            return cls._checked(key.encode(), "[store] secret_key (MJBOT_STORE_SECRET_KEY)")
        try:
            if key_file.exists():
                return cls._checked(key_file.read_bytes().strip(), f"The key file {key_file}")
            key_file.parent.mkdir(parents=True, exist_ok=True)
            new_key = Fernet.generate_key()
            # Created with 0600 from the start, so the key is never readable by others.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(new_key)
        except OSError as exc:
            raise StartupError(
                f"Cannot use the key file {key_file} ({exc.strerror}): make it (and its directory) "
                "readable and writable by the bot's user, or set [store] secret_key."
            ) from None
        return cls(new_key, made_in=key_file)

    @classmethod
    def _checked(cls, key: bytes, where: str) -> SecretBox:
        try:
            return cls(key)
        except ValueError:
            raise StartupError(
                f"{where} is not a valid key (44 characters of URL-safe base64): put the right key "
                "back, or remove it to have a new one made and enter the account secrets again."
            ) from None

    def seal(self, plaintext: str) -> str:
        if not plaintext:
            return ""
        return _PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str | None:
        """The plaintext of a sealed value; an unsealed (legacy or empty) value as it is; None when
        the value was sealed with another key."""
        if not stored.startswith(_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            return None
