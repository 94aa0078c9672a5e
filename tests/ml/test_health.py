"""Health metrics over rolling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ml.health import health_metrics

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _events() -> pd.DataFrame:
    rows = []
    for i in range(10):  # job a: 10 runs in the last hour, 2 failed, latencies 1..10 s
        rows.append(
            {
                "at": NOW - timedelta(minutes=5 * i),
                "entity": "a",
                "ok": i not in (0, 1),
                "latency_s": float(i + 1),
                "cost_usd": 0.5,
            }
        )
    rows.append({"at": NOW - timedelta(hours=5), "entity": "b", "ok": True, "latency_s": 3.0})
    rows.append(
        {"at": NOW + timedelta(minutes=1), "entity": "b", "ok": False, "latency_s": 99.0}
    )  # the future: must be ignored
    return pd.DataFrame(rows)


def test_rates_latency_throughput_cost_and_freshness() -> None:
    m = health_metrics(_events(), dimension="job", now=NOW).set_index(["entity", "window"])
    a = m.loc[("a", "1h")]
    assert (a["events"], a["successes"]) == (10, 8)
    assert a["success_rate"] == pytest.approx(0.8) and a["error_rate"] == pytest.approx(0.2)
    assert a["latency_p50_s"] == pytest.approx(5.5)
    assert a["latency_p95_s"] == pytest.approx(9.55)
    assert a["throughput_per_h"] == pytest.approx(10.0)
    assert a["cost_usd"] == pytest.approx(5.0)
    assert a["freshness_s"] == pytest.approx(600.0)  # last success 10 minutes ago
    b1, b24 = m.loc[("b", "1h")], m.loc[("b", "24h")]
    assert b1["events"] == 0 and b1["success_rate"] is None or pd.isna(b1["success_rate"])
    assert b24["events"] == 1 and b24["latency_p99_s"] == 3.0  # the future event is not seen
    assert b24["freshness_s"] == pytest.approx(5 * 3600)


def test_no_events_give_an_empty_frame_with_the_columns() -> None:
    out = health_metrics(
        pd.DataFrame(columns=["at", "entity", "ok", "latency_s"]), dimension="route", now=NOW
    )
    assert out.empty and "success_rate" in out.columns
