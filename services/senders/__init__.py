"""Senders: how one notification leaves GridGov (e-mail, SMS gateway, WeChat, webhook).

Each sender is configured from the environment (:func:`senders_from_env`) and has one
method, ``send(notification) -> str`` (a short note of what the far end said), raising
:class:`SendFailed` when the attempt did not get through; the worker
(:mod:`services.notify`) retries with back-off and lists a notification as a dead
letter after its last try.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

from layers.notify import Claimed
from services.senders.email import SmtpSender
from services.senders.http_gateways import SmsGatewaySender, WeChatTemplateSender
from services.senders.webhook import SendFailed, WebhookSender, sign, verify

__all__ = [
    "SendFailed",
    "Sender",
    "SmsGatewaySender",
    "SmtpSender",
    "WeChatTemplateSender",
    "WebhookSender",
    "senders_from_env",
    "sign",
    "verify",
]


class Sender(Protocol):
    """Delivers one claimed notification or raises :class:`SendFailed`."""

    def send(self, notification: Claimed) -> str: ...


def senders_from_env(env: Mapping[str, str] | None = None) -> dict[str, Sender]:
    """The senders the environment configures (webhooks always; the others when set).

    - ``GRIDGOV_SMTP_HOST`` (+ ``_PORT`` 25, ``_FROM``, ``_USER``, ``_PASSWORD``,
      ``_STARTTLS=1``): e-mail;
    - ``GRIDGOV_SMS_URL`` (+ ``GRIDGOV_SMS_TOKEN``): an SMS gateway taking JSON
      ``{"to", "text"}``;
    - ``GRIDGOV_WECHAT_URL`` + ``GRIDGOV_WECHAT_TEMPLATE_ID`` (+ ``GRIDGOV_WECHAT_TOKEN``):
      WeChat template messages (``{"touser", "template_id", "data"}``).
    """
    env = os.environ if env is None else env
    found: dict[str, Sender] = {"webhook": WebhookSender()}
    if env.get("GRIDGOV_SMTP_HOST"):
        found["email"] = SmtpSender(
            host=env["GRIDGOV_SMTP_HOST"],
            port=int(env.get("GRIDGOV_SMTP_PORT", "25")),
            sender=env.get("GRIDGOV_SMTP_FROM", "gridgov@localhost"),
            user=env.get("GRIDGOV_SMTP_USER") or None,
            password=env.get("GRIDGOV_SMTP_PASSWORD") or None,
            starttls=env.get("GRIDGOV_SMTP_STARTTLS") == "1",
        )
    if env.get("GRIDGOV_SMS_URL"):
        found["sms"] = SmsGatewaySender(
            url=env["GRIDGOV_SMS_URL"], token=env.get("GRIDGOV_SMS_TOKEN") or None
        )
    if env.get("GRIDGOV_WECHAT_URL") and env.get("GRIDGOV_WECHAT_TEMPLATE_ID"):
        found["wechat"] = WeChatTemplateSender(
            url=env["GRIDGOV_WECHAT_URL"],
            template_id=env["GRIDGOV_WECHAT_TEMPLATE_ID"],
            token=env.get("GRIDGOV_WECHAT_TOKEN") or None,
        )
    return found
