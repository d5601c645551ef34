"""What every request may meet that no view handles: the database going away.

DRF views answer through chatsite.core.api_errors; this covers the rest (the
chat page, the admin, the unsubscribe page): a 503 with a code, at once, never
a 500 page and a traceback per request while PostgreSQL restarts.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

from .api_errors import DATABASE_RETRY_AFTER, database_unavailable_body

logger = logging.getLogger(__name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>chatsite is unavailable</title></head>
<body><h1>chatsite is unavailable for a moment</h1><p>The database does not answer. This page will work again shortly.</p></body></html>"""


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # An error raised in another middleware (saving the session) becomes a
        # 500 there; chatsite.views.server_error turns that into this 503 too.
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return self._unavailable(request, exception)
        return None

    def _unavailable(self, request, exc):
        logger.warning("database unavailable (%s %s): %s", request.method, request.path, type(exc).__name__)
        return self.unavailable_response(request)

    @staticmethod
    def unavailable_response(request):
        wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")
        if wants_json:
            response = JsonResponse(database_unavailable_body(), status=503)
        else:
            response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
