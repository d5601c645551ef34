"""Room names stored before bidi controls were stripped lose them now
(chatsite/core/text.py)."""

from django.db import migrations
from django.db.models import Q

CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def strip(apps, schema_editor):
    ChatRoom = apps.get_model("chat", "ChatRoom")
    having = Q()
    for control in CONTROLS:
        having |= Q(name__contains=control)
    drop = {ord(ch): None for ch in CONTROLS}
    for room in ChatRoom.objects.filter(having).only("pk", "name"):
        ChatRoom.objects.filter(pk=room.pk).update(name=room.name.translate(drop).strip() or "Room")


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_threads")]
    operations = [migrations.RunPython(strip, migrations.RunPython.noop)]
