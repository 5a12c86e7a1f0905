"""Audit rows are only ever inserted: the database refuses to change or remove them.

PostgreSQL: a row trigger raises on UPDATE or DELETE (SQLSTATE 23001, restrict_violation, which Django
reports as IntegrityError). TRUNCATE fires no row trigger, so the test runner's flush still empties the
table; in production the application's database role should not be granted TRUNCATE on it (see README).
SQLite (`make run`): BEFORE UPDATE and BEFORE DELETE triggers abort the statement.

A case with a trail can no longer be deleted (PROTECT, as its actor already was), so no delete has to
rewrite the trail. On SQLite a later migration that alters this table remakes it, which drops its
triggers: such a migration must install them again (tests/casework/test_audit.py checks they exist).
"""

from __future__ import annotations

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

TABLE = "casework_auditevent"

INSTALL = {
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
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
        raise RuntimeError(f"append-only audit triggers are not written for {vendor}")
    for sql in INSTALL[vendor]:
        schema_editor.execute(sql, params=None)


def remove(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for sql in REMOVE.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0004_document_attempts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="case",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="audit_events",
                to="casework.case",
            ),
        ),
        migrations.RunPython(install, remove),
    ]
