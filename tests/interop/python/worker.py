"""Interop worker: the official Python SDK (hatchet-sdk 1.43.1) running against our engine.

Run:  HATCHET_CLIENT_TOKEN=... HATCHET_CLIENT_HOST_PORT=127.0.0.1:PORT \
      HATCHET_CLIENT_SERVER_URL=http://127.0.0.1:PORT HATCHET_CLIENT_TLS_STRATEGY=none \
      python worker.py

Everything is configured through the HATCHET_CLIENT_* environment; see README.md.

This module is also imported by client.py (for the workflow objects) and re-imported by
the SDK's spawned listener process, so module level code must stay side-effect free apart
from building the client and the workflow declarations.

Lines the Rust harness may wait for on stdout (each printed once, flushed):
  INTEROP WORKFLOWS REGISTERED      all PutWorkflow calls and the GetVersion probe succeeded
  WORKER READY worker_id=<uuid>     Dispatcher/Register succeeded; ListenV2 starts right after
  INTEROP CANCEL OBSERVED task_run_id=<uuid>   the long task saw its cancellation flag
  WORKER STOPPED exit_code=<n>      the worker is exiting (after SIGTERM/SIGINT)
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from hatchet_sdk import Context, DurableContext, EmptyModel, Hatchet
from hatchet_sdk.runnables.types import BatchMemberId

WORKER_NAME = "interop-worker"
WORKER_SLOTS = int(os.environ.get("INTEROP_WORKER_SLOTS", "10"))

EVENT_KEY = "interop:order-created"
STREAM_CHUNKS = ["chunk-0", "chunk-1", "chunk-2"]

# The configuration comes from HATCHET_CLIENT_* (pydantic-settings); nothing is hard-coded.
hatchet = Hatchet()


def say(line: str) -> None:
    """Print one harness-visible line. The SDK's own log lines go to stdout too."""
    print(line, flush=True)


# ---------------------------------------------------------------------------------------
# 1. DAG: `second` reads `first`'s output through ctx.task_output (action_payload.parents).


class DagInput(BaseModel):
    value: int


dag_workflow = hatchet.workflow(name="interop-dag", input_validator=DagInput)


@dag_workflow.task(name="first")
async def dag_first(input: DagInput, ctx: Context) -> dict[str, Any]:
    return {"doubled": input.value * 2}


@dag_workflow.task(name="second", parents=[dag_first])
async def dag_second(input: DagInput, ctx: Context) -> dict[str, Any]:
    first_output = ctx.task_output(dag_first)
    doubled = first_output["doubled"]
    return {"from_first": doubled, "sum": doubled + 1}


# ---------------------------------------------------------------------------------------
# 2. Retry: fails on the first attempt (retry_count 0), succeeds on the retry.


class RetryInput(BaseModel):
    tag: str


@hatchet.task(name="interop-retry", input_validator=RetryInput, retries=1)
async def retry_task(input: RetryInput, ctx: Context) -> dict[str, Any]:
    if ctx.retry_count == 0:
        raise RuntimeError(f"interop: planned failure on first attempt ({input.tag})")
    return {
        "tag": input.tag,
        "attempt": ctx.attempt_number,
        "retry_count": ctx.retry_count,
    }


# Extra scenario `fail`: always fails, no retries; checks error propagation to the client.


