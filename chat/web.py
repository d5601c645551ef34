"""The browser UI's chat page: one HTML shell; the rest is static/chat/*.js.

The page speaks the public REST API (session auth, CSRF token header) and the
WebSocket protocol of docs/realtime.md, like any other client. The view only
hands it who is logged in, the limits it should know about and the wire
vocabulary (event kinds, close codes: chat/events/wire.py), so the JavaScript
never types them a second time.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from .events import wire
from .events.render import user_payload


@login_required
@ensure_csrf_cookie
def chat_page(request):
    config = {
        "user": user_payload(request.user),
        "is_staff": request.user.is_staff,
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        "max_attachment_bytes": settings.CHAT_MAX_ATTACHMENT_BYTES,
        "urls": {
            "api": "/api/",
            "socket": "/ws/chat/",
            "logout": reverse("logout"),
            "login": reverse("login"),
        },
        "wire": wire.client_constants(),
    }
    return render(request, "index.html", {"chat_config": config})
