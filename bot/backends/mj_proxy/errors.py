"""How midjourney-proxy's answers become errors: its result codes, C#'s error envelope, HTTP
statuses, and its own (mostly Chinese) words, kept with an English sentence in front."""

from __future__ import annotations

import httpx

from bot.backends._http import kind_from_text, try_json, try_validate
from bot.backends.mj_proxy.flavours import Flavour
from bot.backends.mj_proxy.models import CsharpErrorEnvelope, SubmitResultVO
from bot.domain import BackendError, ErrorKind, SubmitResult

#: Common backend messages, by a fragment that identifies them, with an English sentence.
_TRANSLATIONS: dict[str, str] = {
    "关联任务不存在或已失效": "The task this button belongs to no longer exists.",
    "关联任务状态错误": "The task this button belongs to is not finished.",
    "关联任务不允许执行变化": "The task this button belongs to cannot be upscaled or varied.",
    "账号不可用": "The Midjourney account that ran the original task is unavailable.",
    "无可用的账号实例": "No Midjourney account is available.",
    "prompt不能为空": "The prompt is empty.",
    "base64格式错误": "An image could not be read.",
    "禁止上传": "Image uploads are disabled on the service.",
    "队列已满": "The queue is full.",
    "提交失败，系统异常": "The service had an internal error.",
    "可能包含敏感词": "The prompt may contain a banned word.",
    "并发数已达上限": "Too many jobs are running on this account.",
    "队列数已达上限": "Too many jobs are queued on this account.",
    "今日绘图次数已达上限": "The account's daily image limit is reached.",
    "服务暂不可用": "The service is temporarily unavailable.",
    "需要人工验证": "The Midjourney account needs a human verification (captcha).",
    "任务超时": "The job timed out.",
    "执行超时": "The job timed out.",
    "任务提交超时": "The job waited too long to start.",
    "取消任务": "The job was cancelled.",
    "操作失败": "The service had an internal error.",
    "未登录": "The service did not accept the credentials.",
    "账号已禁用": "The service account is disabled.",
}

#: Message fragments that decide the error kind whatever the code says (limits, bans, outages).
_MESSAGE_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("可能包含敏感词", ErrorKind.BANNED_PROMPT),
    ("banned prompt", ErrorKind.BANNED_PROMPT),
    ("无可用的账号实例", ErrorKind.UNAVAILABLE),
    ("服务暂不可用", ErrorKind.UNAVAILABLE),
    ("队列已满", ErrorKind.QUEUE_FULL),
    ("并发数已达上限", ErrorKind.QUEUE_FULL),
    ("队列数已达上限", ErrorKind.QUEUE_FULL),
    ("次数已达上限", ErrorKind.QUOTA),
    ("账号已禁用", ErrorKind.AUTH),
    ("未登录", ErrorKind.AUTH),
)

_CODE_KINDS: dict[int, ErrorKind] = {
    3: ErrorKind.NOT_FOUND,
    4: ErrorKind.INVALID_INPUT,
    23: ErrorKind.QUEUE_FULL,
    24: ErrorKind.BANNED_PROMPT,
}


def describe_message(message: str) -> str:
    """The backend's message, with an English sentence in front when it is a known one."""
    for fragment, english in _TRANSLATIONS.items():
        if fragment in message:
            return f"{english} ({message})"
    return message


def submit_result(vo: SubmitResultVO, flavour: Flavour) -> SubmitResult:
    """A SubmitResultVO as a SubmitResult, or the BackendError it stands for."""
    if vo.code in (1, 22) and vo.result:
        queue = vo.properties.get("numberOfQueues") if vo.code == 22 else None
        return SubmitResult(task_id=vo.result, queue_position=queue if isinstance(queue, int) else None)
    if vo.code == 21 and vo.result:
        # Open-source Java: "already exists" (the result is the existing task). Plus and C#: a new
        # MODAL task waiting for /submit/modal; plus tells it apart by the remix/finalPrompt keys.
        # A "java" account may be an open-source proxy after all, hence the guess there.
        guess = "finalPrompt" in vo.properties or "remix" in vo.properties
        modal = flavour == "csharp" or (flavour == "java" and guess)
        if not modal:
            return SubmitResult(task_id=vo.result, existing=True)
        final_prompt = vo.properties.get("finalPrompt")
        return SubmitResult(
            task_id=vo.result,
            needs_modal=True,
            final_prompt=final_prompt if isinstance(final_prompt, str) else None,
        )
    raise vo_error(vo)


def vo_error(vo: SubmitResultVO) -> BackendError:
    """A refusal as its error: the words decide the kind before the code does."""
    kind = kind_from_text(vo.description, _MESSAGE_KINDS) or _CODE_KINDS.get(vo.code, ErrorKind.UNAVAILABLE)
    detail = describe_message(vo.description) if vo.description else f"Error code {vo.code}."
    banned = vo.properties.get("bannedWord")
    if banned:
        detail = f"{detail} Banned word: {banned}"
    return BackendError(kind, detail)


def envelope_error(envelope: CsharpErrorEnvelope) -> BackendError:
    kind = kind_from_text(envelope.message, _MESSAGE_KINDS) or ErrorKind.UNAVAILABLE
    return BackendError(kind, describe_message(envelope.message))


def status_error(response: httpx.Response, path: str) -> BackendError:
    """A non-2xx answer to ``path`` as the error it stands for."""
    status = response.status_code
    text = response.text.strip()[:300]
    if status in (401, 403):
        return BackendError(ErrorKind.AUTH, describe_message(text) if text else f"HTTP {status}.")
    data = try_json(response)
    envelope = try_validate(CsharpErrorEnvelope, data)
    vo = None if envelope else try_validate(SubmitResultVO, data)
    if status in (400, 404) and vo is not None:
        # C# answers a missing parent task on /submit/action and /submit/modal this way, and
        # image-seed's refusals.
        return vo_error(vo)
    if status >= 500:
        detail = describe_message(envelope.message) if envelope else f"HTTP {status} on {path}."
        return BackendError(ErrorKind.UNAVAILABLE, detail)
    if status == 404:
        return BackendError(ErrorKind.INVALID_INPUT, f"{path} is not supported by this proxy (HTTP 404).")
    return BackendError(ErrorKind.INVALID_INPUT, describe_message(text) if text else f"HTTP {status}.")
