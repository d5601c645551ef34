"""The browser UI's chat page: one HTML shell; the rest is static/chat/*.js.

The page speaks the public REST API (session auth, CSRF token header) and the
WebSocket protocol of docs/realtime.md, like any other client. The view only
hands it who is logged in, the limits it should know about and the wire
vocabulary (event kinds, close codes: chat/events/wire.py), so the JavaScript
never types them a second time.

The service worker of Web Push (static/chat/sw.js) is served at /sw.js: a
worker only controls pages at or below its own path, and the chat is at /.
"""

from functools import lru_cache

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import UserBlock
from chatsite.core.exceptions import ChatError

from . import commands, selectors
from .events import wire
from .events.render import user_payload


@login_required
@ensure_csrf_cookie
def chat_page(request):
    config = {
        "user": user_payload(request.user),
        # The zone chosen in the profile for displayed times ("": the browser's own).
        "time_zone": request.user.time_zone,
        "is_staff": request.user.is_staff,
        "has_company": request.user.company_id is not None,
        # People I blocked: their messages never notify me nor count as mentions.
        "blocked_user_ids": [
            str(user_id) for user_id in UserBlock.objects.filter(blocker=request.user).values_list("blocked_id", flat=True)
        ],
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        "max_attachment_bytes": settings.CHAT_MAX_ATTACHMENT_BYTES,
        "undo_delete_seconds": settings.CHAT_UNDO_DELETE_SECONDS,
        "urls": {
            "api": "/api/",
            "socket": "/ws/chat/",
            "logout": reverse("logout"),
            "login": reverse("login"),
            "service_worker": reverse("service-worker"),
            "notification_sound": static("chat/notify.wav"),
            "icon": static("chat/icon.svg"),
            # The emoji picker's data, fetched when first needed (manage.py build_emoji_data).
            "emoji_data": static("chat/emoji.json"),
        },
        "wire": wire.client_constants(),
    }
    return render(request, "index.html", {"chat_config": config})


def _read_service_worker() -> bytes:
    path = finders.find("chat/sw.js")
    if not path:
        raise Http404("no service worker")
    with open(path, "rb") as source:
        return source.read()


_cached_service_worker = lru_cache(maxsize=1)(_read_service_worker)


@require_safe
def service_worker(request):
    """static/chat/sw.js at /sw.js (scope "/"); browsers check it for updates,
    so it is not cached long (read once per process, except with DEBUG)."""
    source = _read_service_worker() if settings.DEBUG else _cached_service_worker()
    response = HttpResponse(source, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def invite_page(request, code: str):
    """The page an invite link opens: what the room is, and a button that joins
    it (a POST: a link preview fetching the page joins nobody and spends no
    use). Joined, or already a member: on to the room."""
    try:
        if request.method == "POST":
            member, _joined = commands.invite_accept(actor=request.user, code=code)
            return redirect(f"{reverse('home')}#room/{member.room_id}")
        preview = selectors.invite_preview(code=code, user=request.user)
    except ChatError as error:
        response = render(request, "chat/invite.html", {"error": error.detail}, status=error.status)
        if getattr(error, "retry_after", None):
            response["Retry-After"] = str(error.retry_after)
        return response
    return render(request, "chat/invite.html", {"preview": preview})
