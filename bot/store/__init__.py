"""Persistence: everything that must survive a restart."""

from __future__ import annotations

import logging

from bot.config import StartupError, StoreSettings
from bot.crypto import SECRET_LOST, SecretBox
from bot.store.store import Store

__all__ = ["Store", "open_store"]

log = logging.getLogger(__name__)

#: What the start-up warning about secrets that do not open says to do.
_LOST_TAIL = (
    "those accounts are out of rotation until their secret is entered again with "
    "/setup account secret (or the old key is put back and the bot restarted)."
)


async def open_store(conf: StoreSettings) -> tuple[Store, SecretBox]:
    """The store with its secret box; one WARNING when a key was made or secrets do not open."""
    # The database first: when its path is unusable, that is what the one sentence names.
    store = await Store.open(conf.database)
    try:
        box = SecretBox.load(conf.secret_key.get_secret_value() if conf.secret_key else None, conf.key_file)
    except StartupError:
        await store.close()
        raise
    store.use_box(box)
    lost = [a.name for a in await store.list_accounts() if a.quarantine_reason == SECRET_LOST]
    if lost:
        names, tail = ", ".join(lost), _LOST_TAIL
        if box.made_in:
            log.warning(
                "The key file %s was missing, so a new key was made there; the secrets of the "
                "accounts %s were sealed with the old key: %s",
                box.made_in,
                names,
                tail,
            )
        else:
            log.warning(
                "The secrets of the accounts %s do not open with the configured key ([store] "
                "secret_key or %s): %s",
                names,
                conf.key_file,
                tail,
            )
    elif box.made_in:
        log.warning(
            "No [store] secret_key configured: generated one in %s (owner-only). Back it up with "
            "the database, or set MJBOT_STORE_SECRET_KEY.",
            box.made_in,
        )
    return store, box
