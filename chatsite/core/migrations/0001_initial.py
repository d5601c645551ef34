# RateLimitLog moved here from chat (its table, chat_ratelimitlog, stays as it is).
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("chat", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="RateLimitLog",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("client_key", models.CharField(blank=True, max_length=64)),
                        ("event_type", models.CharField(max_length=40)),
                        ("window_start", models.DateTimeField()),
                        ("window_seconds", models.PositiveIntegerField()),
                        ("count", models.PositiveIntegerField(default=0)),
                        ("bucket", models.CharField(editable=False, max_length=64, unique=True)),
                        ("room", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="chat.chatroom")),
                        ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "chat_ratelimitlog",
                        "indexes": [models.Index(fields=["-window_start"], name="chat_ratelimitlog_window_idx")],
                    },
                ),
            ],
        ),
    ]
