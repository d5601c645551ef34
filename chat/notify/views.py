"""The unsubscribe page of notification emails (RFC 8058 one-click).

The link carries a signed token with the user id (chat/notify/email.py), so
it works without logging in; the signature is the authorization, which is why
the POST is exempt from CSRF (a mail client's one-click POST has no CSRF
token). GET only shows a page with one button: mail scanners and link
previews fetch links, and a fetch must never unsubscribe anyone.
"""

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chatsite.core.api_errors import error_body
from chatsite.core.exceptions import ChatError

from .. import commands
from .email import user_id_from_unsubscribe_token

INVALID_CODE = "invalid_unsubscribe_token"
INVALID_DETAIL = "This unsubscribe link is not valid. Turn email notifications off in chatsite's settings instead."


def _user_for(token: str):
    """The active or inactive user the token names, or None for a bad token."""
    try:
        user_id = user_id_from_unsubscribe_token(token)
    except signing.BadSignature:
        return None
    return get_user_model().objects.filter(pk=user_id).first() if isinstance(user_id, str) else None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def email_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the page with the button (changes nothing). POST: email notifications
    off, through the same command as the settings page. A bad token: 400 and
    nothing changes (an HTML page for GET, a JSON error for POST)."""
    user = _user_for(token)
    if user is None:
        if request.method == "POST":
            return JsonResponse(error_body(INVALID_CODE, INVALID_DETAIL), status=400)
        return render(request, "chat/unsubscribe.html", {"invalid": True, "detail": INVALID_DETAIL}, status=400)
    if request.method == "POST":
        try:
            commands.notification_preferences_update(actor=user, email_enabled=False)
        except ChatError as error:  # rate-limited: mail clients and scanners repeat the POST
            response = JsonResponse(error_body(error.code, error.detail), status=error.status)
            if getattr(error, "retry_after", None):
                response["Retry-After"] = str(error.retry_after)
            return response
        return render(request, "chat/unsubscribe.html", {"done": True, "email": user.email})
    return render(request, "chat/unsubscribe.html", {"email": user.email})
