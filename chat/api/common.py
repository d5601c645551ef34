"""What every REST view shares: the documented error responses, input parsing
and answering with JSON that a command has already rendered."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse

from chatsite.core.api_errors import ErrorSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed for your role"),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or not visible to you)"),
    409: OpenApiResponse(ErrorSerializer, description="Conflict"),
    410: OpenApiResponse(ErrorSerializer, description="No longer usable (an expired, used up or revoked link)"),
    413: OpenApiResponse(ErrorSerializer, description="Request too large"),
    415: OpenApiResponse(ErrorSerializer, description="Unsupported media type"),
    429: OpenApiResponse(ErrorSerializer, description="Rate limited (see Retry-After)"),
    503: OpenApiResponse(ErrorSerializer, description="A backing service (Redis) is unavailable; retry later"),
}


def errors(*codes) -> dict:
    return {code: ERRORS[code] for code in (400, 401, 404, 429, *codes)}


def body_errors(*codes) -> dict:
    """errors() of an operation that reads a body: it can also be too large or of a type not parsed."""
    return errors(413, 415, *codes)


def parse(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def rendered(json: bytes, *, status: int = 200) -> HttpResponse:
    """A body a command rendered (the same bytes its event carries), sent as it is."""
    return HttpResponse(json, status=status, content_type="application/json")


def sent(result) -> HttpResponse:
    """A command's MessageResult: 201 for a new message, 200 for a retry's original."""
    return rendered(result.json, status=201 if result.created else 200)


def paged(request, response, next_cursor: str | None):
    """The cursor paging of list endpoints: ``X-Next-Cursor`` and a ``Link``
    header (rel=next) when there is a next page."""
    if next_cursor is not None:
        params = request.query_params.copy()
        params["cursor"] = next_cursor
        response["X-Next-Cursor"] = next_cursor
        response["Link"] = f'<{request.path}?{params.urlencode()}>; rel="next"'
    return response
