from __future__ import annotations

import os
from typing import Any

from billiard.einfo import ExceptionInfo
from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure, worker_ready

from config.periodic import reconcile_on_default_worker
from llmops.models import Host, LLMModel, OpsAction
from llmops.reconcile import reconcile_calls
from llmops.residency import start_heartbeat
from llmops.runner import WorkerRef, execute_call, handle_hard_limit


# Late ack with reject-on-worker-lost: a call whose child dies is redelivered, and the claim in
# execute_call makes the redelivery a no-op if the call had already been taken.
@shared_task(name="llmops.run_llm_call", acks_late=True, reject_on_worker_lost=True, bind=True)
def run_llm_call_task(self: Task, call_id: int) -> None:
    execute_call(call_id, this_worker(self))


def this_worker(task: Task) -> WorkerRef:
    # A prefork child's parent is the worker's main process: the pid its heartbeat reports.
    return WorkerRef(name=str(task.request.hostname or ""), pid=os.getppid(), child_pid=os.getpid())


@task_failure.connect(sender=run_llm_call_task)
def record_hard_time_limit(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: tuple[Any, ...] = (),
    einfo: ExceptionInfo | None = None,
    **kwargs: Any,
) -> None:
    """Runs in the worker's main process after it killed the child at the hard time limit."""
    if isinstance(exception, TimeLimitExceeded) and args:
        handle_hard_limit(int(args[0]))


@worker_ready.connect
def start_heartbeats(sender: Any = None, **kwargs: Any) -> None:
    """A worker that consumes a host's GPU queue (`gpu.<host>`) beats for that host."""
    if sender is None:
        return
    for queue in sender.app.amqp.queues.consume_from or {}:
        if str(queue).startswith("gpu."):
            host_name = str(queue).removeprefix("gpu.")
            _heartbeats.append(start_heartbeat(host_name=host_name, worker=str(sender.hostname)))


_heartbeats: list[Any] = []  # kept alive for the worker's life

# Calls that a dead worker left running, or whose message was lost, are ended or sent again.
reconcile_on_default_worker("llmops-reconciler", reconcile_calls)


@shared_task(name="llmops.unload_model", acks_late=True)
def unload_model_task(model_id: int, action_id: int | None = None) -> None:
    from llmops.unload import unload_model

    model = LLMModel.objects.select_related("host").filter(pk=model_id).first()
    if model is None:
        return
    result = unload_model(model)
    if action_id is not None:
        OpsAction.objects.record_outcome(
            action_id, f"{'unloaded' if result.unloaded else 'not unloaded'}: {result.detail} ({result.seconds:.1f}s)"
        )


@shared_task(name="llmops.restart_host", acks_late=True)
def restart_host_task(host_id: int, action_id: int | None = None) -> None:
    from llmops.unload import run_restart_command

    host = Host.objects.filter(pk=host_id).first()
    if host is None or not host.restart_command:
        return
    exit_code = run_restart_command(host)
    if action_id is not None:
        OpsAction.objects.record_outcome(action_id, f"restart command exited {exit_code}")


@shared_task(name="llmops.run_next_call", acks_late=True, reject_on_worker_lost=True, bind=True)
def run_next_call_task(self: Task, host_id: int) -> None:
    from llmops.dispatch import run_next_call

    run_next_call(host_id, this_worker(self))


@task_failure.connect(sender=run_next_call_task)
def record_hard_time_limit_of_token(
    sender: Any = None, exception: BaseException | None = None, args: tuple[Any, ...] = (), **kwargs: Any
) -> None:
    """The killed child ran whichever call it picked: the host's running call (one GPU worker per host)."""
    from llmops.models import CallStatus, LLMCall

    if isinstance(exception, TimeLimitExceeded) and args:
        for call_id in LLMCall.objects.filter(host_id=int(args[0]), status=CallStatus.RUNNING).values_list(
            "pk", flat=True
        ):
            handle_hard_limit(call_id)
