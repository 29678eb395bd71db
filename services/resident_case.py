"""A resident's view of a case through its private link, and the resident's feedback.

The timeline is in plain words, Chinese and English (received, assigned to which
department, being handled, done — with the after-photo), with the expected time from the
deadline. Free text on it is masked (:func:`services.privacy.mask_text`); photos are served
only with the link's token, stripped of their metadata (:func:`services.privacy.strip_photo`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from layers import media, residents
from layers.workflow.errors import BadValue, CaseNotFound, WrongState
from layers.workflow.transitions import transition
from services.privacy import mask_text, strip_photo
from services.resident import ACTOR, RESIDENT, VERDICTS, NotYours, Photo, check_ids
from services.resident_kinds import kind_for_service
from services.uow import unit_of_work

STEP_WORDS: dict[str, tuple[str, str]] = {
    "report": ("已收到您的反映", "Received"),
    "accept": ("已受理", "Accepted"),
    "register": ("已立案", "Registered"),
    "dispatch": ("已交给{dept}处理", "Assigned to {dept_en}"),
    "start": ("正在处理", "Being handled"),
    "handle": ("已处理完，等待核查", "Fixed, being checked"),
    "check": ("已到现场核查", "Checked on site"),
    "rework": ("核查未通过，返工", "Not good enough, being redone"),
    "close": ("已办结", "Done"),
    "rate": ("您已评价", "You rated it"),
    "reopen": ("居民反映未修好，重新处理", "Reported not fixed: back for rework"),
    "archive": ("已归档", "Archived"),
    "reject": ("未受理", "Not accepted"),
    "merge": ("与同一问题的另一件合并", "Merged with a report of the same problem"),
    "request_extension": ("申请延长处理时间", "More time asked for"),
    "extend": ("处理时间已延长", "More time given"),
    "request_return": ("正在重新分派", "Being passed to another department"),
    "return": ("正在重新分派", "Being passed to another department"),
    "request_suspension": ("申请暂缓", "Asked to put on hold"),
    "suspend": ("暂缓处理", "On hold"),
    "resume": ("恢复处理", "Handling again"),
    "deny": ("申请未获批准，继续处理", "Request refused: handling goes on"),
}
"""What each step of the lifecycle is called on the resident's timeline (zh, en)."""
REASON_SHOWN = frozenset({"reject", "reopen", "rework", "handle", "merge"})
"""Steps whose reason the resident sees (masked)."""
SUMMARY = ("received", "assigned", "handling", "done")


