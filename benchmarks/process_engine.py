"""Process engine throughput on SQLite: invoice-approval instances through the event-sourced
engine, mixed auto-approved and manual, with simulated people deciding.

Each run starts from an empty coordination store (a SQLite file, WAL, as locally) and takes
``--invoices`` invoices from start to end: about half under the auto-approval threshold, a
third needing one approver, the rest two (four eyes); approvers reject one in ten, with a
reason; every approved invoice then goes through the payment step. The clock is simulated
(minutes pass between commands), so the SLA path is exercised without waiting. Every command
is one transaction: read the projection, append the events, write the projection.

Printed (median of ``--runs``): instances per minute end to end, engine commands per second
with their latency p50/p99, events appended per second, and the projection rebuilt from the
whole log (events replayed per second), with a check that it equals the live state.

    uv run python benchmarks/process_engine.py [--invoices 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration_project.agents.coordination.store import CoordinationStore  # noqa: E402
from orchestration_project.business_processes import (  # noqa: E402
    EventStore,
    ProcessEngine,
    bundled_processes,
    process_figures,
)


def one_run(n: int, seed: int, folder: Path) -> dict[str, float]:
    """``n`` invoices start to end on a fresh store; the figures of the run."""
    rng = random.Random(seed)
    now = [datetime(2026, 12, 1, 8, tzinfo=UTC)]
    store = CoordinationStore(f"sqlite:///{folder / f'coord-{seed}.db'}")
    engine = ProcessEngine(EventStore(store), bundled_processes(), clock=lambda: now[0])
    latencies: list[float] = []

    def timed(fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        latencies.append(time.perf_counter() - t)
        now[0] += timedelta(minutes=rng.uniform(0.5, 20))
        return out

    t0 = time.perf_counter()
    for i in range(n):
        r = rng.random()
        amount = (
            rng.uniform(50, 990) if r < 0.5 else rng.uniform(1200, 9500) if r < 0.85 else 25000.0
        )
        data = {"amount": round(amount, 2), "currency": "EUR", "vendor": f"V{i % 37}"}
        state = timed(engine.start, "invoice_approval", f"invoice:v:{i}", data)
        while state["waiting"] == "person":
            (task,) = [t for t in state["tasks"].values() if t["status"] == "open"]
            people = engine.definitions["invoice_approval"].people(task["assignee"])
            earlier = {t["decided_by"] for t in state["tasks"].values() if t["decided_by"]}
            person = rng.choice([p for p in people if p not in earlier])
            if rng.random() < 0.1:
                state = timed(engine.decide, task["task_id"], "reject", by=person, reason="no PO")
            else:
                state = timed(engine.decide, task["task_id"], "approve", by=person)
        if state["waiting"] == "system":
            timed(engine.complete_step, state["instance_id"], "payment", data={"batch": "b"})
    wall = time.perf_counter() - t0
    events = engine.events.count_events()
    t1 = time.perf_counter()
    live = {s["instance_id"]: s for s in engine.events.instances()}
    replayed = engine.events.replayed()
    rebuild = time.perf_counter() - t1
    assert replayed == live, "the projection differs from the fold of the log"
    (fig,) = process_figures(live.values(), engine.definitions)
    store.dispose()
    latencies.sort()
    return {
        "wall_s": wall,
        "instances_per_min": 60 * n / wall,
        "commands_per_s": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "events": events,
        "events_per_s": events / wall,
        "replay_events_per_s": events / rebuild,
        "automated_share": fig.automated_share,
        "commands": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as d:
        for run in range(args.runs):
            res = one_run(args.invoices, seed=run + 1, folder=Path(d))
            results.append(res)
            print(
                f"  run {run + 1}/{args.runs}: {args.invoices} instances in {res['wall_s']:.1f} s, "
                f"{res['events']} events, {res['commands']} commands",
                file=sys.stderr,
                flush=True,
            )

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(
        f"process engine on SQLite (WAL), {args.invoices} invoice-approval instances per run "
        f"({med('automated_share'):.0%} auto-approved, the rest one or two simulated approvers, "
        f"10 % rejected); median of {args.runs} runs"
    )
    print(f"  instances/min, start to end             {med('instances_per_min'):10.0f}")
    print(f"  engine commands/s                       {med('commands_per_s'):10.1f}")
    print(f"  command latency p50 / p99 (ms)          {med('p50_ms'):6.2f} / {med('p99_ms'):.2f}")
    print(f"  events appended/s                       {med('events_per_s'):10.0f}")
    print(f"  events per run                          {med('events'):10.0f}")
    print(f"  projection rebuilt from the log (ev/s)  {med('replay_events_per_s'):10.0f}  (= live)")


if __name__ == "__main__":
    main()
