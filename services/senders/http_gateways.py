"""SMS gateway and WeChat template messages: JSON over HTTP to configurable endpoints.

SMS: ``POST <GRIDGOV_SMS_URL>`` ``{"to": phone, "text": one line, "id": delivery key}``
with ``Authorization: Bearer <token>`` when a token is set. WeChat: the official
template-message call shape, ``POST <url>?access_token=<token>``
``{"touser": openid, "template_id": …, "data": {"first", "keyword1", "keyword2", "remark"}}``;
a WeChat answer with a non-zero ``errcode`` counts as a failure.
"""

from __future__ import annotations

import httpx

from layers.notify import Claimed
from services.senders.messages import render
from services.senders.webhook import SendFailed

__all__ = ["SmsGatewaySender", "WeChatTemplateSender"]


def _post(
    url: str,
    *,
    json_body: dict[str, object],
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> httpx.Response:
    try:
        response = httpx.post(
            url, json=json_body, headers=headers, params=params, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code}")
    return response


class SmsGatewaySender:
    """One short text per notification through an HTTP SMS gateway."""

    def __init__(self, *, url: str, token: str | None = None) -> None:
        self.url, self.token = url, token

    def send(self, notification: Claimed) -> str:
        """Deliver once; raise :class:`SendFailed` unless the gateway answers 2xx."""
        if not notification.address:
            raise SendFailed("no phone number")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers["Idempotency-Key"] = notification.delivery_key
        body: dict[str, object] = {
            "to": notification.address,
            "text": render(notification.payload).short,
            "id": notification.delivery_key,
        }
        response = _post(self.url, json_body=body, headers=headers)
        return f"HTTP {response.status_code}"


class WeChatTemplateSender:
    """A WeChat template message per notification (``address`` is the follower's openid)."""

    def __init__(self, *, url: str, template_id: str, token: str | None = None) -> None:
        self.url, self.template_id, self.token = url, template_id, token

    def send(self, notification: Claimed) -> str:
        """Deliver once; raise :class:`SendFailed` on an HTTP error or a WeChat errcode."""
        if not notification.address:
            raise SendFailed("no WeChat openid")
        message = render(notification.payload)
        case = notification.payload.get("case", {})
        body: dict[str, object] = {
            "touser": notification.address,
            "template_id": self.template_id,
            "data": {
                "first": {"value": message.subject},
                "keyword1": {"value": str(case.get("case_no", ""))},
                "keyword2": {"value": str(case.get("status_zh", ""))},
                "remark": {"value": message.text},
            },
        }
        params = {"access_token": self.token} if self.token else None
        response = _post(self.url, json_body=body, headers={}, params=params)
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) not in (0, None):
            raise SendFailed(f"WeChat errcode {answer.get('errcode')}: {answer.get('errmsg')}")
        return f"HTTP {response.status_code}"
