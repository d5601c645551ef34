"""Error pages: JSON under /api/, Django's default pages elsewhere."""

import sys

from django.db import InterfaceError, OperationalError
from django.views import defaults

from chatsite.core.api_errors import json_404, json_500
from chatsite.core.middleware import DatabaseUnavailableMiddleware


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return defaults.page_not_found(request, exception)


def server_error(request):
    # A database error raised where no view catches it (a middleware saving the
    # session): still the 503 of an outage, not a 500.
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return DatabaseUnavailableMiddleware.unavailable_response(request)
    if request.path.startswith("/api/"):
        return json_500(request)
    return defaults.server_error(request)
