"""The official Python SDK's worker for hatchet-bench (hatchet-sdk 1.43.1).

Started by `hatchet-bench`, which sets HATCHET_CLIENT_* (the engine), HATCHET_BENCH_SLOTS and
HATCHET_BENCH_SLEEP_MS. Serves the same two standalone tasks as the Rust peers:

  bench-python-noop   returns {"started_at_us": <unix time in µs when it started>}
  bench-python-sleep  sleeps HATCHET_BENCH_SLEEP_MS, returns {}

Prints READY (flushed) once the SDK's listener process has registered the worker.
The SDK re-imports this module in that listener process: module level code only builds the
client and the task declarations.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from hatchet_sdk import Context, EmptyModel, Hatchet

SLOTS = int(os.environ.get("HATCHET_BENCH_SLOTS", "200"))
SLEEP_S = int(os.environ.get("HATCHET_BENCH_SLEEP_MS", "2000")) / 1000

hatchet = Hatchet()


@hatchet.task(name="bench-python-noop")
async def noop(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"started_at_us": time.time_ns() // 1000}


@hatchet.task(name="bench-python-sleep")
async def sleep(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    await asyncio.sleep(SLEEP_S)
    return {}


def announce_ready(worker: Any) -> None:
    """The SDK has no public readiness hook. Its listener process puts the registered worker
    id on a private queue right before opening ListenV2; read it, put it back (the SDK reads
    it at shutdown), and print READY. Without the hook, READY comes at once: the benchmark's
    warm-up runs wait in the engine's queue until the worker listens."""
    queue = getattr(worker, "_worker_id_queue", None)
    if queue is not None:
        worker_id = queue.get(timeout=120)
        queue.put(worker_id)
    print("READY", flush=True)


def main() -> None:
    worker = hatchet.worker("bench-python", slots=SLOTS, workflows=[noop, sleep])
    threading.Thread(target=announce_ready, args=(worker,), daemon=True).start()
    worker.start()


if __name__ == "__main__":
    main()
