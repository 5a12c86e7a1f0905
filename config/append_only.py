"""Tables that are only ever inserted into: the audit trail of case data and the ops admins' actions.

The ORM refuses to change or remove their rows here, with the same error the database's triggers
raise when anything else tries (see the migrations that install them), so a caller sees one kind of
failure whichever layer stopped it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, models

_M = TypeVar("_M", bound=models.Model)


class AppendOnlyError(IntegrityError):
    """Someone tried to change or remove a row of an append-only table."""


class AppendOnlyQuerySet(models.QuerySet[_M]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model._meta.db_table} rows are append-only: update refused")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model._meta.db_table} rows are append-only: delete refused")


class AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.db_table} rows are append-only: update refused")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self._meta.db_table} rows are append-only: delete refused")
