"""Alert false-positive rate on a soak's events, replayed at realistic speed.

The soak benchmark compresses hundreds of workflow runs into minutes, while alert rules look at
windows of 5 minutes to 24 hours: in the soak itself a rule fires once and stays firing, so its
false-positive figure rests on one or two alert episodes. This script takes the events and
incidents a soak left behind (``--data``, the soak's data folder), stretches time by
``--stretch`` (default 60: one soak second = one minute), and evaluates the default alert rules
every ``--every`` minutes of stretched time, as the operations schedule would, with the same
deduplication, cooldown and grouping. Alerts are judged exactly as in production: true when a
failure incident of the same job or asset (or, for a network failure, a fetch route) confirms
them, false when nothing did within the grace period after they resolved.

Usage: ``uv run python benchmarks/alert_replay.py --data /tmp/soak-XXXX [--stretch 60]``
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    """Replay and print alert episodes, verdicts and the false-positive rate."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a soak's data folder")
    ap.add_argument("--stretch", type=float, default=60.0, help="time stretch factor")
    ap.add_argument("--every", type=float, default=5.0, help="evaluation interval (minutes)")
    ap.add_argument("--grace-min", type=float, default=60.0, help="grace before judging false")
    args = ap.parse_args()

    from assets.operations import events_from_warehouse
    from orchestration_project.alerting import (
        AlertManager,
        InMemoryAlertStore,
        default_rules,
        evaluate_rules,
    )
    from orchestration_project.coordination.store import CoordinationStore
    from orchestration_project.healing import Healer, incidents_frame
    from orchestration_project.monitoring import confirm_from_incidents, health_frame
    from resources.warehouse import DuckDBWarehouse

    data = Path(args.data)
    warehouse = DuckDBWarehouse(path=str(data / "warehouse.duckdb"))
    events = events_from_warehouse(warehouse)
    incidents = incidents_frame(
        Healer(CoordinationStore(f"sqlite:///{data / 'coordination.db'}")).incidents()
    )
    t0 = min(ev["at"].min() for ev in events.values() if len(ev))

    def stretch(ts: pd.Series) -> pd.Series:
        return t0 + (pd.to_datetime(ts, utc=True) - t0) * args.stretch

    events = {d: ev.assign(at=stretch(ev["at"])) for d, ev in events.items() if len(ev)}
    for col in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        incidents[col] = stretch(incidents[col])
    end = max(ev["at"].max() for ev in events.values()) + timedelta(hours=2)
    n_events = sum(len(ev) for ev in events.values())
    print(
        f"replaying {n_events} events ({', '.join(f'{d}: {len(e)}' for d, e in events.items())}) "
        f"and {len(incidents)} incidents over {(end - t0).total_seconds() / 3600:.1f} h "
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
    print(
        f"\nalert false-positive rate: {fp.rate:.3f} "
        f"({fp.false} false of {fp.true + fp.false} judged; {fp.unconfirmed} unjudged)"
    )


if __name__ == "__main__":
    main()
