from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        # System checks of the whole project (generated secrets, one-process defaults, keys).
        import chatsite.checks  # noqa: F401
