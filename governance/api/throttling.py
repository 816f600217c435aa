import time

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Rate limit per API key (429); session users and anonymous requests are not throttled here.

    A fixed-window counter: one atomic `incr` per request in the shared cache, instead of
    DRF's default of reading and rewriting the whole request history each time.
    """

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
        return None

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
            count = cache.incr(key)
        except ValueError:  # first request of this window
            count = 1 if cache.add(key, 1, timeout=self.duration + 1) else cache.incr(key)
        return count <= self.num_requests

    def wait(self):
        return max(self.window_ends_at - self.now, 1)
