"""Sending one notification: HTTP with timeouts (one keep-alive session per thread) or email.

Returns a SendResult; never raises for the outside world's failures. Retryable:
network errors (DNS included), timeouts, 429 and 5xx. Everything else is final.
HTTP goes to the address that passed the private-range check (alerting.pinned_http).
"""

import hashlib
import hmac
import logging
import smtplib
import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.mail import EmailMessage

from . import payloads, pinned_http
from .choices import ChannelKind
from .validators import UnsafeUrl

logger = logging.getLogger(__name__)
_local = threading.local()
SIGNATURE_HEADER = "X-Vigil-Signature"


@dataclass
class SendResult:
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0
    retry_after: float | None = None


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = pinned_http.new_session()
        session.headers["User-Agent"] = "Vigil-Alerting/1.0"
        _local.session = session
    return session


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdecimal() and value.strip().isascii() else None


def post_json(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    started = time.monotonic()
    try:
        target = pinned_http.resolve_checked(url)
    except UnsafeUrl as exc:
        return SendResult(ok=False, retryable=False, error=f"refused: {exc}")
    except pinned_http.HostNotResolved as exc:
        return SendResult(False, True, None, f"DNS: {exc}"[:1000], int((time.monotonic() - started) * 1000))
    timeout = settings.ALERT_DELIVERY_TIMEOUT
    try:
        response = pinned_http.post(
            _session(),
            target,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=(min(timeout, 5.0), timeout),
        )
    except requests.Timeout as exc:
        return SendResult(False, True, None, f"timeout: {exc}"[:1000], int((time.monotonic() - started) * 1000))
    except requests.RequestException as exc:  # connection refused, reset, DNS, TLS
        return SendResult(
            False, True, None, f"{type(exc).__name__}: {exc}"[:1000], int((time.monotonic() - started) * 1000)
        )
    duration = int((time.monotonic() - started) * 1000)
    code = response.status_code
    if 200 <= code < 300:
        return SendResult(True, False, code, "", duration)
    retryable = code == 429 or code >= 500
    return SendResult(False, retryable, code, f"HTTP {code}: {response.text[:300]}", duration, _retry_after(response))


def send(notification) -> SendResult:
    """Send, turning anything unexpected into a failed attempt (bounded by the attempt limit)."""
    try:
        return _send(notification)
    except Exception as exc:  # a bug or a bad secret must cost an attempt, not wedge the row
        logger.exception("sending notification %s failed unexpectedly", notification.pk)
        return SendResult(ok=False, retryable=True, error=f"unexpected {type(exc).__name__}: {exc}"[:1000])


def _admin_link(notification) -> dict:
    from django.urls import reverse

    path = reverse("admin:alerting_notification_change", args=[notification.pk])
    return {"label": "Open in Vigil", "url": settings.VIGIL_BASE_URL.rstrip("/") + path}


def _send(notification) -> SendResult:
    ctx = notification.context
    if not ctx.get("links"):
        ctx = {**ctx, "links": [_admin_link(notification)]}
    channel = notification.channel
    if channel is not None and not channel.enabled:
        return SendResult(ok=False, retryable=False, error=f"channel {channel} is disabled")
    kind = notification.kind
    if kind == ChannelKind.EMAIL:
        return _send_email(notification, ctx)
    payload = payloads.render(kind, ctx, channel)
    body = payloads.encode(payload)
    headers: dict[str, str] = {}
    if kind == ChannelKind.GENERIC_WEBHOOK:
        headers.update(channel.header_dict)
        headers["X-Vigil-Event"] = ctx["event"]
        headers["X-Vigil-Idempotency-Key"] = ctx["idempotency_key"]
        if channel.signing_secret:
            headers[SIGNATURE_HEADER] = signature(channel.signing_secret, body)
    return post_json(channel.endpoint, body, headers)


def _send_email(notification, ctx: dict) -> SendResult:
    subject, text = payloads.email(ctx)
    if notification.to_address:
        to = [notification.to_address]
    elif notification.channel is not None:
        to = notification.channel.address_list
    else:
        to = []
    if not to:
        return SendResult(ok=False, retryable=False, error="no email address")
    started = time.monotonic()
    try:
        EmailMessage(subject, text, settings.DEFAULT_FROM_EMAIL, to).send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return SendResult(False, False, None, f"{type(exc).__name__}: {exc}"[:1000])
    except (smtplib.SMTPException, OSError) as exc:
        return SendResult(False, True, None, f"{type(exc).__name__}: {exc}"[:1000])
    return SendResult(True, False, None, "", int((time.monotonic() - started) * 1000))
