"""Rate limits for the API (429 in the error format, with Retry-After).

Two fixed-window counters, each one atomic `incr` per request in the shared cache, instead of
DRF's default of reading and rewriting the whole request history each time:

- `ApiKeyRateThrottle` (a DRF throttle): every request made with an API key, per key
  (`API_RATE_LIMIT`).
- `ClientAddressWriteThrottle`: every write (POST, PUT, PATCH, DELETE) per client address,
  whoever sends it — key, session or nobody (`API_IP_RATE_LIMIT`). It runs in
  governance.api.write_guard, before authentication, so that refused writes count too.

The inbound webhooks (Alertmanager) are outside both: in an alert storm every page matters.
"""

import ipaddress
import logging
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiKey

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FixedWindowRateThrottle(SimpleRateThrottle):
    """A counter per identity and window; the window's end is when the client may try again."""

    def get_rate(self):
        # Read per request (not DRF's copy taken at import): a changed setting applies at once.
        # A scope without a rate is not throttled, which is DRF's meaning of a rate of None.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = time.time()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        try:
            try:
                count = cache.incr(key)
            except ValueError:  # first request of this window
                count = 1 if cache.add(key, 1, timeout=self.duration + 1) else cache.incr(key)
        except Exception as exc:  # the cache (Redis) is down: the API keeps answering, unthrottled, until it is back
            logger.warning("rate limit %s not applied, the cache is unavailable: %s", self.scope, exc)
            return True
        return count <= self.num_requests

    def wait(self):
        return max(self.window_ends_at - self.now, 1)


class ApiKeyRateThrottle(FixedWindowRateThrottle):
    """Rate limit per API key; session users and anonymous requests are not counted here."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
        return None


def client_address(request) -> str:
    """The address a client is counted under: REMOTE_ADDR, as the audit trail records it.

    X-Forwarded-For is not read: anybody can write it (DRF's own `get_ident` trusts it unless
    NUM_PROXIES is set). An IPv6 client counts per /64, the block one subscriber is given, so
    it cannot step around the limit by changing the low bits of its address.
    """
    remote = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote or "unknown"  # a unix socket: every client behind it is one client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ClientAddressWriteThrottle(FixedWindowRateThrottle):
    """Rate limit on writes per client address, for every kind of client; reads are not counted."""

    scope = "api_ip"

    def get_cache_key(self, request, view):
        if request.method not in WRITE_METHODS:
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
