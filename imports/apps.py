from django.apps import AppConfig


class ImportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "imports"
    verbose_name = "Imports"

    def ready(self):
        from . import jobs  # noqa: F401 - registers the "slack.import" job handler
