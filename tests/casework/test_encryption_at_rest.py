from __future__ import annotations

import io
import json
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

import casework.ingest
from casework.encryption import TOKEN_PREFIX, FileKeyError, encrypt
from casework.ingest import ingest_document
from casework.models import Document, DocumentStatus
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload, read_stored, storage_path
from tests.settings_child import import_settings

SECRET_SENTENCE = "He locked me in the pantry on the night of the fourteenth"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _pdf() -> bytes:
    pdf = text_pdf([f"{SECRET_SENTENCE}. The neighbours called the police at midnight."])
    # The writer leaves page text uncompressed, so the test below could see it if it leaked.
    assert pdf.startswith(b"%PDF") and SECRET_SENTENCE.encode() in pdf
    return pdf


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _upload_through_the_view(people: dict[str, Any], pdf: bytes) -> Document:
    case = people["case"]
    upload = io.BytesIO(pdf)
    upload.name = "police-report.pdf"
    response = _client_for(people["paralegal"]).post(
        reverse("casework:document_upload", args=[case.pk]), {"file": upload}
    )
    assert response.status_code == 302
    return Document.objects.get(case=case)


def _store(people: dict[str, Any], pdf: bytes) -> Document:
    return do_store_upload(case=people["case"], name="report.pdf", stream=io.BytesIO(pdf), uploaded_by=None).document


def _rotate() -> dict[str, int]:
    out = io.StringIO()
    call_command("rotate_file_keys", stdout=out)
    return dict(json.loads(out.getvalue()))


@pytest.mark.django_db
def test_a_file_uploaded_through_the_view_is_stored_without_its_plaintext(firm_people: dict[str, Any]) -> None:
    pdf = _pdf()
    document = _upload_through_the_view(firm_people, pdf)
    stored = storage_path(document.stored_name).read_bytes()
    assert stored.startswith(TOKEN_PREFIX)
    assert b"%PDF" not in stored
    assert SECRET_SENTENCE.encode() not in stored and b"pantry" not in stored
    assert document.size == len(pdf)  # the size and hash describe the original, not the ciphertext
    # Nothing else was left in the case's folder: no plaintext temporary file either.
    assert list(storage_path(document.stored_name).parent.iterdir()) == [storage_path(document.stored_name)]


@pytest.mark.django_db
def test_the_download_view_returns_the_original_bytes_to_an_assigned_user(firm_people: dict[str, Any]) -> None:
    pdf = _pdf()
    document = _upload_through_the_view(firm_people, pdf)
    url = reverse("casework:document_download", args=[firm_people["case"].pk, document.pk])
    response = _client_for(firm_people["attorney"]).get(url)
    assert response.status_code == 200
    assert response.getvalue() == pdf
    assert response["Content-Length"] == str(len(pdf))
    assert "police-report.pdf" in response["Content-Disposition"]
    assert _client_for(firm_people["other_firm_attorney"]).get(url).status_code == 404