def _visible(conn: Connection, case_no: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    check_ids("x" * 8, token)
    link = residents.link_for_token(conn=conn, case_no=case_no, token=token)
    if link is None:
        raise NotYours("token: this is not the private link of that case")
    case = residents.case_by_no(conn=conn, case_no=case_no)
    if case is None:
        raise CaseNotFound(f"case_no: no case {case_no!r}")
    return link, case


def case_view(engine: Engine, *, case_no: str, token: str) -> dict[str, Any]:
    """The case as its resident sees it: status, summary steps, timeline, photos, what the
    resident may do now.

    Raises
    ------
    NotYours
        The token is not a private link of this case.
    """
    with unit_of_work(engine, RESIDENT) as conn:
        link, case = _visible(conn, case_no, token)
        events = residents.timeline(conn=conn, case_id=int(case["id"]))
        given = residents.feedback_of_case(conn=conn, case_id=int(case["id"]))
    dept_zh = case["department_zh"] or "责任部门"
    dept_en = case["department_en"] or case["department_zh"] or "the department"
    timeline = []
    for e in events:
        zh, en = STEP_WORDS.get(e["action"], (e["action"], e["action"]))
        photos = [
            a["sha256"]
            for a in e["attachments"] or []
            if isinstance(a, dict) and a.get("type") == "photo" and a.get("path")
        ]
        timeline.append(
            {
                "action": e["action"],
                "at": e["at"].isoformat(),
                "zh": zh.format(dept=dept_zh),
                "en": en.format(dept_en=dept_en),
                "reason": mask_text(e["reason"]) if e["action"] in REASON_SHOWN else None,
                "photos": photos,
            }
        )
    actions = {e["action"] for e in events}
    last_reopen = max((i for i, e in enumerate(events) if e["action"] == "reopen"), default=-1)
    since = {e["action"] for e in events[last_reopen + 1 :]}
    k = kind_for_service(case["service_code"])
    return {
        "case_no": case["case_no"],
        "relation": link["relation"],
        "kind": k.public() if k else None,
        "status": case["status"],
        "status_zh": case["status_zh"],
        "status_en": case["status_en"],
        "department_zh": case["department_zh"],
        "department_en": case["department_en"],
        "reported_at": case["reported_at"].isoformat(),
        "expected_by": case["deadline_at"].isoformat() if case["deadline_at"] else None,
        "closed_at": case["closed_at"].isoformat() if case["closed_at"] else None,
        "summary": {
            "received": True,
            "assigned": "dispatch" in since or (last_reopen >= 0),
            "handling": bool({"start", "handle"} & since),
            "done": case["status"] in ("closed", "rated", "archived"),
        },
        "timeline": timeline,
        "reopened": case["reopen_count"],
        "merged": case["merged_into"] is not None,
        "may_rate": case["status"] == "closed",
        "may_say_not_fixed": case["status"] in ("closed", "rated"),
        "feedback": [
            {"verdict": f["verdict"], "at": f["at"].isoformat(), "reason": mask_text(f["reason"])}
            for f in given
        ],
        "seen": sorted(actions),
    }


def case_photo(engine: Engine, *, case_no: str, token: str, sha256: str) -> bytes:
    """A photo of the case (its report, an after-photo, a "not fixed" photo) for its resident,
    as a JPEG with no metadata.

    Raises
    ------
    NotYours, PhotoError
        Not the case's link, or no such photo of the case.
    """
    with unit_of_work(engine, RESIDENT) as conn:
        _, case = _visible(conn, case_no, token)
        records = [
            a
            for e in residents.timeline(conn=conn, case_id=int(case["id"]))
            for a in e["attachments"] or []
            if isinstance(a, dict)
        ] + residents.case_media(conn=conn, case_id=int(case["id"]))
    for a in records:
        if a.get("type") == "photo" and a.get("sha256") == sha256 and a.get("path"):
            return strip_photo(media.read_photo(a["path"]))
    raise media.PhotoError(f"photo: case {case_no} has no photo {sha256[:12]}…")


def give_feedback(
    engine: Engine,
    *,
    case_no: str,
    token: str,
    client_id: str,
    verdict: str,
    reason: str | None = None,
    photo: Photo | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rate a closed case (满意 / 基本满意 / 不满意) or say it is not fixed (a reason needed;
    a photo if the resident has one): the case is reopened for rework with that reason in
    its history. Stored once per client id.

    Raises
    ------
    BadValue
        An unknown verdict, or "not fixed" without a reason.
    WrongState
        The case is not closed (a rating) or not closed or rated ("not fixed").
    NotYours
        The token is not the case's link.
    """
    check_ids(client_id, token)
    if verdict not in VERDICTS:
        raise BadValue(f"verdict: {verdict!r} is not one of {', '.join(VERDICTS)}")
    reason = (reason or "").strip() or None
    if reason and len(reason) > 1000:
        raise BadValue("reason: at most 1000 characters")
    if verdict == "not_fixed" and not reason:
        raise BadValue("reason: say what is still wrong (needed for 'not fixed')")
    with unit_of_work(engine, RESIDENT, write=True) as conn:
        earlier = residents.feedback_by_client_id(conn=conn, client_id=client_id)
        link, case = _visible(conn, case_no, token)
        if earlier is not None:
            if earlier["link_id"] != link["id"] or earlier["verdict"] != verdict:
                raise BadValue("client_id: already used for other feedback; make a new one")
            return {"case_no": case_no, "verdict": verdict, "new": False}
        photos: list[dict[str, Any]] = []
        if verdict == "not_fixed":
            with _kept(photo, int(case["id"])) as records:
                photos = records
                transition(
                    conn=conn,
                    case_id=int(case["id"]),
                    action="reopen",
                    actor=ACTOR,
                    role="resident",
                    expected_version=int(case["version"]),
                    reason=f"居民反映未修好 / resident says not fixed: {reason}",
                    attachments=photos,
                    at=now,
                )
        else:
            if case["status"] != "closed":
                raise WrongState(
                    f"verdict: case {case_no} is {case['status_en'].lower()}; "
                    "a rating is for a closed case"
                )
            transition(
                conn=conn,
                case_id=int(case["id"]),
                action="rate",
                actor=ACTOR,
                role="resident",
                expected_version=int(case["version"]),
                changes={"satisfaction": VERDICTS[verdict]},
                at=now,
            )
        residents.add_feedback(
            conn=conn,
            case_id=int(case["id"]),
            link_id=int(link["id"]),
            client_id=client_id,
            verdict=verdict,
            satisfaction=VERDICTS[verdict],
            reason=reason,
            photos=photos,
        )
    return {"case_no": case_no, "verdict": verdict, "new": True}


class _kept:
    """The "not fixed" photo kept on disk only if the reopen is accepted."""

    def __init__(self, photo: Photo | None, case_id: int) -> None:
        self.photo, self.case_id = photo, case_id
        self._cm: Any = None

    def __enter__(self) -> list[dict[str, Any]]:
        if self.photo is None:
            return []
        self._cm = media.photo_kept_if_accepted(
            self.photo.data, case_id=self.case_id, name=self.photo.name
        )
        return [self._cm.__enter__()]

    def __exit__(self, *exc: object) -> bool:
        if self._cm is not None:
            return bool(self._cm.__exit__(*exc))
        return False
