"""Fixtures that start the real parts once per session: the model host with Gemma, Celery workers, Chromium.

PostgreSQL and Redis come from 127.0.0.1 when they answer (see tests/services.py).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from casework.intake import CaseInput, PartyInput, do_create_case
from casework.models import Case, CaseType, Firm, Membership, PartyRole, Role
from config.stack import Stack, port_open, workers_for
from llmops.catalog import load_catalog

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PDFS = REPO.parent / "shared" / "fixtures" / "sample-pdfs"
CHROMIUM = Path("/usr/bin/chromium")


def _database_url_for_workers() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def storage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(autouse=True)
def _session_storage(settings: Any, storage_dir: Path) -> None:
    """Uploads of this session go to its own folder, which the workers it starts share."""
    settings.AFFIANT_STORAGE_DIR = storage_dir


@pytest.fixture(scope="session", autouse=True)
def _sqlite_flush_keeps_append_only_triggers() -> Iterator[None]:
    """Let a transactional test's flush empty the audit tables on SQLite, and only the flush.

    On SQLite the flush is a DELETE FROM each table, which the append-only triggers refuse. The flush
    alone lifts every trigger and puts it back as it was, in the flush's own transaction. The
    application has no such escape, and PostgreSQL needs none: its flush is a TRUNCATE, which fires no
    row trigger.
    """
    if connection.vendor != "sqlite":
        yield
        return
    from django.db.backends.sqlite3.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {self.quote_name(name)}")
            flush(self, sql_list)
            for _, sql in triggers:
                cursor.execute(sql)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher's deliberate slowness buys them nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def live_stack(django_db_setup: None, django_db_blocker: Any, storage_dir: Path) -> Iterator[Stack]:
    """The model host supervisor and two Celery workers, on the test database and Redis."""
    import redis

    stack = Stack(quiet=True)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # pytest then tears the session down, and this fixture stops what it started

    signal.signal(signal.SIGTERM, interrupted)
    stack.ensure_redis()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    control = settings.LLAMACPP_CONTROL_URL
    port = int(control.rsplit(":", 1)[1])
    if port_open("127.0.0.1", port):
        pytest.fail(f"something already listens on {control}: a model host left over from an earlier run?")
    with django_db_blocker.unblock():
        load_catalog(Path(settings.LLMOPS_CONFIG))
        stack.env["DATABASE_URL"] = _database_url_for_workers()
    stack.env["AFFIANT_LOG_LEVEL"] = "INFO"
    stack.env["AFFIANT_STORAGE_DIR"] = str(storage_dir)
    try:
        stack.ensure_modelhost("local", control)
        stack.start_worker("test-gpu-local", ["gpu.local"], concurrency=1)
        stack.start_worker("test-default", ["default", "api"], concurrency=2)
        wait_until(lambda: workers_for({"gpu.local", "default"}) == {"gpu.local", "default"}, 90, "the workers")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def llm_catalog(transactional_db: None) -> None:
    """Hosts, models and routes from the shipped YAML (a transactional test's flush removes them)."""
    load_catalog(Path(settings.LLMOPS_CONFIG))


@pytest.fixture
def realstack(live_stack: Stack, llm_catalog: None) -> Stack:
    return live_stack


# --- people and cases ------------------------------------------------------------------------


def make_user(firm: Firm, role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="a-long-test-password-1")
    Membership.objects.create(user=user, firm=firm, role=role)
    return user


def make_case(firm: Firm, assignees: list[User], title: str = "Doe - VAWA") -> Case:
    return do_create_case(
        firm=firm,
        created_by=assignees[0] if assignees else None,
        assignees=assignees,
        data=CaseInput(
            title=title,
            case_type=CaseType.VAWA_SPOUSE,
            client=PartyInput(role=PartyRole.CLIENT, name="Jane Doe", a_number="A123456789"),
            parties=(PartyInput(role=PartyRole.ABUSER, name="John Roe"),),
        ),
    )


@pytest.fixture
def firm_people(db: None) -> dict[str, Any]:
    """A firm with an assigned attorney and paralegal, unassigned ones, an ops admin, and another firm's user."""
    firm = Firm.objects.create(name="Test Firm")
    other = Firm.objects.create(name="Other Firm")
    people: dict[str, Any] = {
        "firm": firm,
        "attorney": make_user(firm, Role.ATTORNEY, "attorney1"),
        "paralegal": make_user(firm, Role.PARALEGAL, "paralegal1"),
        "unassigned_attorney": make_user(firm, Role.ATTORNEY, "attorney2"),
        "unassigned_paralegal": make_user(firm, Role.PARALEGAL, "paralegal2"),
        "ops": make_user(firm, Role.OPS_ADMIN, "ops1"),
        "other_firm_attorney": make_user(other, Role.ATTORNEY, "outsider"),
    }
    people["case"] = make_case(firm, [people["attorney"], people["paralegal"]])
    return people


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; `make system-deps` installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
