"""TheNextLeg API v2 (``https://api.thenextleg.io/v2``; shut down in Jan 2024, kept for
self-hosted clones that speak it).

What shapes this package:

* **Ids.** A submit answers ``messageId``: that is our task id, and completed payloads point back
  to it as ``originatingMessageId``. Pressing a button on the result, though, takes the payload's
  ``buttonMessageId``, a different id. :meth:`NextLegBackend.action` is called with our task id, so
  the backend remembers ``messageId → buttonMessageId`` from every payload it reads and, after a
  restart, looks it up with one ``GET /message``.
* **Buttons** are plain labels (``"U2"``, ``"🔄"``, ``"Zoom Out 2x"``): ``ResultButton.custom_id`` is
  the label, sent back as ``button`` exactly as received.
* **Errors** mostly arrive as text in ``content`` with HTTP 200 (``QUEUE_FULL``, ``BANNED_PROMPT``,
  ``NO_FAST_HOURS``…), so they show up in fetch/push snapshots as FAILURE with an error kind. The
  banned-word prefilter is the exception: 400 ``{"success": false, "msg": "Invalid phrase: …"}``.
* **Pace.** The API allows about one request per 3 s per token. Every request waits its turn in a
  per-account :class:`Pacer` (``options["min_interval"]`` seconds, default 3) instead of failing.
* **Images** are URLs: inside the prompt (``"<url> <prompt>"``, :meth:`NextLegBackend.imagine_urls`),
  or ``url``/``urls`` of ``/describe`` and ``/blend``; uploaded bytes are refused.
* **Custom Zoom** is ``/button`` with ``prompt``, ``zoom`` and ``ar`` fields: the bot's prompt
  carries them as ``--zoom``/``--ar`` flags (as Midjourney's box does) and they are split out.
* ``GET /message/{id}`` puts the result under ``response`` or flat beside ``progress`` (the docs and
  the official clients disagree); both are read.

Settings (``/v2/settings``) are asynchronous like jobs: the GET or POST answers a ``messageId`` and
the settings message arrives later, so :meth:`NextLegBackend.get_settings` and
:meth:`~NextLegBackend.toggle_setting` poll for it.

One module per concern: the wire shapes (``models``), answers as errors (``errors``), messages as
snapshots (``status``), the settings panel (``settings``), the pace (``pacer``) and the client.
"""

from bot.backends.nextleg.client import OPTIONS, NextLegBackend
from bot.backends.nextleg.models import MessagePayload
from bot.backends.nextleg.pacer import Pacer
from bot.backends.nextleg.settings import parse_settings

__all__ = ["OPTIONS", "MessagePayload", "NextLegBackend", "Pacer", "parse_settings"]
