"""Notes when a browser session was last used (for the list of sessions),
at most every few minutes and only for a request that read the session anyway:
most requests cost no query."""

from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from . import sessions
from .models import SessionKind, UserSession


class SessionSeenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not session.accessed or not session.get(SESSION_KEY) or not session.session_key:
            return response
        now = int(timezone.now().timestamp())
        if now - int(session.get(sessions.SEEN_DATA_KEY) or 0) < sessions.SEEN_EVERY:
            return response
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response
        agent, ip = sessions.request_device(request)
        session_id = session.get(sessions.SESSION_DATA_KEY)
        updated = 0
        if session_id:
            updated = UserSession.objects.filter(pk=session_id).update(
                last_seen_at=timezone.now(), session_key=session.session_key, ip=ip, **({"user_agent": agent} if agent else {})
            )
        if not updated:
            # Signed in before sessions were listed (or the row is gone): listed from now on.
            row = UserSession.objects.create(
                user=user, kind=SessionKind.BROWSER, session_key=session.session_key,
                user_agent=agent, ip=ip, last_seen_at=timezone.now(),
            )
            session[sessions.SESSION_DATA_KEY] = str(row.pk)
        session[sessions.SEEN_DATA_KEY] = now
        return response
