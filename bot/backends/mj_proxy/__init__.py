"""midjourney-proxy (novicezk Java, the closed Java "plus", and trueai-org's C# fork).

All three speak the same ``/mj/...`` API with a few differences that matter here. The account's
``options["flavour"]`` says which one it talks to: ``"java"`` (plus), ``"csharp"`` or ``"oss"``
(novicezk's open-source 2.x):

* auth: Java/plus read ``mj-api-secret``; C# reads ``Authorization`` (the raw token, no ``Bearer``);
* errors: submit endpoints answer HTTP 200 with a ``SubmitResultVO`` whose ``code`` says what went
  wrong; C# also has a second envelope ``{"success": false, "code": -1, "message": ...}``;
* code 21 means "MODAL: call /submit/modal" on plus/C#, but "task already exists" on open-source Java;
* the open-source proxy has no ``/submit/action``, ``/submit/modal``, ``/submit/shorten``, no
  ``buttons`` on its tasks and no MODAL status. Only U1–U4, V1–V4 and re-roll exist there, through
  ``/submit/change``; the bot draws those buttons itself (``buttons.oss_buttons``) with the
  legacy customIds, and :meth:`MjProxyBackend.action` maps them back (:func:`legacy_change`), so
  the rest of the bot sees the same buttons whatever the flavour.

The backend's own words (mostly Chinese) are kept in every error; common ones get an English
sentence in front so a member can read them.

One module per concern: the wire shapes (``models``), the flavours and what each offers
(``flavours``), answers as errors (``errors``), buttons (``buttons``), tasks as snapshots
(``status``) and the client (``client``).
"""

from bot.backends.mj_proxy.buttons import CHANGEABLE_ACTIONS, grid_buttons, legacy_change
from bot.backends.mj_proxy.client import MjProxyBackend
from bot.backends.mj_proxy.errors import describe_message
from bot.backends.mj_proxy.flavours import FLAVOUR_NAMES, OPTIONS, Flavour
from bot.backends.mj_proxy.models import ChangeAction
from bot.backends.mj_proxy.status import parse_progress

__all__ = [
    "CHANGEABLE_ACTIONS",
    "FLAVOUR_NAMES",
    "OPTIONS",
    "ChangeAction",
    "Flavour",
    "MjProxyBackend",
    "describe_message",
    "grid_buttons",
    "legacy_change",
    "parse_progress",
]
