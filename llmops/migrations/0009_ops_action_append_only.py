"""Ops actions are only ever inserted; their outcome is filled in once, when the action has run.

The database refuses every other UPDATE and every DELETE of an ops action. PostgreSQL: a row trigger
(SQLSTATE 23001, restrict_violation: Django's IntegrityError); TRUNCATE fires no row trigger, so the test
runner's flush still works. SQLite (`make run`): BEFORE UPDATE / BEFORE DELETE triggers that abort.

The host and model of an action can no longer be deleted (PROTECT, as for the calls they served), so
no delete has to rewrite an action. On SQLite a later migration that alters this table remakes it, which
drops its triggers: such a migration must install them again (tests/llmops/test_ops_actions.py checks).
"""

from __future__ import annotations

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

TABLE = "llmops_opsaction"
# The one UPDATE allowed: an empty outcome filled in, every other column unchanged.
_COLUMNS = ("id", "actor_id", "at", "action", "host_id", "model_id", "ip")

INSTALL = {
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.outcome = '' AND NEW.outcome <> ''
               AND ({", ".join(f"NEW.{c}" for c in _COLUMNS)})
                   IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in _COLUMNS)}) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{TABLE} rows are append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
        END;
        $$
        """,
        f"""
        CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()
        """,
    ],
    "sqlite": [
        f"""
        CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        WHEN NOT (OLD.outcome = '' AND NEW.outcome <> '' AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _COLUMNS)})
        BEGIN SELECT RAISE(ABORT, '{TABLE} rows are append-only: UPDATE refused'); END
        """,
        f"""
        CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{TABLE} rows are append-only: DELETE refused'); END
        """,
    ],
}

REMOVE = {
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
        f"DROP FUNCTION IF EXISTS {TABLE}_append_only()",
    ],
    "sqlite": [f"DROP TRIGGER IF EXISTS {TABLE}_no_update", f"DROP TRIGGER IF EXISTS {TABLE}_no_delete"],
}


def install(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in INSTALL:
        raise RuntimeError(f"append-only ops action triggers are not written for {vendor}")
    for sql in INSTALL[vendor]:
        schema_editor.execute(sql, params=None)


def remove(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for sql in REMOVE.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("llmops", "0008_worker_lost"),
    ]

    operations = [
        migrations.AlterField(
            model_name="opsaction",
            name="host",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="llmops.host"
            ),
        ),
        migrations.AlterField(
            model_name="opsaction",
            name="model",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="llmops.llmmodel"
            ),
        ),
        migrations.AlterField(
            model_name="opsaction",
            name="outcome",
            field=models.CharField(blank=True, help_text="Filled in once, when the action has run", max_length=300),
        ),
        migrations.RunPython(install, remove),
    ]
