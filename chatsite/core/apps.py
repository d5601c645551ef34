from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "chatsite.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Multiprocess metrics: forget dead processes' live gauges, and this one's on exit.
        from . import metrics

        metrics.process_started()
