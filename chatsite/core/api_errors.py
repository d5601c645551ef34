"""Every API error is JSON: ``{"code": "...", "detail": "...", "fields": {...}}``.

Service exceptions (chatsite.core.exceptions) carry their own code and status;
DRF's and Django's are given stable codes here. :class:`ErrorSerializer`
describes that body in the OpenAPI schema, for every app's views.
"""

import logging
import traceback

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chatsite.core.exceptions import ChatError, RateLimited

logger = logging.getLogger(__name__)

STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ErrorSerializer(serializers.Serializer):
    """The error body (schema only: :func:`error_body` and the handler build it)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    retry_after = serializers.IntegerField(required=False)


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    body = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        return {key: [str(item) for item in (value if isinstance(value, list) else [value])] for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def _raised_by_parser(exc: BaseException) -> bool:
    return any(frame.f_globals.get("__name__") == "rest_framework.parsers" for frame, _ in traceback.walk_tb(exc.__traceback__))


DATABASE_RETRY_AFTER = 5


def database_unavailable_body() -> dict:
    return error_body("database_unavailable", "The database is unavailable right now; try again in a few seconds.")


def exception_handler(exc, context):
    if isinstance(exc, (OperationalError, InterfaceError)):
        # PostgreSQL down, restarting or out of connections: the pool gave up
        # waiting (DATABASE_POOL_TIMEOUT). Nothing was written; retrying works
        # once it is back.
        logger.warning("database unavailable: %s", type(exc).__name__)
        return Response(database_unavailable_body(), status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER)})
    if isinstance(exc, RateLimited):
        body = error_body(exc.code, exc.detail)
        body["retry_after"] = exc.retry_after
        return Response(body, status=429, headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, ChatError):
        return Response(error_body(exc.code, exc.detail, exc.fields), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is too large."), status=413)
    if isinstance(exc, TooManyFieldsSent):
        return Response(error_body("invalid", "Too many fields in the request."), status=400)
    if isinstance(exc, RecursionError) and _raised_by_parser(exc):
        # json's decoder gives up on nesting deeper than the interpreter's recursion limit.
        return Response(error_body("parse_error", "JSON parse error - the body is nested too deeply."), status=400)
    if isinstance(exc, DjangoValidationError):
        return Response(error_body("invalid", "; ".join(exc.messages)), status=400)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        return Response(error_body("invalid", "Invalid input.", _flatten(exc.detail)), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else STATUS_CODES.get(response.status_code, "error")
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            response.status_code = 401
            code = "not_authenticated" if isinstance(exc, drf.NotAuthenticated) else "authentication_failed"
        detail = exc.detail
        if isinstance(detail, dict):
            message = str(detail.get("detail", "Authentication failed."))
            code = str(detail.get("code", code))
        else:
            message = str(detail)
        response.data = error_body(code, message)
        if isinstance(exc, drf.Throttled) and exc.wait:
            response.data["retry_after"] = int(exc.wait)
    return response


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request):
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
