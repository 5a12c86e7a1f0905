"""Each audit row carries the hash of the row before it and a hash over that and its own fields.

The rows already written are chained here, in id order, with `casework.audit.chain_hash`, the function
that chains new ones. Filling them is an UPDATE, which the append-only triggers of migration 0005 refuse,
and on SQLite adding a column that is not null remakes the table, which drops its triggers: so the
triggers come off first and go back on last, in both directions.

`at` is set by the writer instead of on save, since the hash covers it and is computed before the insert.
"""

from __future__ import annotations

import importlib

import django.utils.timezone
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

append_only = importlib.import_module("casework.migrations.0005_audit_append_only")


def fill_chain(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    from casework.audit import CHAINED_FIELDS, GENESIS, chain_hash

    events = apps.get_model("casework", "AuditEvent").objects.using(schema_editor.connection.alias)
    prev_hash, last_id = GENESIS, 0
    # In batches by id, each read before it is written: the table may be long, and SQLite should not be
    # updating rows under a cursor still reading them.
    while batch := list(events.filter(id__gt=last_id).order_by("id").values("id", *CHAINED_FIELDS)[:2000]):
        for row in batch:
            row_hash = chain_hash({**row, "prev_hash": prev_hash})
            events.filter(pk=row["id"]).update(prev_hash=prev_hash, row_hash=row_hash)
            prev_hash = row_hash
        last_id = batch[-1]["id"]


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0006_document_queued_at"),
    ]

    operations = [
        migrations.RunPython(append_only.remove, append_only.install),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(
                default="", editable=False, help_text="The row_hash of the row before it", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(
                default="", editable=False, help_text="sha256 of prev_hash and this row's fields", max_length=64
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunPython(fill_chain, migrations.RunPython.noop),
        migrations.RunPython(append_only.install, append_only.remove),
    ]