@hatchet.task(name="interop-fail", retries=0)
async def fail_task(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    raise ValueError("interop: permanent failure")


# ---------------------------------------------------------------------------------------
# 3. Event-triggered: the pushed event's payload is the run's input.


class OrderCreated(BaseModel):
    order_id: str
    nonce: str


@hatchet.task(name="interop-event", input_validator=OrderCreated, on_events=[EVENT_KEY])
async def event_task(input: OrderCreated, ctx: Context) -> dict[str, Any]:
    # Give a client that subscribed right before pushing the event time to be registered on
    # the engine before this run finishes.
    await asyncio.sleep(float(os.environ.get("INTEROP_EVENT_TASK_DELAY_S", "1.0")))
    return {"order_id": input.order_id, "nonce": input.nonce, "handled": True}


# ---------------------------------------------------------------------------------------
# 4. Child workflow spawned from a task; the parent waits for and returns its result.


class ChildInput(BaseModel):
    n: int


@hatchet.task(name="interop-child", input_validator=ChildInput)
async def child_task(input: ChildInput, ctx: Context) -> dict[str, Any]:
    # parent_workflow_run_id is a proto3 optional string: "" (not None) when the engine
    # did not set it, hence bool().
    return {"doubled": input.n * 2, "has_parent": bool(ctx.parent_workflow_run_id)}


class ParentInput(BaseModel):
    n: int


@hatchet.task(name="interop-parent", input_validator=ParentInput)
async def parent_task(input: ParentInput, ctx: Context) -> dict[str, Any]:
    # TriggerWorkflow with parent_id / parent_task_run_external_id / child_index=0, then
    # waits on this process's pooled SubscribeToWorkflowRuns stream.
    child_output = await child_task.aio_run(ChildInput(n=input.n))
    return {"child": child_output}


# ---------------------------------------------------------------------------------------
# 5. Long task cancelled from the client: polls its cancellation flag in small steps.


class CancelInput(BaseModel):
    max_seconds: float = 90.0


@hatchet.task(
    name="interop-cancel",
    input_validator=CancelInput,
    execution_timeout=timedelta(minutes=3),
)
async def cancel_task(input: CancelInput, ctx: Context) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + input.max_seconds
    while loop.time() < deadline:
        if ctx.is_cancelled:
            say(f"INTEROP CANCEL OBSERVED task_run_id={ctx.task_run_id}")
            # The runner drops the result of a cancelled task (no COMPLETED is sent).
            return {"cancelled": True}
        await asyncio.sleep(0.1)
    return {"cancelled": False}


# ---------------------------------------------------------------------------------------
# 6. Streaming: three chunks through EventsService/PutStreamEvent, then a result.


class StreamInput(BaseModel):
    # A head start for the client's SubscribeToWorkflowEvents: the run id is only known
    # after the trigger, and chunks published before the subscription exists are lost.
    initial_delay_s: float = 3.0
    gap_s: float = 0.2


@hatchet.task(name="interop-stream", input_validator=StreamInput)
async def stream_task(input: StreamInput, ctx: Context) -> dict[str, Any]:
    await asyncio.sleep(input.initial_delay_s)
    for chunk in STREAM_CHUNKS:
        await ctx.aio_put_stream(chunk)
        await asyncio.sleep(input.gap_s)
    return {"chunks_sent": len(STREAM_CHUNKS)}


# ---------------------------------------------------------------------------------------
# 7. Durable: a durable sleep, then a durable wait for an event, over the DurableTask stream.

DURABLE_EVENT_KEY = "interop:durable-go"


@hatchet.durable_task(name="interop-durable", execution_timeout=timedelta(seconds=90))
async def durable_task(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
    slept = await ctx.aio_sleep_for(timedelta(seconds=1))
    event = await ctx.aio_wait_for_event(DURABLE_EVENT_KEY)
    return {"slept_s": slept.duration.total_seconds(), "event": event}


# ---------------------------------------------------------------------------------------
# 8. Batch: runs buffered per key (`input.group`) and handed over two at a time as one
#    START_BATCH; each run gets its own item's output.


class BatchInput(BaseModel):
    group: str
    word: str


class BatchOutput(BaseModel):
    upper: str
    batch_size: int


@hatchet.batch_task(
    name="interop-batch",
    input_validator=BatchInput,
    batch_max_size=2,
    batch_max_interval=timedelta(seconds=30),
    batch_group_key="input.group",
    execution_timeout=timedelta(seconds=30),
)
async def batch_task(
    tasks: dict[BatchMemberId, BatchInput], ctx: Context
) -> dict[BatchMemberId, BatchOutput]:
    return {
        member: BatchOutput(upper=item.word.upper(), batch_size=len(tasks))
        for member, item in tasks.items()
    }


# ---------------------------------------------------------------------------------------
# 9. REST: a task the REST scenario runs and then finds through the run listing.


@hatchet.task(name="interop-rest-echo", input_validator=ChildInput)
async def rest_echo_task(input: ChildInput, ctx: Context) -> dict[str, Any]:
    ctx.log(f"rest echo {input.n}")
    return {"n": input.n}


class RestWaitInput(BaseModel):
    max_seconds: float = 60.0


@hatchet.task(name="interop-rest-wait", input_validator=RestWaitInput)
async def rest_wait_task(input: RestWaitInput, ctx: Context) -> dict[str, Any]:
    """Waits until cancelled (the REST scenario cancels it by a filter)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + input.max_seconds
    while loop.time() < deadline and not ctx.is_cancelled:
        await asyncio.sleep(0.1)
    return {"cancelled": ctx.is_cancelled}


ALL_WORKFLOWS = [
    dag_workflow,
    retry_task,
    fail_task,
    event_task,
    child_task,
    parent_task,
    cancel_task,
    stream_task,
    durable_task,
    batch_task,
    rest_echo_task,
    rest_wait_task,
]


# ---------------------------------------------------------------------------------------


async def lifespan() -> AsyncGenerator[None, None]:
    # The SDK runs the lifespan after every PutWorkflow and the GetVersion probe succeeded,
    # and before it spawns the listener process that calls Register/ListenV2.
    say("INTEROP WORKFLOWS REGISTERED")
    yield


def announce_ready(worker: Any) -> None:
    """Print WORKER READY once the listener process has registered with the engine.

    The SDK has no public readiness hook. Its listener subprocess puts the worker id from
    WorkerRegisterResponse on a private queue right before it opens ListenV2; the worker
    reads it back on shutdown (to pause itself over REST), so it is put back after reading.
    """
    queue = getattr(worker, "_worker_id_queue", None)
    if queue is None:
        say("INTEROP NOTE readiness hook unavailable in this SDK version")
        return
    try:
        worker_id = queue.get(timeout=float(os.environ.get("INTEROP_READY_TIMEOUT_S", "120")))
    except Exception:
        say("INTEROP NOTE worker did not register in time")
        return
    queue.put(worker_id)
    say(f"WORKER READY worker_id={worker_id}")


def main() -> int:
    worker = hatchet.worker(
        WORKER_NAME,
        slots=WORKER_SLOTS,
        workflows=ALL_WORKFLOWS,
        lifespan=lifespan,
    )
    threading.Thread(target=announce_ready, args=(worker,), daemon=True).start()

    exit_code = 0
    try:
        # Blocks until shutdown. The SDK installs SIGTERM/SIGINT handlers (graceful: pause
        # over REST, wait for running tasks, Unsubscribe) and ends with sys.exit(0).
        worker.start()
    except SystemExit as e:
        exit_code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - report any startup failure clearly
        say(f"INTEROP WORKER FAILED {type(e).__name__}: {e}")
        exit_code = 1
    say(f"WORKER STOPPED exit_code={exit_code}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
