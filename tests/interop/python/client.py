"""Interop client: drives one scenario with the official Python SDK (hatchet-sdk 1.43.1).

Run:  python client.py <scenario> [--timeout SECONDS]
      scenarios: dag retry fail event child cancel stream durable batch rest rest-runs
                 rest-admin

Same HATCHET_CLIENT_* environment as worker.py, and worker.py must be running (it defines
the workflows; this script imports them from it). Prints `PASS <scenario>` and exits 0 on
success; otherwise prints `FAIL <scenario>: <why>` to stderr and exits non-zero:
1 = an assertion failed, 2 = bad usage, 3 = the overall timeout expired,
4 = the SDK raised something unexpected.

Extra knobs (environment):
  INTEROP_TIMEOUT_S      overall timeout when --timeout is not given (default 60)
  INTEROP_CANCEL_VIA     `rest` (default: hatchet.runs.aio_cancel, POST
                         /api/v1/stable/tenants/{tenant}/tasks/cancel) or `grpc`
                         (v1.AdminService/CancelTasks through the SDK's generated stub)
  INTEROP_SUBSCRIBE_HEAD_START_S   delay between opening a subscription and pushing the
                         event in the `event` scenario (default 1.0)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from hatchet_sdk import (
    FailedTaskRunExceptionGroup,
    RunStatus,
    StepRunEventType,
    V1TaskStatus,
)
from hatchet_sdk.clients.admin import TriggerWorkflowOptions, WorkflowRunDetail

sys.dont_write_bytecode = True  # keep `import worker` from leaving __pycache__ behind
import worker as wf  # noqa: E402 - the workflow declarations live in worker.py

hatchet = wf.hatchet

EVENT_META_KEY = "interop_nonce"


class ScenarioFailed(Exception):
    """An expectation about what the Python client observed did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


