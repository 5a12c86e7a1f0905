"""Data leaving the firm (issue 7): a whole declaration run on a case full of canary PII, with every
route pointed at an `external` host that records each request body. The case's client consented, so
the external host is used; what it is sent is redacted. Not one canary string may appear in any body
it received, in any log line written meanwhile (this process's and every worker's), in anything
Redis held during the run, or in the metrics.

The external host is the scripted fault server (an OpenAI-compatible server on 127.0.0.1) answering
each stage with schema-shaped JSON made from the (redacted) text it was sent, so every stage runs.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client

from casework.intake import CaseInput, PartyInput, do_create_case
from casework.models import CaseType, Document, DocumentStatus, Firm, PartyRole, Role
from casework.pdfgen import text_pdf
from casework.tasks import ingest_document_task
from casework.uploads import do_store_upload
from config.stack import Stack
from generation.models import DeclarationRun, RunStatus, SectionStatus, SectionStep
from generation.pipeline import do_start_run
from llmops.models import CallStatus, LLMCall
from tests.conftest import make_user, wait_until
from tests.faultserver import FaultServer
from tests.scripted import answer_from_what_was_sent, route_every_stage_to, scripted_model, stage_of

pytestmark = pytest.mark.realstack


def judged_strictly(body: dict[str, Any]) -> str:
    """The scripted model, with judges that flag each draft's first sentence, as real judges flag some: the
    guardrails' rewrite must go out too (redacted), or this test would not see that stage's request."""
    answer = answer_from_what_was_sent(body)
    if stage_of(body) != "judge":
        return answer
    return json.dumps({**json.loads(answer), "flagged": [{"sentence": 1, "reason": "it says more than its fact"}]})


EVIDENCE = [
    "Zorabel Quintanilla Okafor (A# 204-518-337) was born on May 9, 1991 in Oaxaca, Mexico. "
    "She married Thaddeus Brimwell on June 14, 2016 in Houston, Texas. "
    "They lived together at 7719 Larkspur Hollow Dr in Houston.",
    "Her phone number is 832-555-0147 and her e-mail is zorabel.q@example.org. Her SSN is 532-48-1967. "
    "On March 2, 2019 Thaddeus Brimwell struck her and said he would call immigration on her.",
]
# Every written form a leak could take: names and their parts, numbers with and without separators.
CANARIES = [
    "zorabel", "quintanilla", "okafor", "thaddeus", "brimwell", "larkspur", "7719 larkspur",
    "zorabel.q@example.org", "204-518-337", "204518337", "832-555-0147", "8325550147", "5550147",
    "532-48-1967", "532481967", "may 9, 1991",
]  # fmt: skip
# A number as it may be written: digits with a space, dash, dot or parenthesis (or two) between them.
_WRITTEN_NUMBER = re.compile(r"\d(?:[ ().-]{0,2}\d)*")


def leaks(text: str) -> list[str]:
    """The canaries in `text`, a numeric one also when written with other separators ("832 555 0147").

    Numbers are compared one by one, never as all the text's digits run together: logs and broker
    messages are full of ids, pids and timestamps whose digits would spell anything."""
    lowered = text.lower()
    numbers = {re.sub(r"\D", "", written) for written in _WRITTEN_NUMBER.findall(lowered)}
    return [c for c in CANARIES if c in lowered or (c.isdigit() and any(c in n for n in numbers))]


class RedisWatch:
    """Everything the broker holds, read every few tenths of a second while the run goes on."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RedisWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._snapshot()

    def _watch(self) -> None:
        while not self._stop.wait(0.3):
            self._snapshot()

    def _snapshot(self) -> None:
        for key in self.client.scan_iter(count=500):
            kind = _readable(self.client.type(key))[0]
            values: list[Any] = [key]
            if kind == "list":
                values += self.client.lrange(key, 0, -1)
            elif kind == "hash":
                values += [v for pair in self.client.hgetall(key).items() for v in pair]
            elif kind == "string":
                values.append(self.client.get(key) or b"")
            elif kind == "zset":
                values += self.client.zrange(key, 0, -1)
            elif kind == "set":
                values += list(self.client.smembers(key))
            self.seen += [decoded for value in values for decoded in _readable(value)]


