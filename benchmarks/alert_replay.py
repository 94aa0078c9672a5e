"""Alert false-positive rate on a soak's events, replayed at realistic speed.

The soak benchmark compresses hundreds of workflow runs into minutes, while alert rules look at
windows of 5 minutes to 24 hours: in the soak itself a rule fires once and stays firing, so its
false-positive figure rests on one or two alert episodes. This script takes the events and
incidents a soak left behind (``--data``, the soak's data folder), stretches time by
``--stretch`` (default 60: one soak second = one minute), and evaluates the default alert rules
every ``--every`` minutes of stretched time, as the operations schedule would, with the same
deduplication, cooldown and grouping. Alerts are judged exactly as in production: true when a
failure incident of the same job or asset (or, for a network failure, a fetch route) or a
silent remedy that touched the same subject at the time (a route switch, a breaker trip, a
skipped source, a quarantine spike, an action on a predicted failure, a step that its own retry
healed) confirms them, false when
nothing did within the grace period after they resolved (``--incidents-only`` judges by
incidents alone, as before silent remedies were recorded). The same episodes
are then judged against the soak's ground truth — its fault ledger and scenario timeline (see
:func:`truly_affected`) — which also counts real problems the platform handled silently.

Usage: ``uv run python benchmarks/alert_replay.py --data /tmp/soak-XXXX [--stretch 60]``
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


NETWORK_FAULTS = {"http_5xx", "slow_page", "connection_refused"}
SCENARIO_ENDS = {"down": "up", "block_bots": "unblock"}


def ground_truth(
    data: Path, *, t0: pd.Timestamp, stretch: float, effect_s: float
) -> pd.DataFrame | None:
    """The real problems of a soak, in stretched time: each injected fault (its job, step and
    kind) for ``effect_s`` soak seconds, and each scenario (a site down, bots blocked) from its
    start to its end. None when the soak left no ledger (soaks before ledgers existed)."""
    from orchestration_project.operations.faults import read_ledger

    ledger, scen = data / "faults.jsonl", data / "scenarios.jsonl"
    if not ledger.exists() and not scen.exists():
        return None

    def at(ts: str) -> pd.Timestamp:
        return t0 + (pd.Timestamp(ts) - t0) * stretch

    rows = [
        {
            "start": at(f.at),
            "end": at(f.at) + pd.Timedelta(seconds=effect_s * stretch),
            "kind": f.kind,
            "job": f.job_name,
            "step": f.step,
        }
        for f in read_ledger(ledger)
    ]
    if scen.exists():
        events = [json.loads(line) for line in scen.read_text().splitlines() if line]
        for i, ev in enumerate(events):
            if ev["what"] not in SCENARIO_ENDS:
                continue
            end = next(
                (
                    e["at"]
                    for e in events[i + 1 :]
                    if e["what"] == SCENARIO_ENDS[ev["what"]] and e["site"] == ev["site"]
                ),
                None,
            )
            rows.append(
                {
                    "start": at(ev["at"]),
                    "end": at(end) if end else pd.Timestamp.max.tz_localize("UTC"),
                    "kind": f"scenario:{ev['what']}",
                    "job": None,
                    "step": None,
                }
            )
    return pd.DataFrame(rows, columns=["start", "end", "kind", "job", "step"])


def truly_affected(
    alert: pd.Series, truth: pd.DataFrame, lookback_h: float = 1.0, bucket: str | None = None
) -> bool:
    """Whether a real problem touched the alert's subject during its episode (or up to
    ``lookback_h`` before it: windowed rules and anomaly buckets look back). A fault affects its
    job and its step's asset, and — when it is a network fault — the fetch routes and agents; a
    scenario (a site down or blocking bots) affects everything that fetches: every job, asset,
    route and agent."""
    start = pd.Timestamp(alert["first_at"]) - pd.Timedelta(hours=lookback_h)
    end = pd.Timestamp(alert["last_at"])
    if bucket:  # an anomaly alert is dated by its bucket's start and covers the whole bucket
        end += pd.Timedelta(bucket)
    live = truth[(truth["start"] <= end) & (truth["end"] >= start)]
    kind, subject = alert["subject_kind"], alert["subject"]
    for p in live.itertuples():
        if p.kind.startswith("scenario:"):
            return True
        # Injection points are asset key paths ("canary/facts"); asset events use step keys.
        step = str(p.step or "").replace("/", "__")
        if (kind == "job" and subject == p.job) or (kind == "asset" and subject == step):
            return True
        if kind in ("route", "agent") and p.kind in NETWORK_FAULTS:
            return True
    return False


def main() -> None:
    """Replay and print alert episodes, verdicts and the false-positive rate."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a soak's data folder")
    ap.add_argument("--stretch", type=float, default=60.0, help="time stretch factor")
    ap.add_argument("--every", type=float, default=5.0, help="evaluation interval (minutes)")
    ap.add_argument("--grace-min", type=float, default=60.0, help="grace before judging false")
    ap.add_argument("--details", action="store_true", help="print every alert episode")
    ap.add_argument(
        "--incidents-only",
        action="store_true",
        help="judge alerts by incidents alone (the verdict before silent remedies counted)",
    )
    ap.add_argument(
        "--fault-effect-s",
        type=float,
        default=60.0,
        help="soak seconds an injected fault counts as a real problem (recoveries take ~20 s)",
    )
    args = ap.parse_args()

    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.operations.alerting import (
        AlertManager,
        InMemoryAlertStore,
        default_rules,
        evaluate_rules,
    )
    from orchestration_project.operations.events import events_from_warehouse, silent_retries
    from orchestration_project.operations.healing import Healer, incidents_frame, op_events
    from orchestration_project.operations.monitoring import (
        confirm_from_incidents,
        confirm_from_op_events,
        health_frame,
    )
    from resources.warehouse import DuckDBWarehouse

    data = Path(args.data)
    warehouse = DuckDBWarehouse(path=str(data / "warehouse.duckdb"))
    events = events_from_warehouse(warehouse)
    store = CoordinationStore(f"sqlite:///{data / 'coordination.db'}")
    incidents = incidents_frame(Healer(store).incidents())
    # Silent remedies: route switches, breaker trips, skips... and steps healed by a retry.
    parts = [f for f in (op_events(store), silent_retries(warehouse)) if len(f)]
    silent = pd.concat(parts, ignore_index=True) if parts else op_events(store)
    t0 = min(ev["at"].min() for ev in events.values() if len(ev))

    def stretch(ts: pd.Series) -> pd.Series:
        return t0 + (pd.to_datetime(ts, utc=True) - t0) * args.stretch

    events = {d: ev.assign(at=stretch(ev["at"])) for d, ev in events.items() if len(ev)}
    for col in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        incidents[col] = stretch(incidents[col])
    silent["at"] = stretch(silent["at"]) if len(silent) else silent["at"]
    end = max(ev["at"].max() for ev in events.values()) + timedelta(hours=2)
    n_events = sum(len(ev) for ev in events.values())
    print(
        f"replaying {n_events} events ({', '.join(f'{d}: {len(e)}' for d, e in events.items())}) "
        f"and {len(incidents)} incidents and {len(silent)} silent remedies "
        f"({silent['kind'].value_counts().to_dict() if len(silent) else {}}) over {(end - t0).total_seconds() / 3600:.1f} h "
        f"(stretch x{args.stretch:g}), evaluating every {args.every:g} min"
    )

    manager = AlertManager(InMemoryAlertStore())
    rules = default_rules()
    now = t0 + timedelta(minutes=args.every)
    evaluations = notifications = 0
    while now <= end:
        upto = {d: ev[ev["at"] <= now] for d, ev in events.items()}
        alerts = evaluate_rules(
            rules,
            events=upto,
            health=health_frame(upto, now),
            now=now,
            since=manager.last_evaluated_at(),
        )
        notifications += len(manager.process(alerts, now=now))
        known = incidents[incidents["detected_at"] <= now]
        confirm_from_incidents(manager, known, now=now)
        if not args.incidents_only:
            confirm_from_op_events(manager, silent[silent["at"] <= now])
        manager.expire_unconfirmed(now, grace=timedelta(minutes=args.grace_min))
        evaluations += 1
        now += timedelta(minutes=args.every)

    records = pd.DataFrame([r.__dict__ for r in manager.store.records()])
    fp = manager.false_positive_rate()
    print(
        f"{evaluations} evaluations, {notifications} notifications, {len(records)} alert episodes"
    )
    if len(records):
        summary = (
            records.assign(verdict=records["verdict"].map({True: "true", False: "false"}))
            .fillna({"verdict": "unjudged"})
            .groupby(["rule", "subject_kind", "verdict"])
            .size()
            .unstack(fill_value=0)
        )
        print(summary.to_markdown())
    rate = "n/a (no judged alerts)" if fp.rate is None else f"{fp.rate:.3f}"
    print(
        f"\nalert false-positive rate: {rate} "
        f"({fp.false} false of {fp.true + fp.false} judged; {fp.unconfirmed} unjudged)"
    )
    truth = ground_truth(data, t0=t0, stretch=args.stretch, effect_s=args.fault_effect_s)
    if truth is not None and len(records):
        buckets = {r.name: getattr(r, "bucket", None) for r in rules}
        judged = records.apply(
            lambda r: truly_affected(r, truth, bucket=buckets.get(r["rule"])), axis=1
        )
        records["ground_truth"] = judged
        false_ = int((~judged).sum())
        print(
            f"against the injected faults and scenarios (ground truth, {len(truth)} problem "
            f"windows): {false_} false of {len(records)} alert episodes "
            f"(false-positive rate {false_ / len(records):.3f})"
        )
    if args.details and len(records):
        cols = ["rule", "subject", "first_at", "last_at", "verdict", "ground_truth", "message"]
        print(records[[c for c in cols if c in records]].to_markdown(index=False))


if __name__ == "__main__":
    main()
