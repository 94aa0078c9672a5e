"""Traces of the degradation scenarios, recorded for real: what predictive failure detection
trains and is evaluated on.

Each trace runs one scenario (``degrade`` or ``decay`` on a demo-world site, ``lock_growth`` on a
DuckDB file) after a quiet lead-in, while a probe does what the canary does once per interval
and records the same indicators the platform records (``ml.failure_prediction`` observations):

* ``degrade`` — fetch the site's home page (plain HTTP, the canary's timeout); a fetch is tried
  three times, as the canary step's retry policy does, and the probe *fails* when all three
  fail. A healthy control site is probed alongside (its subject never fails: negatives).
* ``decay`` — fetch and extract the home page; the probe fails when a fetched page yields no
  facts (the extraction has lost what it needs).
* ``lock_growth`` — write to the DuckDB file, waiting for another process's lock up to a lock
  timeout exactly as the warehouse does; waits are recorded only when the writer had to wait
  (as the warehouse's ledger), and the probe fails when the wait times out.

A seed fixes the ramp's length and peaks, the sites and the lock holder's rhythm. Several
scenarios run at once (threads), so a batch of seeds costs one ramp of wall time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from ml.failure_prediction import (
    ERROR,
    FACTS,
    LATENCY,
    LOCK_TIMEOUT,
    LOCK_WAIT,
    Trace,
    observations_frame,
)
from orchestration_project.common.migrations import Migration, apply_migrations
from orchestration_project.common.time import utcnow
from orchestration_project.operations.faults import (
    DECAY,
    DEGRADATION_SCENARIOS,
    DEGRADE,
    grow_warehouse_lock,
)

STRUCTURED_ATTRIBUTES = ("price", "rating")
WAREHOUSE = "warehouse"  # the lock-growth subject (as ``prediction.WAREHOUSE_SUBJECT``)
FactCounter = Callable[[str, str], int]
"""``(html, url) -> prices and ratings extracted`` (the research domain's extraction, passed in
by the caller: operations does not import research)."""


def _probe_table(dialect: str) -> list[str]:
    # IF NOT EXISTS: a file left by a trace recorded before this migration is adopted.
    return ["CREATE TABLE IF NOT EXISTS probe (written TIMESTAMP)"]


LOCK_PROBE_MIGRATIONS = [
    Migration(1, "lock_probe_table", sql=_probe_table, description="the probe's write target")
]
"""The schema of a lock-growth trace's DuckDB file (what the probe writes to)."""


@dataclass(frozen=True)
class ScenarioPlan:
    """Timing of a recorded scenario.

    Attributes:
        lead_in_s: quiet time before the scenario starts.
        ramp_s: the ramp's nominal length (each seed varies it by up to +/-20 %).
        tail_s: how long to keep probing after the failure.
        interval_s: time between probes.
        fetch_timeout_s: the probe's HTTP timeout (the canary's).
        lock_timeout_s: how long a writer waits for the lock.
    """

    lead_in_s: float = 8.0
    ramp_s: float = 30.0
    tail_s: float = 3.0
    interval_s: float = 1.0
    fetch_timeout_s: float = 2.0
    lock_timeout_s: float = 2.0


class _Recorder:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, subject: str, metric: str, value: float, at: datetime | None = None) -> None:
        with self._lock:
            self.rows.append(
                {"at": at or utcnow(), "subject": subject, "metric": metric, "value": value}
            )

    def fail(self, subject: str) -> None:
        with self._lock:
            if not any(f["subject"] == subject for f in self.failures):
                self.failures.append({"subject": subject, "at": utcnow()})


def _fetch(client: httpx.Client, url: str, rec: _Recorder, subject: str) -> str | None:
    t0 = time.monotonic()
    try:
        resp = client.get(url)
        ok = resp.status_code == 200
    except httpx.HTTPError:
        ok, resp = False, None
    rec.add(subject, ERROR, float(not ok))
    if ok:
        rec.add(subject, LATENCY, time.monotonic() - t0)
        return resp.text if resp is not None else None
    return None