def _readable(value: Any) -> list[str]:
    """The value, and the body of a Celery message inside it (base64-encoded JSON) decoded."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    out = [text]
    try:
        message = json.loads(text)
    except ValueError:
        return out
    if isinstance(message, list) and message and isinstance(message[0], str):
        message = _loads(message[0])  # unacked entries: [message, exchange, routing key]
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        try:
            out.append(base64.b64decode(message["body"]).decode("utf-8", "replace"))
        except ValueError:
            pass
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def log_offsets(directory: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in directory.glob("*.log")}


def logged_since(directory: Path, offsets: dict[Path, int]) -> str:
    written = []
    for path in directory.glob("*.log"):
        with path.open("rb") as log:
            log.seek(offsets.get(path, 0))
            written.append(log.read().decode("utf-8", "replace"))
    return "\n".join(written)


def test_a_whole_run_through_external_models_sends_no_canary_anywhere(
    realstack: Stack, capfd: pytest.CaptureFixture[str], settings: Any
) -> None:
    settings.AFFIANT_METRICS_ENABLED = True
    settings.AFFIANT_METRICS_TOKEN = "canary-scrape-token"
    offsets = log_offsets(realstack.log_dir)
    firm = Firm.objects.create(name="Canary Firm")
    paralegal = make_user(firm, Role.PARALEGAL, "canary-paralegal")
    case = do_create_case(
        firm=firm,
        created_by=paralegal,
        assignees=[paralegal],
        data=CaseInput(
            title="Q.O. - VAWA",
            case_type=CaseType.VAWA_SPOUSE,
            client=PartyInput(
                role=PartyRole.CLIENT, name="Zorabel Quintanilla Okafor", a_number="A204518337",
                birth_date=date(1991, 5, 9), country="Mexico",
            ),
            parties=(PartyInput(role=PartyRole.ABUSER, name="Thaddeus Brimwell"),),
            consent_external=True,
        ),
    )  # fmt: skip
    stored = do_store_upload(case=case, name="intake.pdf", stream=io.BytesIO(text_pdf(EVIDENCE)), uploaded_by=paralegal)
    ingest_document_task.delay(stored.document.pk)  # as the upload view does: read, screened for PII, indexed
    wait_until(
        lambda: Document.objects.filter(case=case, status=DocumentStatus.INDEXED).exists(), 180, "the upload to be read"
    )

    with FaultServer() as outside:
        outside.responder = judged_strictly
        model = scripted_model(outside, "outside", external=True)  # external: its calls take the `api` queue
        route_every_stage_to(model)  # external only: nothing local to fall back to
        with RedisWatch(settings.CELERY_BROKER_URL) as broker:
            run = do_start_run(case=case, created_by=paralegal)
            wait_until(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, 300, "the run to finish")
        bodies = [json.dumps(r.body) for r in outside.requests if r.path.endswith("/chat/completions")]
    metrics = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer canary-scrape-token")
    logs = logged_since(realstack.log_dir, offsets)
    captured = capfd.readouterr()

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, (
        run.error,
        list(SectionStep.objects.filter(section__run=run).values_list("stage", "status", "error")),
        [(c.stage, c.output[:300], c.error) for c in LLMCall.objects.filter(model=model)],
    )
    assert run.sections.filter(status=SectionStatus.DRAFTED).exists()
    calls = LLMCall.objects.filter(model=model)
    assert set(calls.values_list("stage", flat=True)) == {"extract", "draft", "judge", "guardrails"}
    assert not calls.exclude(status=CallStatus.COMPLETED).exists()
    assert {stage_of(json.loads(b)) for b in bodies} == {"extract", "draft", "judge", "guardrails"}
    assert len(bodies) == calls.count() >= 6
    # The run is about this client: the real text is in the database, and the answers were restored.
    drafted = " ".join(s.text for s in run.sections.all())
    assert "Zorabel" in drafted or "Thaddeus" in drafted or "1991" in drafted

    # The prompts as the pipeline built them (kept in the database) were full of canaries...
    built = json.dumps(list(calls.values_list("messages", flat=True)))
    assert {"zorabel", "brimwell", "204-518-337", "832-555-0147", "532-48-1967"} <= set(leaks(built))
    # ...and none of them left the firm.
    assert [leaks(b) for b in bodies if leaks(b)] == []  # 0 in what the external host received
    assert "<PERSON_" in " ".join(bodies)  # it saw placeholders instead
    assert leaks(logs) == [] and leaks(captured.out + captured.err) == []  # 0 in any log line
    assert broker.seen and leaks("\n".join(broker.seen)) == []  # 0 in anything Redis held
    assert metrics.status_code == 200 and leaks(metrics.content.decode()) == []  # 0 in the metrics
    print(
        f"CANARY: {len(bodies)} requests to the external host, {len(broker.seen)} Redis values read, "
        f"{len(logs.splitlines())} worker log lines: 0 canary strings"
    )