def check_equal(what: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise ScenarioFailed(f"{what}: expected {expected!r}, got {got!r}")


def note(line: str) -> None:
    print(f"INTEROP {line}", file=sys.stderr, flush=True)


async def wait_for_status(
    run_id: str,
    accept: set[RunStatus],
    timeout_s: float,
    interval_s: float = 0.5,
) -> WorkflowRunDetail:
    """Poll v1.AdminService/GetRunDetails until the run's status is in `accept`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: WorkflowRunDetail | None = None
    while loop.time() < deadline:
        last = await hatchet.runs.aio_get_details(run_id)
        if last.status in accept:
            return last
        terminal = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
        if last.status in terminal:
            raise ScenarioFailed(
                f"run {run_id} reached {last.status.value}, expected one of "
                f"{sorted(s.value for s in accept)}"
            )
        await asyncio.sleep(interval_s)
    seen = last.status.value if last else "nothing"
    raise ScenarioFailed(
        f"run {run_id} did not reach {sorted(s.value for s in accept)} within "
        f"{timeout_s}s (last status: {seen})"
    )


# ---------------------------------------------------------------------------------------


async def scenario_dag() -> None:
    # aio_run: TriggerWorkflow, then the result over the pooled SubscribeToWorkflowRuns
    # stream; the result maps every task's readable id to its output.
    result = await wf.dag_workflow.aio_run(wf.DagInput(value=7))
    check_equal(
        "aio_run result",
        result,
        {"first": {"doubled": 14}, "second": {"from_first": 14, "sum": 15}},
    )

    # run (sync): TriggerWorkflow, then GetRunDetails polled once a second until done.
    result = await asyncio.to_thread(wf.dag_workflow.run, wf.DagInput(value=5))
    check_equal(
        "run (sync) result",
        result,
        {"first": {"doubled": 10}, "second": {"from_first": 10, "sum": 11}},
    )


async def scenario_retry() -> None:
    tag = uuid.uuid4().hex[:8]
    ref = await wf.retry_task.aio_run(wf.RetryInput(tag=tag), wait_for_result=False)
    note(f"retry run_id={ref.workflow_run_id}")

    result = await ref.aio_result()
    expected = {"tag": tag, "attempt": 2, "retry_count": 1}
    check_equal("retried task output", result, expected)

    details = await hatchet.runs.aio_get_details(ref.workflow_run_id)
    check_equal("run status", details.status, RunStatus.COMPLETED)
    check(details.done, "GetRunDetails.done is false for a completed run")
    task = details.task_runs.get("interop-retry")
    check(task is not None, f"no task_runs['interop-retry'] in {details.task_runs!r}")
    assert task is not None
    check_equal("task status", task.status, V1TaskStatus.COMPLETED)
    check_equal("task output (GetRunDetails)", task.output, expected)


async def scenario_fail() -> None:
    def check_group(where: str, group: FailedTaskRunExceptionGroup) -> None:
        check(len(group.exceptions) >= 1, f"{where}: no task errors in {group!r}")
        err = group.exceptions[0]
        check_equal(f"{where}: exception type", err.exc_type, "ValueError")
        check_equal(f"{where}: exception message", err.exc, "interop: permanent failure")
        check(
            "Traceback" in err.trace,
            f"{where}: expected a Python traceback in the error, got {err.trace!r}",
        )

    try:
        result = await wf.fail_task.aio_run()
    except FailedTaskRunExceptionGroup as group:
        check_group("aio_run", group)
    else:
        raise ScenarioFailed(f"aio_run: expected FailedTaskRunExceptionGroup, got {result!r}")

    try:
        result = await asyncio.to_thread(wf.fail_task.run)
    except FailedTaskRunExceptionGroup as group:
        check_group("run (sync)", group)
    else:
        raise ScenarioFailed(f"run (sync): expected FailedTaskRunExceptionGroup, got {result!r}")


async def scenario_event() -> None:
    nonce = uuid.uuid4().hex
    payload = {"order_id": "ord-42", "nonce": nonce}
    expected = {"order_id": "ord-42", "nonce": nonce, "handled": True}

    # The run triggered by the event inherits the event's additional metadata, so a
    # SubscribeToWorkflowEvents{additional_meta_key, additional_meta_value} stream opened
    # before the push sees that run's task events (gRPC only; no REST listing needed).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        listener = hatchet.listener.stream_by_additional_metadata(EVENT_META_KEY, nonce)

    seen: list[tuple[str, str]] = []

    async def watch() -> dict[str, Any] | None:
        async for event in listener:
            seen.append((event.type.value, event.payload))
            if event.type != StepRunEventType.STEP_RUN_EVENT_TYPE_COMPLETED:
                continue
            if not event.payload:
                continue  # the workflow-run level COMPLETED carries no payload
            try:
                data = json.loads(event.payload)
            except json.JSONDecodeError:
                continue
            if data == expected:
                return data
        return None

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(float(os.environ.get("INTEROP_SUBSCRIBE_HEAD_START_S", "1.0")))

    pushed = await hatchet.event.aio_push(
        wf.EVENT_KEY, payload, additional_metadata={EVENT_META_KEY: nonce}
    )
    note(f"event pushed event_id={pushed.event_id}")
    check(bool(pushed.event_id), "Push returned an event without event_id")
    check_equal("pushed event key", pushed.key, hatchet.config.apply_namespace(wf.EVENT_KEY))

    try:
        found = await asyncio.wait_for(watcher, timeout=30)
    except asyncio.TimeoutError:
        raise ScenarioFailed(
            f"no COMPLETED event with output {expected!r} within 30s; seen {seen!r}"
        ) from None
    except Exception as e:  # the listener raises on event types it does not know
        raise ScenarioFailed(f"listener failed: {type(e).__name__}: {e}; seen {seen!r}") from e
    check(
        found is not None,
        f"the event stream ended without the triggered task's COMPLETED event; seen {seen!r}",
    )


async def scenario_durable() -> None:
    ref = await wf.durable_task.aio_run_no_wait()
    note(f"INTEROP durable run_id={ref.workflow_run_id}")
    result_task = asyncio.ensure_future(ref.aio_result())
    # The event counts once the task waits for it (after its durable sleep): send it until
    # the run finishes.
    while not result_task.done():
        await hatchet.event.aio_push(wf.DURABLE_EVENT_KEY, {"go": True})
        await asyncio.wait([result_task], timeout=0.5)
    result = result_task.result()
    check_equal("durable output", result, {"slept_s": 1.0, "event": {"go": True}})


async def scenario_child() -> None:
    result = await wf.parent_task.aio_run(wf.ParentInput(n=21))
    check_equal("parent output", result, {"child": {"doubled": 42, "has_parent": True}})


async def cancel_over_grpc(run_id: str) -> None:
    from hatchet_sdk.connection import new_conn
    from hatchet_sdk.contracts.v1.workflows_pb2 import CancelTasksRequest
    from hatchet_sdk.contracts.v1.workflows_pb2_grpc import AdminServiceStub
    from hatchet_sdk.utils.api_auth import create_authorization_header

    stub = AdminServiceStub(new_conn(hatchet.config, False))
    await asyncio.to_thread(
        stub.CancelTasks,
        CancelTasksRequest(external_ids=[run_id]),
        metadata=create_authorization_header(hatchet.config.token),
        timeout=10,
    )


async def scenario_cancel() -> None:
    ref = await wf.cancel_task.aio_run(wf.CancelInput(max_seconds=90), wait_for_result=False)
    run_id = ref.workflow_run_id
    note(f"cancel run_id={run_id}")

    await wait_for_status(run_id, {RunStatus.RUNNING}, timeout_s=30)
    await asyncio.sleep(1.0)  # let the worker actually enter the task's polling loop

    via = os.environ.get("INTEROP_CANCEL_VIA", "rest").lower()
    if via == "grpc":
        await cancel_over_grpc(run_id)
    elif via == "rest":
        # REST: POST {server_url}/api/v1/stable/tenants/{tenant}/tasks/cancel
        #       {"externalIds": [run_id]}  ->  200 {"ids": [...]}
        await hatchet.runs.aio_cancel(run_id)
    else:
        raise ScenarioFailed(f"INTEROP_CANCEL_VIA must be rest or grpc, not {via!r}")

    details = await wait_for_status(run_id, {RunStatus.CANCELLED}, timeout_s=30)
    check(details.done, "GetRunDetails.done is false for a cancelled run")
    task = details.task_runs.get("interop-cancel")
    check(task is not None, f"no task_runs['interop-cancel'] in {details.task_runs!r}")
    assert task is not None
    check_equal("task status", task.status, V1TaskStatus.CANCELLED)


async def scenario_stream() -> None:
    ref = await wf.stream_task.aio_run(wf.StreamInput(), wait_for_result=False)
    run_id = ref.workflow_run_id
    note(f"stream run_id={run_id}")

    chunks: list[str] = []

    async def collect() -> None:
        # SubscribeToWorkflowEvents{workflow_run_id}; yields the payload of STEP_RUN/STREAM
        # events and ends when an event has hangup=true (or the server ends the stream).
        async for chunk in hatchet.runs.subscribe_to_stream(run_id):
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), timeout=30)
    except asyncio.TimeoutError:
        raise ScenarioFailed(
            f"the stream did not end within 30s (no hangup?); chunks so far {chunks!r}"
        ) from None
    check_equal("streamed chunks", chunks, wf.STREAM_CHUNKS)

    result = await ref.aio_result()
    check_equal("stream task output", result, {"chunks_sent": len(wf.STREAM_CHUNKS)})


async def scenario_batch() -> None:
    words = [("a", "red"), ("b", "green"), ("a", "blue"), ("b", "gold")]
    refs = [
        await wf.batch_task.aio_run(wf.BatchInput(group=group, word=word), wait_for_result=False)
        for group, word in words
    ]
    for (_, word), ref in zip(words, refs):
        result = await ref.aio_result()
        if hasattr(result, "model_dump"):
            result = result.model_dump()
        check_equal(f"batch output for {word}", result, {"upper": word.upper(), "batch_size": 2})


async def scenario_rest() -> None:
    """The SDK's REST feature clients: the engine's answers must pass its response models."""
    import datetime as dt

    workers = await hatchet.workers.aio_list()
    mine = [w for w in (workers.rows or []) if w.name == wf.WORKER_NAME]
    check_equal("workers named like this worker", len(mine) >= 1, True)
    got = await hatchet.workers.aio_get(mine[0].metadata.id)
    check_equal("worker name", got.name, wf.WORKER_NAME)

    listed = await hatchet.workflows.aio_list(workflow_name="interop-fail")
    matches = [w for w in (listed.rows or []) if w.name == "interop-fail"]
    check_equal("interop-fail listed", len(matches), 1)
    workflow_id = matches[0].metadata.id
    workflow = await hatchet.workflows.aio_get(workflow_id)
    check_equal("workflow name", workflow.name, "interop-fail")

    cron = await hatchet.cron.aio_create(
        workflow_name="interop-fail",
        cron_name="interop-nightly",
        expression="0 2 * * *",
        input={},
        additional_metadata={"from": "python"},
    )
    crons = await hatchet.cron.aio_list(workflow_id=workflow_id)
    check_equal("cron listed", cron.metadata.id in [c.metadata.id for c in crons.rows or []], True)
    check_equal("cron expression", (await hatchet.cron.aio_get(cron.metadata.id)).cron, "0 2 * * *")
    await hatchet.cron.aio_delete(cron.metadata.id)

    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    scheduled = await hatchet.scheduled.aio_create(
        workflow_name="interop-fail", trigger_at=at, input={}, additional_metadata={}
    )
    moved = await hatchet.scheduled.aio_update(scheduled.metadata.id, at + dt.timedelta(hours=1))
    check_equal("scheduled run moved", moved.trigger_at > scheduled.trigger_at, True)
    check_equal(
        "scheduled run read",
        (await hatchet.scheduled.aio_get(scheduled.metadata.id)).metadata.id,
        scheduled.metadata.id,
    )
    await hatchet.scheduled.aio_delete(scheduled.metadata.id)

    # Runs over REST: a run of our own, found by its metadata (the answers must pass the
    # SDK's V1TaskSummary model).
    probe = str(uuid.uuid4())
    ref = await wf.rest_echo_task.aio_run(
        wf.ChildInput(n=5),
        options=TriggerWorkflowOptions(additional_metadata={"rest-probe": probe}),
        wait_for_result=False,
    )
    await ref.aio_result()
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    runs = await hatchet.runs.aio_list(since=since, additional_metadata={"rest-probe": probe})
    check_equal(
        "runs listed by metadata",
        [r.workflow_run_external_id for r in runs.rows],
        [ref.workflow_run_id],
    )
    check_equal("listed run status", runs.rows[0].status, V1TaskStatus.COMPLETED)

    created = await hatchet.filters.aio_create(
        workflow_id=workflow_id, expression="input.x == 1", scope="interop", payload={"a": 1}
    )
    filters = await hatchet.filters.aio_list(workflow_ids=[workflow_id])
    check_equal("filter listed", [f.metadata.id for f in filters.rows or []], [created.metadata.id])
    check_equal("filter read", (await hatchet.filters.aio_get(created.metadata.id)).scope, "interop")
    deleted = await hatchet.filters.aio_delete(created.metadata.id)
    check_equal("filter deleted", deleted.metadata.id, created.metadata.id)


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 20) -> Any:
    """Calls `probe` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        got = await probe()
        if got:
            return got
        if loop.time() > deadline:
            raise ScenarioFailed(f"{what} did not happen within {timeout_s}s")
        await asyncio.sleep(0.25)


async def scenario_rest_runs() -> None:
    """Runs over REST: details, status, a task, its logs, replay and cancel by a filter."""
    import datetime as dt

    from hatchet_sdk.features.runs import BulkCancelReplayOpts, RunFilter

    probe = str(uuid.uuid4())
    meta = {"rest-runs-probe": probe}
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    ref = await wf.rest_echo_task.aio_run(
        wf.ChildInput(n=7),
        options=TriggerWorkflowOptions(additional_metadata=meta),
        wait_for_result=False,
    )
    await ref.aio_result()
    run_id = ref.workflow_run_id
    note(f"rest-runs run_id={run_id}")

    details = await hatchet.runs.aio_get(run_id)
    check_equal("details run status", details.run.status, V1TaskStatus.COMPLETED)
    check_equal("details tasks", len(details.tasks), 1)
    check_equal("details run metadata", (details.run.additional_metadata or {}).get("rest-runs-probe"), probe)
    task_id = details.tasks[0].task_external_id
    check_equal("shape", [(s.task_name, s.task_external_id) for s in details.shape], [("interop-rest-echo", task_id)])
    # The engine finds task events through a DAG: a one-task run lists none.
    check_equal("task events of a one-task run", details.task_events, [])
    check_equal("status over REST", await hatchet.runs.aio_get_status(run_id), V1TaskStatus.COMPLETED)
    task = await hatchet.runs.aio_get_task_run(task_id)
    check_equal("task output", task.output, {"n": 7})
    check_equal("result over REST", await hatchet.runs.aio_get_result(run_id), {"n": 7})

    async def log_lines() -> list[Any]:
        return (await hatchet.logs.aio_list(task_id)).rows or []

    logs = await eventually(log_lines, "the task's log line")
    check_equal("log lines", [line.message for line in logs], ["rest echo 7"])

    # Replay by a filter: the finished run runs again and completes again.
    await hatchet.runs.aio_bulk_replay(
        BulkCancelReplayOpts(
            filters=RunFilter(since=since, statuses=[V1TaskStatus.COMPLETED], additional_metadata=meta)
        )
    )

    async def replayed() -> bool:
        again = await hatchet.runs.aio_get_task_run(task_id)
        return again.retry_count == 1 and again.status == V1TaskStatus.COMPLETED

    await eventually(replayed, "the replayed run completing again", 30)

    # Cancel by a filter, through the external-ids listing, in one chunk.
    wait_meta = {"rest-runs-wait": probe}
    waiting = await wf.rest_wait_task.aio_run(
        wf.RestWaitInput(),
        options=TriggerWorkflowOptions(additional_metadata=wait_meta),
        wait_for_result=False,
    )

    async def running() -> bool:
        return await hatchet.runs.aio_get_status(waiting.workflow_run_id) == V1TaskStatus.RUNNING

    await eventually(running, "the waiting run starting")
    await hatchet.runs.aio_bulk_cancel_by_filters_with_pagination(
        sleep_time=0, since=since, additional_metadata=wait_meta
    )

    async def cancelled() -> bool:
        return await hatchet.runs.aio_get_status(waiting.workflow_run_id) == V1TaskStatus.CANCELLED

    await eventually(cancelled, "the waiting run cancelled")
    listed = await hatchet.runs.aio_list(since=since, additional_metadata=wait_meta)
    check_equal("cancelled run listed", [r.status for r in listed.rows], [V1TaskStatus.CANCELLED])


async def scenario_rest_admin() -> None:
    """The other feature clients: tenant, metrics, CEL, webhooks, workflow pause and
    versions, rate limits, events, and runs created over REST."""
    import datetime as dt

    from hatchet_sdk.clients.rest.exceptions import ApiException
    from hatchet_sdk.clients.rest.models.v1_webhook_api_key_auth import V1WebhookAPIKeyAuth
    from hatchet_sdk.clients.rest.models.v1_webhook_source_name import V1WebhookSourceName

    # The Hatchet object does not expose the tenant client; its inner client does.
    tenant = await hatchet._client.tenant.aio_get()
    check_equal("tenant id", tenant.metadata.id, hatchet.tenant_id)

    await hatchet.metrics.aio_get_queue_metrics()
    await hatchet.metrics.aio_get_task_stats()
    metrics = await hatchet.metrics.aio_get_task_metrics()
    check(metrics.completed >= 0, f"task metrics: {metrics}")
    try:
        await hatchet.metrics.aio_scrape_tenant_prometheus_metrics()
        raise ScenarioFailed("Prometheus metrics answered without a Prometheus server")
    except ApiException as e:
        check_equal("Prometheus metrics status", e.status, 400)

    holds = await hatchet.cel.aio_debug(
        expression="input.total > payload.min",
        input={"total": 30},
        filter_payload={"min": 10},
    )
    check_equal("CEL result", holds.result.status, "success")
    check_equal("CEL output", holds.result.output, True)
    broken = await hatchet.cel.aio_debug(expression="input.total >", input={})
    check_equal("CEL failure", broken.result.status, "failure")

    name = f"interop-hook-{uuid.uuid4()}"
    hook = await hatchet.webhooks.aio_create(
        source_name=V1WebhookSourceName.GENERIC,
        name=name,
        event_key_expression="'interop:hooked'",
        auth=V1WebhookAPIKeyAuth(header_name="X-Api-Key", api_key="sesame"),
    )
    check_equal("webhook name", hook.name, name)
    listed = await hatchet.webhooks.aio_list(webhook_names=[name])
    check_equal("webhooks listed", [w.name for w in listed.rows or []], [name])
    check_equal("webhook read", (await hatchet.webhooks.aio_get(name)).name, name)
    changed = await hatchet.webhooks.aio_update(name, scope_expression="input.team")
    check_equal("webhook scope", changed.scope_expression, "input.team")
    check_equal("webhook deleted", (await hatchet.webhooks.aio_delete(name)).name, name)

    workflows = await hatchet.workflows.aio_list(workflow_name="interop-rest-echo")
    workflow_id = [w for w in workflows.rows or [] if w.name == "interop-rest-echo"][0].metadata.id
    paused = await hatchet.workflows.aio_pause(workflow_id, queue_ttl=dt.timedelta(hours=1))
    check_equal("paused", paused.is_paused, True)
    unpaused = await hatchet.workflows.aio_unpause(workflow_id)
    check_equal("unpaused", unpaused.is_paused, False)
    version = await hatchet.workflows.aio_get_version(workflow_id)
    check(version.order >= 1, f"version order {version.order}")

    await hatchet.rate_limits.aio_list()

    # Scheduled runs deleted by a filter (workflow and metadata).
    import datetime as dt2

    batch = str(uuid.uuid4())
    at = dt2.datetime.now(dt2.timezone.utc) + dt2.timedelta(hours=1)
    made = [
        await hatchet.scheduled.aio_create(
            workflow_name="interop-rest-echo",
            trigger_at=at,
            input={"n": n},
            additional_metadata={"batch": batch},
        )
        for n in (1, 2)
    ]
    deleted = await hatchet.scheduled.aio_bulk_delete(
        workflow_id=workflow_id, additional_metadata={"batch": batch}
    )
    check_equal(
        "scheduled runs deleted by filter",
        sorted(deleted.deleted_ids),
        sorted(m.metadata.id for m in made),
    )

    created = await hatchet.runs.aio_create(
        workflow_name="interop-rest-echo",
        input={"n": 11},
        additional_metadata={"via": "rest"},
    )
    run_id = created.run.metadata.id
    note(f"rest-admin run_id={run_id}")

    async def completed() -> bool:
        return await hatchet.runs.aio_get_status(run_id) == V1TaskStatus.COMPLETED

    await eventually(completed, "the run created over REST completing")

    probe = str(uuid.uuid4())
    await hatchet.event.aio_push("interop:listed", {"p": probe}, additional_metadata={"probe": probe})
    events = await hatchet.event.aio_list(
        keys=["interop:listed"], additional_metadata={"probe": probe}
    )
    check_equal("events listed", [e.key for e in events.rows or []], ["interop:listed"])
    got = await hatchet.event.aio_get(events.rows[0].metadata.id)
    check_equal("event read", got.key, "interop:listed")


SCENARIOS: dict[str, Callable[[], Awaitable[None]]] = {
    "dag": scenario_dag,
    "retry": scenario_retry,
    "fail": scenario_fail,
    "event": scenario_event,
    "child": scenario_child,
    "cancel": scenario_cancel,
    "stream": scenario_stream,
    "durable": scenario_durable,
    "batch": scenario_batch,
    "rest": scenario_rest,
    "rest-runs": scenario_rest_runs,
    "rest-admin": scenario_rest_admin,
}


async def run(name: str, timeout_s: float) -> int:
    try:
        await asyncio.wait_for(SCENARIOS[name](), timeout=timeout_s)
    except ScenarioFailed as e:
        print(f"FAIL {name}: {e}", file=sys.stderr, flush=True)
        return 1
    except asyncio.TimeoutError:
        print(f"FAIL {name}: timed out after {timeout_s}s", file=sys.stderr, flush=True)
        return 3
    except Exception as e:  # noqa: BLE001 - report anything the SDK raised
        traceback.print_exc()
        print(f"FAIL {name}: unexpected {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 4
    print(f"PASS {name}", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("INTEROP_TIMEOUT_S", "60")),
        help="overall timeout in seconds (default: INTEROP_TIMEOUT_S or 60)",
    )
    args = parser.parse_args()  # exits with status 2 on bad usage

    # Not asyncio.run: its teardown joins the default executor, and a sync `run` still
    # polling GetRunDetails in a thread after a timeout would block the exit forever.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = loop.run_until_complete(run(args.scenario, args.timeout))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown for the same reason: gRPC channels, pooled listeners and
    # threads left behind by a failed scenario must not hang or delay the exit.
    os._exit(code)


if __name__ == "__main__":
    main()
