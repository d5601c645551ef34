"""A database error no view handles is a 503 with a code, for the API and for pages."""

import json

from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from chatsite import views
from chatsite.core.middleware import DatabaseUnavailableMiddleware


def test_a_view_that_meets_a_database_outage_answers_503():
    middleware = DatabaseUnavailableMiddleware(lambda request: HttpResponse("ok"))
    api = middleware.process_exception(RequestFactory().get("/api/rooms/"), OperationalError("connection refused"))
    assert (api.status_code, json.loads(api.content)["code"], api["Retry-After"]) == (503, "database_unavailable", "5")
    page = middleware.process_exception(RequestFactory().get("/"), OperationalError("connection refused"))
    assert page.status_code == 503 and b"unavailable" in page.content and page["Content-Type"].startswith("text/html")
    assert middleware.process_exception(RequestFactory().get("/"), ValueError("a bug")) is None


def test_a_database_error_outside_the_views_is_a_503_not_a_500():
    request = RequestFactory().get("/api/rooms/")
    try:
        raise OperationalError("the session could not be saved")
    except OperationalError:
        response = views.server_error(request)
    assert response.status_code == 503 and json.loads(response.content)["code"] == "database_unavailable"
    try:
        raise ValueError("a bug")
    except ValueError:
        assert views.server_error(request).status_code == 500
