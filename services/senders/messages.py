"""What a resident reads: one case event in plain words, Chinese first, English beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Message", "render"]

# to_status -> (Chinese, English) in words a resident uses; {dept} is the department
_WORDS: dict[str, tuple[str, str]] = {
    "reported": ("已收到您的反映", "we have received the report"),
    "accepted": ("已受理", "it has been accepted"),
    "registered": ("已登记立案", "it has been registered as a case"),
    "dispatched": ("已交给{dept_zh}处理", "it has been assigned to {dept_en}"),
    "in_handling": ("正在处理中", "it is being handled"),
    "handled": ("已处理，等待现场核查", "it has been handled and is being checked on site"),
    "checked": ("现场核查已完成", "the check on site is done"),
    "closed": ("已办结，欢迎评价", "it is done — please rate the result"),
    "rated": ("感谢您的评价", "thank you for rating it"),
    "rejected": ("未予受理", "it was not accepted"),
    "archived": ("已归档", "it has been archived"),
}
_REWORK = ("退回返工", "sent back for rework")


@dataclass(frozen=True)
class Message:
    """A subject and a plain-text body."""

    subject: str
    text: str
    short: str
    """One line for an SMS (≤ 70 Chinese characters where possible)."""


def render(payload: dict[str, Any]) -> Message:
    """The message for one notification payload (as queued by :mod:`layers.notify`)."""
    case = payload.get("case", {})
    event = payload.get("event", {})
    to_status = str(event.get("to_status") or case.get("status") or "")
    dept_zh = case.get("department_zh") or "相关部门"
    dept_en = case.get("department_en") or case.get("department_zh") or "the department"
    zh, en = _WORDS.get(to_status, (str(case.get("status_zh", to_status)), to_status))
    if event.get("action") in ("rework", "reopen"):
        zh, en = _REWORK
    zh, en = zh.format(dept_zh=dept_zh), en.format(dept_en=dept_en)
    no = case.get("case_no", "")
    kind_zh, kind_en = case.get("kind_zh", ""), case.get("kind_en", "")
    lines = [
        f"您关注的{kind_zh}问题（案件号 {no}）{zh}。",
        f"Your report of {kind_en} (case {no}): {en}.",
    ]
    if event.get("reason"):
        lines.append(f"说明 / Note: {event['reason']}")
    if event.get("photos"):
        lines.append("附有现场照片，可在案件页面查看。 / A photo is on the case page.")
    if case.get("deadline_at") and to_status not in ("closed", "rated", "archived"):
        lines.append(f"预计完成时间 / Expected by: {str(case['deadline_at'])[:16]}")
    lines += ["", "GridGov 城市网格管理 / city grid management"]
    subject = f"【GridGov】案件 {no}：{zh} / Case {no}: {en}"
    return Message(subject=subject, text="\n".join(lines), short=f"【GridGov】案件{no}{zh}。")
