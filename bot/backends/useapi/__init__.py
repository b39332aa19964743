"""useapi.net's Midjourney API v2 (``https://api.useapi.net/v2``).

What shapes this package:

* **Accounts.** ``account.secret`` is the useapi API token (``Authorization: Bearer``). The
  Midjourney accounts behind it (docs/backends/useapi.md: ``channel``, ``discord``, ``server``,
  ``maxJobs``) are configured *at useapi* (``POST /v2/account/midjourney/{channel}``), and a job
  names one by its ``channel`` alone. So ``account.options["channel"]`` (optional) pins this
  account's jobs to one of them, with ``options["server"]`` sent alongside when given, and
  ``maxJobs`` taken from ``account.max_jobs`` (sent only with a pinned channel: unpinned, useapi
  balances over several accounts whose own ``maxJobs`` apply). Without ``channel``, useapi picks a
  random free account. ``account.channel_id`` keeps its bot-wide meaning (the Discord channel the
  bot answers in); it is not useapi's channel. Only ``channel`` and ``server`` are accepted in
  ``options`` (see :data:`OPTIONS`): a Discord token there would be stored and shown in plain
  text.
* **Jobs** are identified by ``jobid`` (our task id). Buttons are labels: ``ResultButton.custom_id``
  is the label, sent as ``button`` with the parent's ``jobid``.
* **Replies** to ``replyUrl`` carry the whole job and may come several times per status (created,
  started, progress…, completed): :meth:`UseApiBackend.parse_push` is pure, so applying one twice
  is harmless.
* **HTTP codes** carry the errors: 429 with ``executingJobs`` (all job slots busy) or without (Discord
  rate limit) → QUEUE_FULL; 596 (pending moderation message or CAPTCHA) → MODERATION; 401/403 → AUTH;
  402 → QUOTA; 409/422 → INVALID_INPUT, or BANNED_PROMPT when moderated; 504 ("query overflow",
  transient on useapi's side, nothing to do with the job's own duration) → UNAVAILABLE; other
  5xx and transport errors → UNAVAILABLE.
* **Images** are URLs inside the prompt, in ``blendUrls`` or ``describeUrl``; uploaded bytes are
  refused. So /imagine's image prompts, /blend and /describe are declared as ``IMAGINE_URLS``,
  ``BLEND_URLS`` and ``DESCRIBE_URL``: the bot passes the attachments' Discord CDN URLs.
* **Buttons with input**: ``prompt`` (Custom Zoom, and any button with Remix on) and ``mask``
  (Vary (Region): the PNG mask in base64, white the part to repaint) go with the button call.
* **Prompts** are at most 2048 characters; longer ones are refused before anything is sent.

One module per concern: the wire shapes (``models``), answers as errors (``errors``), jobs as
snapshots (``status``) and the client.
"""

from bot.backends.useapi.client import MAX_PROMPT_CHARS, OPTIONS, UseApiBackend
from bot.backends.useapi.models import BlendDimensions

__all__ = ["MAX_PROMPT_CHARS", "OPTIONS", "BlendDimensions", "UseApiBackend"]
