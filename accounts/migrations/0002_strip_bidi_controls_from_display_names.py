"""Display names stored before bidi controls were stripped lose them now
(chatsite/core/text.py)."""

from django.db import migrations
from django.db.models import Q

CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def strip(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    having = Q()
    for control in CONTROLS:
        having |= Q(display_name__contains=control)
    drop = {ord(ch): None for ch in CONTROLS}
    for user in User.objects.filter(having).only("pk", "display_name"):
        User.objects.filter(pk=user.pk).update(display_name=user.display_name.translate(drop))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(strip, migrations.RunPython.noop)]