@pytest.mark.django_db
def test_ingestion_reads_the_encrypted_file_through_a_private_copy_it_then_deletes(
    firm_people: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pdf = _pdf()
    document = _upload_through_the_view(firm_people, pdf)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[tuple[int, bytes]] = []
    real_parse_file = casework.ingest.parse_file

    def watching_parse_file(path: Path, **kwargs: Any) -> Any:
        seen.append((stat.S_IMODE(path.stat().st_mode), path.read_bytes()))
        return real_parse_file(path, **kwargs)

    monkeypatch.setattr(casework.ingest, "parse_file", watching_parse_file)
    result = ingest_document(document.pk)
    assert result is not None and result.status == DocumentStatus.INDEXED
    assert seen == [(0o600, pdf)]
    assert SECRET_SENTENCE in document.pages.get(number=1).text
    assert not list(tmp_path.glob("affiant-plain-*"))


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_new_key_so_the_old_one_can_be_dropped(
    firm_people: dict[str, Any], settings: Any
) -> None:
    pdf = _pdf()
    settings.AFFIANT_FILE_KEYS = [OLD_KEY]
    document = _store(firm_people, pdf)
    before = storage_path(document.stored_name).read_bytes()

    settings.AFFIANT_FILE_KEYS = [NEW_KEY, OLD_KEY]
    assert read_stored(document.stored_name) == pdf  # both keys work while the files are rotated
    assert _rotate() == {"rotated": 1, "encrypted": 0, "current": 0, "missing": 0, "failed": 0}
    after = storage_path(document.stored_name).read_bytes()
    assert after != before and after.startswith(TOKEN_PREFIX)
    # Running it again finds nothing to do and rewrites nothing.
    assert _rotate() == {"rotated": 0, "encrypted": 0, "current": 1, "missing": 0, "failed": 0}
    assert storage_path(document.stored_name).read_bytes() == after

    settings.AFFIANT_FILE_KEYS = [NEW_KEY]
    assert read_stored(document.stored_name) == pdf
    settings.AFFIANT_FILE_KEYS = [OLD_KEY]
    with pytest.raises(FileKeyError):
        read_stored(document.stored_name)


@pytest.mark.django_db
def test_a_file_stored_in_plaintext_by_an_earlier_version_is_read_and_then_encrypted_by_rotation(
    firm_people: dict[str, Any],
) -> None:
    pdf = _pdf()
    document = _store(firm_people, pdf)
    storage_path(document.stored_name).write_bytes(pdf)  # as versions before encryption stored it

    assert read_stored(document.stored_name) == pdf
    assert _rotate() == {"rotated": 0, "encrypted": 1, "current": 0, "missing": 0, "failed": 0}
    stored = storage_path(document.stored_name).read_bytes()
    assert stored.startswith(TOKEN_PREFIX) and SECRET_SENTENCE.encode() not in stored
    assert read_stored(document.stored_name) == pdf


@pytest.mark.django_db
def test_a_wrong_key_is_a_clear_error_not_garbage(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_FILE_KEYS = [OLD_KEY]
    document = _store(firm_people, _pdf())
    settings.AFFIANT_FILE_KEYS = [NEW_KEY]

    with pytest.raises(FileKeyError, match="cannot be decrypted with any key in AFFIANT_FILE_KEYS"):
        read_stored(document.stored_name)
    url = reverse("casework:document_download", args=[firm_people["case"].pk, document.pk])
    with pytest.raises(FileKeyError):
        _client_for(firm_people["attorney"]).get(url)
    # Rotation leaves such a file as it is and fails loudly, so the old key is not dropped too early.
    before = storage_path(document.stored_name).read_bytes()
    with pytest.raises(CommandError, match=f"documents {document.pk}"):
        _rotate()
    assert storage_path(document.stored_name).read_bytes() == before


def test_without_configured_keys_a_local_key_is_generated_once_readable_by_its_owner_alone(
    settings: Any, tmp_path: Path
) -> None:
    key_file = tmp_path / "var" / "file.key"
    settings.AFFIANT_FILE_KEYS = []
    settings.AFFIANT_FILE_KEY_FILE = key_file
    token = encrypt(b"%PDF-1.4 a test")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert Fernet(key).decrypt(token) == b"%PDF-1.4 a test"
    encrypt(b"again")
    assert key_file.read_text().strip() == key
    assert [p.name for p in key_file.parent.iterdir()] == ["file.key"]


def _import_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    production = {
        "AFFIANT_VAR_DIR": str(tmp_path),
        "DJANGO_DEBUG": "false",
        "AFFIANT_REQUIRE_SECRET_KEY": "true",
        "DJANGO_SECRET_KEY": "a-production-like-secret-key-for-this-test-only-0123456789",
    }
    return import_settings(production | env, without=("AFFIANT_FILE_KEYS",))


def test_production_refuses_to_start_without_file_keys_or_with_a_malformed_one(tmp_path: Path) -> None:
    missing = _import_settings(tmp_path)
    assert missing.returncode != 0
    assert "AFFIANT_FILE_KEYS must be set in production" in missing.stderr

    malformed = _import_settings(tmp_path, AFFIANT_FILE_KEYS=f"{NEW_KEY},not-a-key-but-secret-looking")
    assert malformed.returncode != 0
    assert "AFFIANT_FILE_KEYS: key 2 is not a Fernet key" in malformed.stderr
    assert "not-a-key-but-secret-looking" not in malformed.stderr

    configured = _import_settings(tmp_path, AFFIANT_FILE_KEYS=f"{NEW_KEY},{OLD_KEY}")
    assert configured.returncode == 0, configured.stderr
    assert not (tmp_path / "file.key").exists()


def _views(patterns: list[Any]) -> Iterator[Any]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern.callback


def test_storage_is_outside_every_served_root_and_no_url_serves_files_from_disk() -> None:
    import config.settings as configured  # the values from the environment, not a test's overrides

    storage = Path(configured.AFFIANT_STORAGE_DIR).resolve()
    served = [Path(configured.STATIC_ROOT), *map(Path, configured.STATICFILES_DIRS), configured.BASE_DIR / "static"]
    assert not getattr(configured, "MEDIA_ROOT", ""), "nothing is published as media"
    for root in served:
        assert not storage.is_relative_to(root.resolve()) and not root.resolve().is_relative_to(storage)
    modules = {getattr(view, "__module__", "") for view in _views(get_resolver().url_patterns)}
    assert not modules & {"django.views.static", "django.contrib.staticfiles.views"}


@pytest.mark.django_db
def test_a_stored_file_cannot_be_fetched_by_any_url_but_the_download_view(
    firm_people: dict[str, Any], settings: Any
) -> None:
    document = _upload_through_the_view(firm_people, _pdf())
    client = _client_for(firm_people["attorney"])
    name = document.stored_name
    media_url = settings.MEDIA_URL or "/"
    for url in (
        f"{media_url}{name}",
        f"/media/{name}",
        f"/{settings.STATIC_URL.strip('/')}/{name}",
        f"/storage/{name}",
        f"/var/storage/{name}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert TOKEN_PREFIX not in response.content and b"%PDF" not in response.content, url
