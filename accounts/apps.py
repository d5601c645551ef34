from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out


class AccountsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'accounts'

    def ready(self):
        from . import sessions

        # A browser session is listed from its login to its logout (accounts/sessions.py).
        user_logged_in.connect(sessions.browser_session_started, dispatch_uid="accounts.browser_session_started")
        user_logged_out.connect(sessions.browser_session_ended, dispatch_uid="accounts.browser_session_ended")
