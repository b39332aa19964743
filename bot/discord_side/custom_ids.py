"""The custom ids of the bot's persistent components: each id's template (the ``DynamicItem``
the cogs register once parses a click with it) and the id it is made as.

- ``mjb:r:<job id>:<index>``: a result button. The backend's own button id (up to ~80 characters)
  stays in the store, so the Discord id stays short and every button keeps working after a restart.
- ``mjb:c:<job id>``: Cancel, on a job that is still queued or running.
- ``mjb:s:<index>``, ``mjb:sv``: a /settings toggle, and its model version menu.

Ids are bounded (at most 18 digits) so a forged custom_id cannot overflow SQLite's integers in
the job lookup; an id that does not match is simply not ours.
"""

from __future__ import annotations

RESULT = r"mjb:r:(?P<job>[0-9]{1,18}):(?P<idx>[0-9]{1,3})"
CANCEL = r"mjb:c:(?P<job>[0-9]{1,18})"
TOGGLE = r"mjb:s:(?P<idx>[0-9]+)"
VERSION = "mjb:sv"


def result(job_id: int, index: int) -> str:
    return f"mjb:r:{job_id}:{index}"


def cancel(job_id: int) -> str:
    return f"mjb:c:{job_id}"


def toggle(index: int) -> str:
    return f"mjb:s:{index}"
