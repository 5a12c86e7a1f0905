"""A PDF's password, given by an attorney on the case page, opens one parse and is written nowhere in the clear:
not in the broker (Redis keeps every command it is sent in its append-only file), not in any log."""

from __future__ import annotations

import base64
import io
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client
from django.urls import reverse

from casework.encryption import file_keys
from casework.ingest import ingest_document
from casework.models import Document, DocumentStatus
from casework.pdf_passwords import HOLD_S, do_hold_password, held_dir, remove_expired_passwords, take_password
from casework.pdfgen import text_pdf
from casework.tasks import ingest_document_task
from casework.uploads import do_store_upload
from config.jsonlog import JsonFormatter
from tests.conftest import wait_until


def _canary() -> str:
    return f"canary{secrets.token_hex(12)}"  # letters and digits: written as they are in JSON, logs and Redis


def _locked_pdf(password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(["My statement, kept under a password."]))))
    writer.encrypt(user_password=password, owner_password=secrets.token_hex(8), algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def traces(secret: str) -> list[bytes]:
    """The secret as bytes, and as it reads inside base64 (Kombu encodes a message's body so) at each alignment."""
    raw = secret.encode()
    forms = [raw]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # The first group of four shares bits with the bytes before, the last with the bytes after.
        forms.append(encoded[4 if shift else 0 : -4])
    return forms


def leaks(secret: str, blob: bytes) -> bool:
    return any(form in blob for form in traces(secret))


def _json_lines(records: list[logging.LogRecord]) -> bytes:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records).encode()


@pytest.fixture
def locked_document(firm_people: dict[str, Any]) -> tuple[Document, str]:
    password = _canary()
    stored = do_store_upload(
        case=firm_people["case"], name="statement.pdf", stream=io.BytesIO(_locked_pdf(password)), uploaded_by=None
    )
    ingest_document(stored.document.pk)
    stored.document.refresh_from_db()
    assert stored.document.status == DocumentStatus.NEEDS_PASSWORD
    return stored.document, password


# --- holding a password ------------------------------------------------------------------------------


def test_a_held_password_is_stored_encrypted_and_opens_one_parse_only() -> None:
    password = _canary()
    password_id = do_hold_password(password)
    assert password not in password_id
    path = held_dir() / password_id
    assert not leaks(password, path.read_bytes())
    assert path.stat().st_mode & 0o077 == 0
    assert take_password(password_id) == password
    assert not path.exists()
    assert take_password(password_id) is None


def test_a_held_password_no_longer_opens_once_its_time_is_past() -> None:
    password_id = do_hold_password("not-taken-in-time")
    made_long_ago = int(time.time()) - HOLD_S - 60
    (held_dir() / password_id).write_bytes(Fernet(file_keys()[0]).encrypt_at_time(b"not-taken-in-time", made_long_ago))
    assert take_password(password_id) is None
    assert not (held_dir() / password_id).exists()


def test_an_id_that_is_not_one_we_made_names_no_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "file.key"
    elsewhere.write_text("not a held password")
    assert take_password(os.path.relpath(elsewhere, held_dir())) is None
    assert elsewhere.exists()


def test_passwords_no_task_took_are_removed_once_expired() -> None:
    expired = held_dir() / do_hold_password("lost-with-its-message")
    fresh = held_dir() / do_hold_password("still-waiting")
    long_ago = time.time() - HOLD_S - 60
    os.utime(expired, (long_ago, long_ago))
    assert remove_expired_passwords() == 1
    assert not expired.exists() and fresh.exists()
    assert take_password(fresh.name) == "still-waiting"


# --- the task's arguments and records ----------------------------------------------------------------------


