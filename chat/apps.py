from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out


def close_sockets_on_logout(sender, user=None, **kwargs):
    """Django's ``user_logged_out`` (session logout, ``POST /api/auth/logout/``,
    admin logout): the person's WebSockets close, since accounts cannot call chat."""
    if user is not None:
        from . import commands  # not at module level: apps load before models


        commands.user_logged_out(user=user)


def close_sockets_of_revoked_sessions(sender, user=None, session_ids=(), keep_session_id=None, **kwargs):
    """accounts' ``sessions_revoked`` (log out everywhere else, one session
    ended, a password change): those sessions' WebSockets close."""
    if user is not None:
        from . import commands

        commands.user_sessions_revoked(user=user, session_ids=list(session_ids), keep_session_id=keep_session_id)


def refresh_sockets_on_profile_change(sender, user=None, **kwargs):
    """accounts' ``profile_changed`` (a new name or picture): the person's
    sockets send the new ones with their messages."""
    if user is not None:
        from . import commands

        commands.user_profile_changed(user=user)


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        # System checks of the whole project (generated secrets, one-process defaults, keys).
        import chatsite.checks  # noqa: F401

        # The handlers of chat's durable jobs (chatsite.core.jobs): every process
        # that enqueues or runs a job has them — the previews' where the writes
        # are (commands), the exports' in chat.exports.
        from . import commands  # noqa: F401
        from .exports import personal, room  # noqa: F401

        # /metrics reads the notification queue at each scrape.
        from .notify import queue_metrics

        queue_metrics.register()

        user_logged_out.connect(close_sockets_on_logout, dispatch_uid="chat.close_sockets_on_logout")
        from accounts.services import profile_changed
        from accounts.sessions import sessions_revoked

        sessions_revoked.connect(close_sockets_of_revoked_sessions, dispatch_uid="chat.close_sockets_of_revoked_sessions")
        profile_changed.connect(refresh_sockets_on_profile_change, dispatch_uid="chat.refresh_sockets_on_profile_change")
