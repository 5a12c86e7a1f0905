"""A pytest plugin loaded before Django's settings (`-p tests.services` in pyproject.toml).

Points the tests at PostgreSQL and Redis on 127.0.0.1 when they answer, as on the development
machines and in CI; otherwise the settings fall back to SQLite and the embedded Redis, which the
conftest starts. Variables already set in the environment win.
"""

from __future__ import annotations

import os
import socket


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ and _answers(5432):
    # One test database per session (pytest-django creates test_<name> and drops it at the end), so two
    # checkouts, or a developer and CI, can run the suite at once on one PostgreSQL.
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/affiant_{os.getpid()}"
if "REDIS_URL" not in os.environ and _answers(6379):
    # Database 15: the tests purge it, so it must be no one else's.
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"

# Tests keep their files, logs and any SQLite database apart from `make run`'s.
os.environ.setdefault("AFFIANT_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
# Short drafts keep the real model's part of the suite quick on two cores.
os.environ.setdefault("AFFIANT_DRAFT_SECTIONS", "introduction,how_we_met")
os.environ.setdefault("AFFIANT_FACT_MAX_CHARS", "90")
os.environ.setdefault("AFFIANT_SENTENCE_MAX_CHARS", "110")
# Every stage through the real model: the extract stage is asked for every need the documents' sentences leave.
os.environ.setdefault("AFFIANT_EXTRACT_UNLESS_ANSWERED", "1.0")
# Calls orphaned by a killed worker are found within seconds, not the production half-minute.
os.environ.setdefault("LLMOPS_RECONCILE_S", "3")
# The tests' catalog: the small instruct model on every route (the tests are about mechanics, not wording).
os.environ.setdefault("LLMOPS_CONFIG", "tests/models.yaml")
# The tests' model host and embedded Redis listen beside, not on, the ports `make run` uses: its Redis and
# model host ask for var/'s secrets, which var/test does not hold.
os.environ.setdefault("LLAMACPP_CONTROL_URL", "http://127.0.0.1:8791")
os.environ.setdefault("AFFIANT_EMBEDDED_REDIS_PORT", "6391")
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same test are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
