"""Content-Security-Policy for every page chatsite serves.

The browser UI is plain JavaScript modules from ``/static/`` and nothing else:
no inline script, no inline style attribute, nothing from another origin. Its
one WebSocket goes to the same host (``ws:`` or ``wss:``), and images are the
site's own (attachments, ``data:`` icons, ``blob:`` previews of a file about to
be uploaded).

A response that sets its own policy keeps it (attachment downloads send a
stricter ``default-src 'none'; sandbox``).
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import DisallowedHost

HEADER = "Content-Security-Policy"

# The interactive API docs: Swagger UI's files come from this site
# (drf-spectacular-sidecar) and its start script is a separate file (the split
# view), but the page and Swagger UI itself use inline styles.
INLINE_STYLE_PATH_PREFIXES = ("/api/docs/",)


def policy_for(request) -> str:
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""
    sockets = f" ws://{host} wss://{host}" if host else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"connect-src 'self'{sockets}",
            "img-src 'self' data: blob:",
            "style-src 'self' 'unsafe-inline'" if request.path.startswith(INLINE_STYLE_PATH_PREFIXES) else "style-src 'self'",
            "font-src 'self'",
            "media-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self.add_policy(request, self.get_response(request))

    async def __acall__(self, request):
        return self.add_policy(request, await self.get_response(request))

    @staticmethod
    def add_policy(request, response):
        if HEADER in response:
            return response
        response[HEADER] = policy_for(request)
        return response
