from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Rate limit per API key (429); session users and anonymous requests are not throttled here."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
        return None
