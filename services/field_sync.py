"""The field app's outbox, applied: photos uploaded ahead, then actions in order, each once.

``sync`` runs one unit of work as the device's user. Each action is looked up by its
client id first — a re-send gets the stored result and nothing is done again — and
is then applied in a savepoint of its own: a refusal (stale version, wrong state, not
on site …) rolls back only that action and is stored as its result, with the reason
in Chinese and English. Every case change goes through the workflow functions
(``case_report``, ``case_transition``) as the user's role, so the history rows carry
the worker's role and name. When the server dies mid-sync the transaction is lost as
a whole; the phone sends the same ids again and they are applied then, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gis.errors import GridGovError
from layers import field, field_reads
from layers.field import Device
from layers.media import (
    MAX_PHOTO_BYTES,
    PhotoError,
    photo_kept_if_accepted,
    read_photo,
    store_photo,
)
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.errors import BadValue, CaseNotFound
from layers.workflow.transitions import transition
from services.field import pause_for_test, proof_radius_m, scope_of
from services.uow import unit_of_work

MAX_ACTIONS = 200
MAX_PHOTOS_PER_ACTION = 5
KINDS = ("report", "fix_on_spot", "verify", "check", "accept", "feedback", "extension", "return")

REASONS_ZH = {
    "stale_case": "案件已被他人处理或更新（版本已变），请刷新后再试",
    "wrong_state": "案件当前状态不允许此操作",
    "role_forbidden": "您的角色不能进行此操作",
    "outside_your_area": "案件不在您的辖区",
    "role_not_held": "账号角色已变更，请重新登录",
    "not_on_site": "不在现场：位置离案件太远，或定位精度不足；请到现场或说明无法定位的原因",
    "photo_missing": "照片尚未上传",
    "unknown_category": "未知的问题类别",
    "outside_served_area": "位置不在服务区域内",
    "bad_value": "填写的内容有误",
    "bad_coordinates": "坐标有误",
    "bad_photo": "照片无法接受",
    "case_not_found": "案件不存在或不在您的辖区",
    "missing_reason": "需要填写原因或说明",
    "missing_attachment": "需要附照片",
    "request_pending": "已有待批准的申请",
    "request_required": "需要先提出申请",
    "description_too_long": "描述太长",
    "unknown_kind": "未知的操作类型",
}


class NotOnSite(GridGovError):
    """On-site proof failed: too far from the case or too coarse a fix, with no reason given."""

    code = "not_on_site"
    kind = "unprocessable"


class PhotoMissing(GridGovError):
    """An action names a photo id that was not uploaded (by this user)."""

    code = "photo_missing"
    kind = "bad_input"


class PhotoConflict(GridGovError):
    """A photo id uploaded again with other bytes."""

    code = "photo_conflict"
    kind = "conflict"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportPayload(_Strict):
    service_code: str = Field(min_length=1, max_length=32)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)
    location_source: Literal["gps", "map"] = "gps"
    part_id: int | None = Field(None, ge=1, le=2**31 - 1)
    description: str = Field("", max_length=4_000)
    photo_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_PHOTOS_PER_ACTION)


class FixPayload(ReportPayload):
    before_photo_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_PHOTOS_PER_ACTION)
    after_photo_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_PHOTOS_PER_ACTION)


class ProofPayload(_Strict):
    outcome: str
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)
    photo_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_PHOTOS_PER_ACTION)
    no_gps_reason: str | None = Field(None, max_length=500)
    note: str | None = Field(None, max_length=2_000)


class FeedbackPayload(_Strict):
    text: str = Field(min_length=1, max_length=2_000)
    photo_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_PHOTOS_PER_ACTION)


class ExtensionPayload(_Strict):
    hours: int = Field(ge=1, le=720)
    reason: str = Field(min_length=1, max_length=2_000)


class ReturnPayload(_Strict):
    reason: str = Field(min_length=1, max_length=2_000)


class Action(BaseModel):
    """One outbox action as the phone sends it."""

    client_id: uuid.UUID
    kind: str = Field(max_length=40, pattern=r"^[a-z_]{1,40}$")
    at: datetime | None = None
    case_id: int | None = Field(None, ge=1, le=2**62)
    expected_version: int | None = Field(None, ge=1, le=2**31 - 1)
    payload: dict[str, Any] = Field(default_factory=dict)


def upload_photo(
    engine: Engine, device: Device, *, photo_id: uuid.UUID, data: bytes
) -> tuple[int, dict]:
    """Keep an uploaded photo; (201, record) the first time, (200, record) for the same bytes.

    Raises
    ------
    PhotoError
        Empty, too large, not a JPEG/PNG/WebP (judged by the bytes).
    PhotoConflict
        The id was used for other bytes.
    """
    record = store_photo(data, case_id=0, name=f"{photo_id}.upload")
    body = {
        "photo_id": str(photo_id),
        "bytes": record["bytes"],
        "sha256": record["sha256"],
        "mime": record["mime"],
    }
    with unit_of_work(engine, scope_of(device), write=True) as conn:
        known = field.stored_photo(conn=conn, photo_id=photo_id)
        if known is None and field.add_photo(
            conn=conn, photo_id=photo_id, username=device.username, record=record
        ):
            return 201, body
        known = known or field.stored_photo(conn=conn, photo_id=photo_id)
    if known is None or known["sha256"] != record["sha256"]:
        raise PhotoConflict(f"photo {photo_id} was uploaded before with other bytes")
    return 200, body


def sync(engine: Engine, device: Device, actions: list[Action]) -> list[dict[str, Any]]:
    """Apply the actions in order, each once; one result per action, in the same order.

    Raises
    ------
    BadValue
        More than :data:`MAX_ACTIONS` actions (nothing applied).
    """
    if len(actions) > MAX_ACTIONS:
        raise BadValue(f"actions: {len(actions)} in one sync; at most {MAX_ACTIONS}")
    results = []
    with unit_of_work(engine, scope_of(device), write=True) as conn:
        for action in actions:
            results.append(_apply_once(conn, device, action))
            pause_for_test("sync")
    return results


def _apply_once(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    stored = field.stored_result(conn=conn, client_id=action.client_id)
    if stored is not None:
        return stored
    try:
        with conn.begin_nested():
            result = _apply(conn, device, action)
            if not _remember(conn, device, action, result):
                raise _AlreadyDone
        return result
    except _AlreadyDone:
        return field.stored_result(conn=conn, client_id=action.client_id) or result
    except IntegrityError as exc:
        # a concurrent send of the same client id made its case first (cases are unique by
        # source id): this savepoint is rolled back; answer what that send stored
        if getattr(exc.orig, "sqlstate", None) != "23505":
            raise
        stored = field.stored_result(conn=conn, client_id=action.client_id)
        if stored is None:
            raise
        return stored
    except ValidationError as exc:
        refusal = _refusal(action, _validation_error(exc))
    except GridGovError as exc:
        refusal = _refusal(action, exc)
    with conn.begin_nested():
        kept = _remember(conn, device, action, refusal)
    if kept:
        return refusal
    return field.stored_result(conn=conn, client_id=action.client_id) or refusal


class _AlreadyDone(GridGovError):
    """A concurrent send of the same client id stored its result first (rolls the action's
    savepoint back; never reaches a caller: the stored result is answered instead)."""

    code = "field_action_already_done"
    kind = "conflict"


def _remember(conn: Connection, device: Device, action: Action, result: dict[str, Any]) -> bool:
    return field.remember_result(
        conn=conn,
        client_id=action.client_id,
        username=device.username,
        device_id=device.device_id,
        kind=action.kind,
        case_id=result.get("case_id") or action.case_id,
        phone_at=action.at,
        result=result,
    )


def _refusal(action: Action, exc: GridGovError) -> dict[str, Any]:
    code = exc.code
    return {
        "client_id": str(action.client_id),
        "ok": False,
        "case_id": action.case_id,
        "code": code,
        "reason_zh": REASONS_ZH.get(code, "操作被拒绝"),
        "reason_en": exc.message or str(exc),
    }


def _validation_error(exc: ValidationError) -> BadValue:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return BadValue(f"payload.{where}: {first.get('msg', 'invalid')}")


def _printable(value: Any, where: str = "payload") -> None:
    """Refuse control characters (NUL …) anywhere in a payload; line breaks are text."""
    if isinstance(value, str):
        if any((ord(c) < 32 and c not in "\n\r\t") or 127 <= ord(c) < 160 for c in value):
            raise BadValue(f"{where}: contains a control character (such as NUL)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _printable(str(key), where)
            _printable(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _printable(item, f"{where}.{i}")


def _apply(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    _printable(action.payload)
    handler = _HANDLERS.get(action.kind)
    if handler is None:
        raise GridGovError(
            f"kind: {action.kind!r} is not one of {', '.join(KINDS)}", code="unknown_kind"
        )
    return handler(conn, device, action)


def _ok(action: Action, case_id: int, case_no: str, status: str, version: int) -> dict[str, Any]:
    return {
        "client_id": str(action.client_id),
        "ok": True,
        "case_id": case_id,
        "case_no": case_no,
        "status": status,
        "version": version,
    }


def _photos(
    conn: Connection, ids: list[uuid.UUID], *, case_id: int, stack: ExitStack
) -> list[dict]:
    """The attachment records of uploaded photos, stored under the case (removed again if
    the action is refused)."""
    out = []
    for photo_id in ids:
        known = field.stored_photo(conn=conn, photo_id=photo_id)
        if known is None:
            raise PhotoMissing(
                f"payload.photo_ids: photo {photo_id} was not uploaded; upload it, send again"
            )
        data = read_photo(known["path"])
        out.append(
            stack.enter_context(
                photo_kept_if_accepted(
                    data, case_id=case_id, name=f"{photo_id}.{known['path'][-3:]}"
                )
            )
        )
    return out


def _uploaded(conn: Connection, ids: list[uuid.UUID]) -> list[dict]:
    """Attachment records of uploaded photos as they are kept (the uploads folder)."""
    out = []
    for photo_id in ids:
        known = field.stored_photo(conn=conn, photo_id=photo_id)
        if known is None:
            raise PhotoMissing(
                f"payload.photo_ids: photo {photo_id} was not uploaded; upload it, send again"
            )
        out.append(
            {
                "type": "photo",
                "path": known["path"],
                "sha256": known["sha256"].strip(),
                "bytes": known["bytes"],
                "mime": known["mime"],
                "name": f"{photo_id}",
            }
        )
    return out


def _report(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    p = ReportPayload.model_validate(action.payload)
    if not p.photo_ids:
        raise BadValue("payload.photo_ids: a report needs at least one photo")
    return _new_case(conn, device, action, p, p.photo_ids)


def _new_case(
    conn: Connection, device: Device, action: Action, p: ReportPayload, photo_ids: list[uuid.UUID]
) -> dict[str, Any]:
    text = p.description.strip()
    try:
        report = validate_report(
            service_code=p.service_code,
            lon=p.lon,
            lat=p.lat,
            source="patrol",
            description=text or None,
        )
        report = replace(report, media=_uploaded(conn, photo_ids))
        made = report_case(
            conn=conn,
            report=report,
            actor=device.username,
            role=device.role,
            source_system="field",
            source_id=str(action.client_id),
        )
    except GridGovError as exc:
        # the reason names the field it is about, as every refusal does
        where = _REPORT_FIELDS.get(exc.code)
        if where and not exc.message.startswith("payload."):
            exc.message = f"{where}: {exc.message}"
        raise
    # a tap on the map has no GPS accuracy: only a GPS position keeps one
    accuracy = p.accuracy_m if p.location_source == "gps" else None
    if p.part_id is not None or accuracy is not None:
        field.report_details(
            conn=conn, case_id=int(made["case_id"]), part_id=p.part_id, accuracy_m=accuracy
        )
    return _ok(action, int(made["case_id"]), made["case_no"], "reported", int(made["version"]))


_REPORT_FIELDS = {
    "outside_served_area": "payload.lon/lat",
    "bad_coordinates": "payload.lon/lat",
    "unknown_category": "payload.service_code",
    "description_too_long": "payload.description",
    "role_forbidden": "kind",
}


def _fix_on_spot(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    p = FixPayload.model_validate(action.payload)
    made = _new_case(conn, device, action, p, [*p.before_photo_ids, *p.photo_ids])
    with ExitStack() as stack:
        after = _photos(conn, p.after_photo_ids, case_id=made["case_id"], stack=stack)
        done = transition(
            conn=conn,
            case_id=made["case_id"],
            action="close",
            actor=device.username,
            role=device.role,
            expected_version=1,
            reason=f"即知即改 fixed on the spot: {p.description}".strip(),
            attachments=after,
        )
    return _ok(action, done.case_id, made["case_no"], done.status, done.version)


def _proof(conn: Connection, action: Action, p: ProofPayload) -> tuple[dict, str]:
    """The case as seen and the proof text; refused when not on site and no reason given."""
    if action.case_id is None or action.expected_version is None:
        raise BadValue("case_id and expected_version are required")
    radius = proof_radius_m()
    reason = (p.no_gps_reason or "").strip()
    if p.lon is None or p.lat is None:
        place = field_reads.case_brief(conn=conn, case_id=action.case_id)
        distance = None
    else:
        place = field_reads.case_place(conn=conn, case_id=action.case_id, lon=p.lon, lat=p.lat)
        distance = None if place is None else float(place["distance_m"])
    if place is None:
        raise CaseNotFound(f"case {action.case_id} does not exist (or is outside your area)")
    if len(reason) < 2:
        if distance is None:
            raise NotOnSite("no position: give lon and lat, or a no_gps_reason")
        if distance > radius:
            raise NotOnSite(
                f"{distance:.0f} m from the case; on-site proof needs ≤ {radius:.0f} m "
                "(or a no_gps_reason)"
            )
        if p.accuracy_m is not None and p.accuracy_m > radius:
            raise NotOnSite(
                f"position accuracy {p.accuracy_m:.0f} m is worse than {radius:.0f} m "
                "(give a no_gps_reason)"
            )
    where = (
        f"{distance:.0f} m from the case, ±{p.accuracy_m or 0:.0f} m"
        if distance is not None
        else "no position"
    )
    if reason:
        where += f"; no GPS: {reason}"
    return place, where


def _verify(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    p = ProofPayload.model_validate(action.payload)
    if p.outcome not in ("confirmed", "not_found"):
        raise BadValue("payload.outcome: confirmed or not_found")
    place, where = _proof(conn, action, p)
    label = "核实属实 confirmed" if p.outcome == "confirmed" else "现场未发现 not found"
    text = f"{label} ({where})" + (f": {p.note}" if p.note else "")
    return _transition(
        conn,
        device,
        action,
        verb="verify",
        reason=text,
        photo_ids=p.photo_ids,
        case_no=place["case_no"],
    )


def _check(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
    p = ProofPayload.model_validate(action.payload)
    if p.outcome not in ("pass", "fail"):
        raise BadValue("payload.outcome: pass or fail")
    if p.outcome == "fail" and not (p.note or "").strip():
        raise BadValue("payload.note: say what is still wrong when a check fails")
    place, where = _proof(conn, action, p)
    label = "核查通过 passed" if p.outcome == "pass" else "核查未通过 failed"
    text = f"{label} ({where})" + (f": {p.note}" if p.note else "")
    verb = "check" if p.outcome == "pass" else "rework"
    return _transition(
        conn,
        device,
        action,
        verb=verb,
        reason=text,
        photo_ids=p.photo_ids,
        case_no=place["case_no"],
    )


def _handler_step(verb: str) -> Callable[[Connection, Device, Action], dict[str, Any]]:
    def step(conn: Connection, device: Device, action: Action) -> dict[str, Any]:
        if action.case_id is None or action.expected_version is None:
            raise BadValue("case_id and expected_version are required")
        brief = field_reads.case_brief(conn=conn, case_id=action.case_id)
        if brief is None:
            raise CaseNotFound(
                f"case {action.case_id} does not exist (or is not your department's)"
            )
        photos: list[uuid.UUID] = []
        if verb == "start":
            if action.payload:
                raise BadValue("payload: accept takes no fields")
            text = None
        elif verb == "handle":
            fb = FeedbackPayload.model_validate(action.payload)
            text, photos = fb.text, fb.photo_ids
        elif verb == "request_extension":
            ext = ExtensionPayload.model_validate(action.payload)
            text = f"申请延期 {ext.hours} h extension: {ext.reason}"
        else:
            text = ReturnPayload.model_validate(action.payload).reason
        return _transition(
            conn,
            device,
            action,
            verb=verb,
            reason=text,
            photo_ids=photos,
            case_no=brief["case_no"],
        )

    return step


def _transition(
    conn: Connection,
    device: Device,
    action: Action,
    *,
    verb: str,
    reason: str | None,
    photo_ids: list[uuid.UUID],
    case_no: str,
) -> dict[str, Any]:
    assert action.case_id is not None and action.expected_version is not None
    with ExitStack() as stack:
        attachments = _photos(conn, photo_ids, case_id=action.case_id, stack=stack)
        done = transition(
            conn=conn,
            case_id=action.case_id,
            action=verb,
            actor=device.username,
            role=device.role,
            expected_version=action.expected_version,
            reason=reason,
            attachments=attachments,
        )
    return _ok(action, done.case_id, case_no, done.status, done.version)


_HANDLERS: dict[str, Callable[[Connection, Device, Action], dict[str, Any]]] = {
    "report": _report,
    "fix_on_spot": _fix_on_spot,
    "verify": _verify,
    "check": _check,
    "accept": _handler_step("start"),
    "feedback": _handler_step("handle"),
    "extension": _handler_step("request_extension"),
    "return": _handler_step("request_return"),
}

__all__ = ["MAX_PHOTO_BYTES", "Action", "PhotoConflict", "PhotoError", "sync", "upload_photo"]