@pytest.mark.django_db
def test_retrying_with_a_password_queues_only_an_id_and_the_parse_opens_the_pdf(
    locked_document: tuple[Document, str],
    firm_people: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    document, password = locked_document
    sent: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(ingest_document_task, "delay", lambda *args, **kwargs: sent.append((args, kwargs)))
    attorney = Client()
    attorney.force_login(firm_people["attorney"])
    caplog.set_level(logging.INFO)
    url = reverse("casework:document_retry", args=[document.case_id, document.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert attorney.post(url, {"password": password}).status_code == 302
    [(args, kwargs)] = sent
    assert not leaks(password, repr((args, kwargs)).encode())
    held = held_dir() / kwargs["password_id"]
    assert held.exists()
    ingest_document_task.apply(args=args, kwargs=kwargs)  # what the worker runs, through Celery's tracer
    document.refresh_from_db()
    assert document.status == DocumentStatus.INDEXED  # the password reached the parser
    assert not held.exists()  # and was used up
    assert not leaks(password, _json_lines(caplog.records))


@pytest.mark.django_db
def test_celery_records_of_a_task_are_written_without_its_arguments(caplog: pytest.LogCaptureFixture) -> None:
    canary = _canary()
    caplog.set_level(logging.INFO)
    # No such document: the task claims nothing. Celery's tracer records that it succeeded, with its arguments
    # in the record's `data`, as a worker's records of a task received, failed or retried carry them.
    result = ingest_document_task.apply(args=(0,), kwargs={"password_id": canary})
    celery_records = [r for r in caplog.records if r.name.startswith("celery")]
    assert celery_records and any(canary in repr(vars(r)) for r in celery_records)
    written = _json_lines(celery_records)
    assert result.id.encode() in written and b"casework.ingest_document" in written
    assert not leaks(canary, written)


# --- through the real stack ----------------------------------------------------------------------------------


@contextmanager
def broker_commands() -> Iterator[bytearray]:
    """Every command the broker receives meanwhile (Redis MONITOR): all that its append-only file would keep."""
    import redis

    seen = bytearray()
    stop = threading.Event()
    with redis.Redis.from_url(settings.CELERY_BROKER_URL).monitor() as monitor:

        def listen() -> None:
            while not stop.is_set():
                if monitor.connection.can_read(timeout=0.2):
                    seen.extend(monitor.connection.read_response() + b"\n")

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            yield seen
        finally:
            stop.set()
            listener.join(timeout=5)


def broker_contents() -> bytes:
    """Every value of every key in the broker's database, and its persistence files where this machine can read them."""
    import redis

    broker: Any = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    read: dict[bytes, Callable[[bytes], list[bytes]]] = {
        b"string": lambda key: [broker.get(key) or b""],
        b"list": lambda key: broker.lrange(key, 0, -1),
        b"hash": lambda key: [name + b"=" + value for name, value in broker.hgetall(key).items()],
        b"set": lambda key: list(broker.smembers(key)),
        b"zset": lambda key: broker.zrange(key, 0, -1),
    }
    blob = bytearray()
    for key in broker.scan_iter(count=500):
        blob += key + b"\n" + b"\n".join(read.get(broker.type(key), lambda key: [])(key)) + b"\n"
    config: dict[str, str] = broker.config_get("*")
    folder = Path(config["dir"])
    files = [folder / config["dbfilename"], folder / config.get("appendfilename", "appendonly.aof")]
    files += (folder / config.get("appenddirname", "appendonlydir")).glob("*")
    for path in files:
        if path.is_file() and os.access(path, os.R_OK):
            blob += path.read_bytes()
    return bytes(blob)


def _log_files(log_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(log_dir.glob("**/*")) if path.is_file())


def _reads_logged(log_dir: Path) -> int:
    """How many times a worker has logged that an ingest task ended (the files outlive test sessions)."""
    return sum(
        1 for line in _log_files(log_dir).splitlines() if b"casework.ingest_document[" in line and b"succeeded" in line
    )


@pytest.mark.realstack
def test_a_pdf_password_given_on_the_case_page_reaches_neither_redis_nor_any_log(
    realstack: Any, firm_people: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = _canary()
    case = firm_people["case"]
    attorney = Client()
    attorney.force_login(firm_people["attorney"])
    caplog.set_level(logging.INFO)
    reads_before = _reads_logged(realstack.log_dir)
    held_before = set(held_dir().glob("*"))
    upload = tmp_path / "statement.pdf"
    upload.write_bytes(_locked_pdf(password))
    with upload.open("rb") as handle:
        assert attorney.post(reverse("casework:document_upload", args=[case.pk]), {"file": handle}).status_code == 302
    document = Document.objects.get(case=case)

    def status() -> str:
        document.refresh_from_db()
        return document.status

    wait_until(lambda: status() == DocumentStatus.NEEDS_PASSWORD, 90, "the worker to ask for the password")
    # The task's record is written when it returns, a moment after the document says how it was read.
    wait_until(lambda: _reads_logged(realstack.log_dir) > reads_before, 30, "the worker to log the first read")

    with broker_commands() as commands:
        retry = reverse("casework:document_retry", args=[case.pk, document.pk])
        assert attorney.post(retry, {"password": password}).status_code == 302
        wait_until(lambda: status() == DocumentStatus.INDEXED, 90, "the worker to open the PDF with its password")
        wait_until(lambda: _reads_logged(realstack.log_dir) > reads_before + 1, 30, "the worker to log the retry")

    assert b"casework.ingest_document" in commands  # the retry's message went through the broker we watched
    assert not leaks(password, bytes(commands))
    assert not leaks(password, broker_contents())
    assert not leaks(password, _log_files(realstack.log_dir))
    assert not leaks(password, _json_lines(caplog.records))
    assert set(held_dir().glob("*")) <= held_before  # the held password was taken, and its file is gone
