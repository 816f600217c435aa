"""Rate limits for the API (429 in the error format, with Retry-After).

Two fixed-window counters in the shared cache, instead of DRF's default of reading and rewriting
the whole request history each time:

- `ApiKeyRateThrottle` (a DRF throttle): every request made with an API key, per key
  (`API_RATE_LIMIT`).
- `ClientAddressWriteThrottle`: every write (POST, PUT, PATCH, DELETE) per client address,
  whoever sends it — key, session or nobody (`API_IP_RATE_LIMIT`). It runs in
  governance.api.write_guard, before authentication, so that refused writes count too.

`count_together` counts several in one round trip to Redis (one Lua script: increment, and start
the window's expiry on its first request). A write made with a valid key is counted per address and
per key at once in the write guard; each count is kept on the request, so the per-key throttle DRF
runs later reads it instead of counting the request twice.

The inbound webhooks (Alertmanager) are outside both: in an alert storm every page matters.
"""

import ipaddress
import logging
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
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

    def window_key(self, request, view) -> str | None:
        """This request's counter in the current window (None: not counted), and the window's end."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        self.now = time.time()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        return f"{self.key}:{window}"

    def allow_request(self, request, view):
        return exceeded_wait(request, [self], view) is None

    def wait(self):
        return max(self.window_ends_at - self.now, 1)


_INCREMENT_ALL = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""
_increment_script = None


def _counted(request) -> dict[str, int]:
    """The counts this request has already taken, by counter (kept on Django's request)."""
    request = getattr(request, "_request", request)
    if not hasattr(request, "vigil_rate_counts"):
        request.vigil_rate_counts = {}
    return request.vigil_rate_counts


def count_together(request, counters: list[tuple[FixedWindowRateThrottle, str]]) -> None:
    """Count this request on each (throttle, window key) in one round trip and keep the counts on the
    request. If the cache (Redis) is down, nothing is counted: the API keeps answering, unthrottled,
    until it is back."""
    global _increment_script
    counts = _counted(request)
    keys = [key for _, key in counters]
    try:
        store = caches[DEFAULT_CACHE_ALIAS]  # once: each read through the `cache` proxy is a per-thread lookup
        client = getattr(store, "client", None)
        if hasattr(client, "get_client"):  # django-redis: one script for every counter
            redis = client.get_client(write=True)
            if _increment_script is None:
                _increment_script = redis.register_script(_INCREMENT_ALL)
            found = _increment_script(
                keys=[store.make_key(key) for key in keys],
                args=[int(throttle.duration) + 1 for throttle, _ in counters],
                client=redis,
            )
        else:  # another cache backend (no REDIS_URL): one atomic increment each
            found = [_increment(key, int(throttle.duration) + 1) for throttle, key in counters]
    except Exception as exc:
        scopes = ", ".join(throttle.scope for throttle, _ in counters)
        logger.warning("rate limit %s not applied, the cache is unavailable: %s", scopes, exc)
        found = [0] * len(keys)
    counts.update(zip(keys, (int(n) for n in found), strict=True))


def exceeded_wait(request, throttles: list[FixedWindowRateThrottle], view=None) -> float | None:
    """Count the request on each throttle's counter it has not been counted on yet (one round trip for
    all of them): the seconds until the client may try again when any limit is exceeded, else None."""
    counters = [(throttle, key) for throttle in throttles if (key := throttle.window_key(request, view))]
    counts = _counted(request)
    uncounted = [(throttle, key) for throttle, key in counters if key not in counts]
    if uncounted:
        count_together(request, uncounted)
    waits = [throttle.wait() for throttle, key in counters if counts.get(key, 0) > throttle.num_requests]
    return max(waits) if waits else None


def _increment(key: str, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # first request of this window
        return 1 if cache.add(key, 1, timeout=timeout) else cache.incr(key)


class ApiKeyRateThrottle(FixedWindowRateThrottle):
    """Rate limit per API key; session users and anonymous requests are not counted here."""

    scope = "api_key"

    def __init__(self, api_key: ApiKey | None = None):
        super().__init__()
        self.api_key = api_key  # counted before DRF authenticates (the write guard): the key it verified

    def get_cache_key(self, request, view):
        api_key = self.api_key or getattr(request, "auth", None)
        if isinstance(api_key, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": api_key.prefix}
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
