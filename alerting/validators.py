"""Outbound URL checks: http/https only; private, loopback and link-local hosts refused
unless settings.ALERT_ALLOW_PRIVATE_URLS. Checked when a channel is saved and again
before every send (a DNS name may have been re-pointed since)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from governance.choices import SecurityEventKind
from governance.security import security_event_record

from .choices import ChannelKind


class UnsafeUrl(ValueError):
    pass


def _refused(message: str) -> UnsafeUrl:
    """The private-range refusal, recorded as a security event. The message names the host only, never
    the URL: a webhook URL's path often is its credential."""
    security_event_record(kind=SecurityEventKind.OUTBOUND_URL_REFUSED, detail=message)
    return UnsafeUrl(message)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, *, resolve: bool = True, resolved: list[str] | None = None) -> None:
    """Raise UnsafeUrl with a sentence for people when `url` may not be called.

    A name that does not resolve now passes here (`resolve` still checks it
    before each send); an address literal or a name resolving to a private
    address is refused. `resolved`: the addresses the caller looked the name up to
    and will connect to (alerting.pinned_http); those are checked, not a new answer.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Only http:// and https:// URLs are allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host name.")
    if settings.ALERT_ALLOW_PRIVATE_URLS:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise _refused(f"{host} is a loopback address; set ALERT_ALLOW_PRIVATE_URLS to allow it.")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = list(resolved or [])
        if resolve and resolved is None:
            try:
                addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)})
            except (socket.gaierror, UnicodeError):
                addresses = []
    for address in addresses:
        if _forbidden(address.split("%")[0]):
            raise _refused(
                f"{host} resolves to {address}, a private, loopback or link-local address; "
                "set ALERT_ALLOW_PRIVATE_URLS to allow it.",
            )


def validate_channel(channel) -> None:
    """The model-level check of a Channel (admin forms and services)."""
    errors: dict[str, str] = {}
    if channel.kind in (ChannelKind.SLACK_WEBHOOK, ChannelKind.GENERIC_WEBHOOK) and not channel.url:
        errors["url"] = "This kind of channel needs a URL."
    if channel.kind == ChannelKind.PAGERDUTY_EVENTS_V2 and not channel.routing_key:
        errors["routing_key"] = "A PagerDuty channel needs a routing key."
    if channel.url and "url" not in errors:
        try:
            check_url(channel.url)
        except UnsafeUrl as exc:
            errors["url"] = str(exc)
    if channel.kind == ChannelKind.EMAIL:
        if not channel.address_list:
            errors["addresses"] = "An email channel needs at least one address."
        for address in channel.address_list:
            try:
                validate_email(address)
            except ValidationError:
                errors["addresses"] = f"{address!r} is not an email address."
    for line in (channel.headers or "").splitlines():
        if line.strip() and ":" not in line:
            errors["headers"] = f"Write each header as `Name: value` ({line.strip()[:40]!r})."
    if errors:
        raise ValidationError(errors)