def _site_probe(
    kind: str,
    url: str,
    control: str | None,
    plan: ScenarioPlan,
    rec: _Recorder,
    stop_at: list[float],
    go: threading.Event,
    count_facts: FactCounter,
) -> None:
    subject = f"source:{urlsplit_netloc(url)}"
    ctl_subject = f"source:{urlsplit_netloc(control)}" if control else None
    with httpx.Client(timeout=plan.fetch_timeout_s) as client:
        while time.monotonic() < stop_at[0]:
            t0 = time.monotonic()
            if kind == DEGRADE:
                for attempt in range(3):
                    if _fetch(client, url + "/", rec, subject) is not None:
                        break
                    if attempt < 2:
                        time.sleep(0.2)
                else:
                    _failed(rec, subject, plan, stop_at, go)
            else:
                html = _fetch(client, url + "/", rec, subject)
                if html is not None:
                    n = count_facts(html, url + "/")
                    rec.add(subject, FACTS, float(n))
                    if n == 0:
                        _failed(rec, subject, plan, stop_at, go)
            if ctl_subject:
                html = _fetch(client, control + "/", rec, ctl_subject)
                if html is not None and kind == DECAY:
                    rec.add(ctl_subject, FACTS, float(count_facts(html, control + "/")))
            time.sleep(max(0.0, plan.interval_s - (time.monotonic() - t0)))


def urlsplit_netloc(url: str) -> str:
    """The host:port of ``url``."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def _failed(
    rec: _Recorder, subject: str, plan: ScenarioPlan, stop_at: list[float], go: threading.Event
) -> None:
    if go.is_set():  # a failure before the scenario started is not the scenario's
        rec.fail(subject)
        stop_at[0] = min(stop_at[0], time.monotonic() + plan.tail_s)


def _write_once(path: str, timeout_s: float) -> tuple[float, bool]:
    import duckdb

    start = time.monotonic()
    waited = False
    while True:
        try:
            conn = duckdb.connect(path)
        except duckdb.IOException:
            waited = True
            if time.monotonic() - start >= timeout_s:
                return time.monotonic() - start, True
            time.sleep(0.05)
            continue
        try:
            conn.execute("INSERT INTO probe VALUES (now())")
        finally:
            conn.close()
        return (time.monotonic() - start) if waited else 0.0, False


def _lock_probe(
    path: str, plan: ScenarioPlan, rec: _Recorder, stop_at: list[float], go: threading.Event
) -> None:
    while time.monotonic() < stop_at[0]:
        t0 = time.monotonic()
        waited, timed_out = _write_once(path, plan.lock_timeout_s)
        if waited > 0:  # the warehouse records only writes that had to wait
            rec.add(WAREHOUSE, LOCK_WAIT, waited)
            rec.add(WAREHOUSE, LOCK_TIMEOUT, float(timed_out))
        if timed_out:
            _failed(rec, WAREHOUSE, plan, stop_at, go)
        time.sleep(max(0.0, plan.interval_s - (time.monotonic() - t0)))


def facts_sites(world: Any, count_facts: FactCounter) -> list[str]:
    """The demo-world sites whose home page yields facts (the ones ``decay`` can degrade)."""
    out = []
    for slug, url in world.sites.items():
        if count_facts(httpx.get(url + "/", timeout=5).text, url + "/"):
            out.append(slug)
    return out


def _one_batch(
    world: Any,
    data_dir: Path,
    seeds: Sequence[int],
    kinds: Sequence[str],
    plan: ScenarioPlan,
    count_facts: FactCounter,
) -> list[Trace]:
    with_facts = facts_sites(world, count_facts)
    others = [s for s in world.sites if s not in with_facts]
    rng0 = random.Random(sum(seeds))
    rng0.shuffle(with_facts)
    decay_sites = with_facts[: len(seeds)] if DECAY in kinds else []
    spare = [s for s in with_facts if s not in decay_sites]
    control = spare.pop() if spare else None  # never degraded in this batch: negatives
    degrade_sites = others + spare
    if len(decay_sites) < len(seeds) * (DECAY in kinds) or len(degrade_sites) < len(seeds) * (
        DEGRADE in kinds
    ):
        raise ValueError(f"the demo world has too few sites for {len(seeds)} seeds at once")
    jobs = []
    for i, seed in enumerate(seeds):
        rng = random.Random(seed)
        ramp = plan.ramp_s * rng.uniform(0.8, 1.2)
        for kind in kinds:
            rec, go = _Recorder(), threading.Event()
            stop_at = [time.monotonic() + plan.lead_in_s + ramp * 3 + 30]
            meta: dict[str, Any] = {"ramp_s": round(ramp, 2)}
            if kind in (DEGRADE, DECAY):
                slug = (decay_sites if kind == DECAY else degrade_sites)[i]
                meta |= {"site": slug, "control": control}
                ctl = world.sites[control] if control else None
                target: Any = _site_probe
                args: tuple = (kind, world.sites[slug], ctl, plan, rec, stop_at, go, count_facts)
            else:
                import duckdb

                path = str(data_dir / f"lock_growth_{seed}.duckdb")
                with duckdb.connect(path) as c:
                    apply_migrations(c, LOCK_PROBE_MIGRATIONS)
                meta |= {"path": path, "gap_s": round(rng.uniform(0.6, 1.2), 2)}
                target, args = _lock_probe, (path, plan, rec, stop_at, go)
            thread = threading.Thread(target=target, args=args, daemon=True)
            jobs.append((kind, seed, rec, meta, stop_at, go, thread))
    started = utcnow()
    for job in jobs:
        job[-1].start()
    time.sleep(plan.lead_in_s)
    holders = []
    for kind, seed, _rec, meta, _stop, go, _t in jobs:
        go.set()
        if kind == DEGRADE:
            world.degrade(
                meta["site"],
                ramp_s=meta["ramp_s"],
                peak_delay_s=random.Random(seed).uniform(1.0, 1.8),
                peak_error_rate=random.Random(seed + 1).uniform(0.25, 0.45),
            )
        elif kind == DECAY:
            world.decay(meta["site"], ramp_s=meta["ramp_s"])
        else:
            holders.append(
                grow_warehouse_lock(
                    meta["path"],
                    ramp_s=meta["ramp_s"],
                    first_hold_s=0.1,
                    last_hold_s=plan.lock_timeout_s * 0.9,
                    gap_s=meta["gap_s"],
                    final_hold_s=plan.lock_timeout_s * 4,
                )
            )
    for job in jobs:
        job[-1].join()
    for h in holders:
        h.terminate()
        h.wait(10)
    traces = []
    for kind, seed, rec, meta, _stop, _go, _t in jobs:
        if kind in (DEGRADE, DECAY):
            world.bring_up(meta["site"])
            world.set_faults(meta["site"])
        obs = observations_frame(rec.rows)
        failures = pd.DataFrame(rec.failures, columns=["subject", "at"])
        failures["at"] = pd.to_datetime(failures["at"], utc=True)
        end = obs["at"].max() if len(obs) else pd.Timestamp(utcnow())
        traces.append(Trace(kind, seed, obs, failures, pd.Timestamp(started), end, meta))
    return traces


def collect_traces(
    world: Any,
    data_dir: Path,
    *,
    count_facts: FactCounter,
    seeds: Sequence[int],
    kinds: Sequence[str] = DEGRADATION_SCENARIOS,
    plan: ScenarioPlan | None = None,
    seeds_per_batch: int = 2,
) -> list[Trace]:
    """Record one trace per (kind, seed), ``seeds_per_batch`` seeds at a time.

    Args:
        world: a running demo world (``DemoWorld``); its sites are degraded and restored.
        data_dir: where the lock-growth DuckDB files go.
        count_facts: prices and ratings a page yields (the extraction, passed in).
        seeds: the seeds.
        kinds: scenario kinds among ``degrade``, ``lock_growth``, ``decay``.
        plan: timing.
        seeds_per_batch: seeds run at once (each needs its own sites; 2 fit the demo world).
    """
    plan = plan or ScenarioPlan()
    data_dir.mkdir(parents=True, exist_ok=True)
    traces: list[Trace] = []
    seeds = list(seeds)
    for i in range(0, len(seeds), seeds_per_batch):
        batch = seeds[i : i + seeds_per_batch]
        traces += _one_batch(world, data_dir, batch, kinds, plan, count_facts)
    return traces


__all__ = [
    "LOCK_PROBE_MIGRATIONS",
    "FactCounter",
    "ScenarioPlan",
    "collect_traces",
    "facts_sites",
    "urlsplit_netloc",
]
