"""The SLO scorecard on small tables whose figures are worked out by hand."""

import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ml.slo import ROOT_TAG, SCORECARD_COLUMNS, SloGoals, scorecard, workflow_outcomes
from orchestration_project.operations.healing import ROOT_TAG as HEALING_ROOT_TAG
from orchestration_project.operations.healing import Incident, incidents_frame

NAN = float("nan")


def runs_table() -> pd.DataFrame:
    rows = [
        # A failed, and its Dagster re-execution (root_run_id A) succeeded: completed.
        ("A", "j1", "FAILURE", None, None),
        ("A2", "j1", "SUCCESS", "A", None),
        # B failed, a sensor-launched recovery (a new run, root named by tag, as JSON text)
        # failed, and that recovery's own re-execution (Dagster root B2, tag copied) failed.
        ("B", "j2", "FAILURE", None, None),
        ("B2", "j2", "FAILURE", None, json.dumps({ROOT_TAG: "B", "other": "x"})),
        ("B3", "j2", "FAILURE", "B2", {ROOT_TAG: "B"}),
        # Still running.
        ("C", "j1", "STARTED", None, None),
        # Clean success.
        ("D", "j1", "SUCCESS", None, "{}"),
        # Failed, with unreadable tags and a NaN root: its own workflow.
        ("E", "j2", "FAILURE", NAN, "not json"),
        ("F", "j3", "FAILURE", "", {}),
    ]
    return pd.DataFrame(rows, columns=["run_id", "job_name", "status", "root_run_id", "tags"])


def incidents_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"source": "run_failure", "status": "recovered", "ttd_s": 10.0, "ttr_s": 100.0},
            {"source": "run_failure", "status": "escalated", "ttd_s": 30.0, "ttr_s": NAN},
            {"source": "run_failure", "status": "recovered", "ttd_s": 20.0, "ttr_s": 300.0},
            {"source": "run_failure", "status": "open", "ttd_s": math.inf, "ttr_s": None},
            # Alert incidents are not failures: not counted.
            {"source": "alert", "status": "resolved", "ttd_s": 1000.0, "ttr_s": 5000.0},
        ]
    )


def alerts_table() -> pd.DataFrame:
    return pd.DataFrame({"verdict": [True, False, True, None, True, pd.NA]}, dtype=object)


def by_metric(card: pd.DataFrame) -> dict[str, dict]:
    return {r["metric"]: r for r in card.to_dict("records")}


def test_the_two_root_tags_agree() -> None:
    assert ROOT_TAG == HEALING_ROOT_TAG


def test_workflow_outcomes_group_recoveries_with_their_root() -> None:
    wf = workflow_outcomes(runs_table()).set_index("root")

    assert list(wf.columns) == ["job_name", "runs", "outcome"]
    assert wf.to_dict("index") == {
        "A": {"job_name": "j1", "runs": 2, "outcome": "completed"},
        "B": {"job_name": "j2", "runs": 3, "outcome": "failed"},
        "C": {"job_name": "j1", "runs": 1, "outcome": "in_progress"},
        "D": {"job_name": "j1", "runs": 1, "outcome": "completed"},
        "E": {"job_name": "j2", "runs": 1, "outcome": "failed"},
        "F": {"job_name": "j3", "runs": 1, "outcome": "failed"},
    }


def test_workflow_outcomes_without_a_tags_column_and_when_empty() -> None:
    runs = runs_table().drop(columns="tags")
    wf = workflow_outcomes(runs).set_index("root")
    # Without tags, B2 is its own workflow and B3 belongs to B2.
    assert wf.loc["B", "runs"] == 1 and wf.loc["B2", "runs"] == 2
    empty = workflow_outcomes(pd.DataFrame(columns=["run_id", "job_name", "status"]))
    assert empty.empty and list(empty.columns) == ["root", "job_name", "runs", "outcome"]


def test_scorecard_figures_match_a_hand_computation() -> None:
    card = scorecard(runs_table(), incidents_table(), alerts_table())

    assert list(card.columns) == SCORECARD_COLUMNS
    m = by_metric(card)
    # Ended workflows A, B, D, E, F (C runs); completed A and D.
    assert m["workflow completion rate"]["value"] == pytest.approx(2 / 5)
    assert m["workflow completion rate"]["n"] == 5
    # Run-failure incidents with a finite time to detect: 10, 30, 20.
    assert m["mean time to detect"]["value"] == pytest.approx(20.0)
    assert m["mean time to detect"]["n"] == 3
    assert m["p95 time to detect"]["value"] == pytest.approx(20 + 0.9 * 10)  # linear, 29
    # Recovered: 100 and 300.
    assert m["mean time to recover"]["value"] == pytest.approx(200.0)
    assert m["mean time to recover"]["n"] == 2
    assert m["p95 time to recover"]["value"] == pytest.approx(100 + 0.95 * 200)  # 290
    # Judged alerts: True, False, True, True → one false positive in four.
    assert m["alert false-positive rate"]["value"] == pytest.approx(0.25)
    assert m["alert false-positive rate"]["n"] == 4
    assert {k: v["unit"] for k, v in m.items()}["mean time to detect"] == "s"


def test_scorecard_goals_met_and_not_met() -> None:
    m = by_metric(scorecard(runs_table(), incidents_table(), alerts_table()))
    assert m["workflow completion rate"]["met"] is False  # 0.4 < 0.999
    assert m["workflow completion rate"]["comparison"] == ">="
    assert m["mean time to detect"]["met"] is True  # 20 <= 60
    assert m["p95 time to detect"]["met"] is True  # 29 <= 60
    assert m["mean time to recover"]["met"] is True  # 200 <= 300
    assert m["p95 time to recover"]["met"] is True  # 290 <= 300
    assert m["alert false-positive rate"]["met"] is False  # 0.25 > 0.05

    strict = SloGoals(
        completion_rate=0.4,
        mean_time_to_detect_s=19.0,
        mean_time_to_recover_s=250.0,
        alert_false_positive_rate=0.25,
    )
    m = by_metric(scorecard(runs_table(), incidents_table(), alerts_table(), goals=strict))
    assert m["workflow completion rate"]["met"] is True  # 0.4 >= 0.4
    assert m["mean time to detect"]["met"] is False  # 20 > 19
    assert m["mean time to recover"]["met"] is True  # 200 <= 250
    assert m["p95 time to recover"]["met"] is False  # 290 > 250
    assert m["alert false-positive rate"]["met"] is True  # 0.25 <= 0.25
    assert m["mean time to detect"]["goal"] == 19.0


def test_workflows_still_being_remedied_count_neither_way() -> None:
    m = by_metric(
        scorecard(runs_table(), incidents_table(), alerts_table(), still_remediating={"B", "A"})
    )
    # B is in progress now (A completed already and stays completed): A, D of A, D, E, F.
    assert m["workflow completion rate"]["value"] == pytest.approx(2 / 4)
    assert m["workflow completion rate"]["n"] == 4


def test_nothing_measured_gives_nan_and_no_verdict() -> None:
    empty_runs = pd.DataFrame(columns=["run_id", "job_name", "status", "root_run_id", "tags"])
    card = scorecard(empty_runs, pd.DataFrame(), pd.DataFrame())
    assert len(card) == 6
    assert card["value"].isna().all()
    assert card["met"].isna().all() and set(card["met"]) == {None}
    assert (card["n"] == 0).all()

    # Only alert incidents, only in-progress runs, only unjudged alerts: still nothing measured.
    runs = pd.DataFrame(
        [("C", "j", "QUEUED", None)], columns=["run_id", "job_name", "status", "root_run_id"]
    )
    incidents = incidents_table()[lambda d: d["source"] == "alert"]
    alerts = pd.DataFrame({"verdict": [None, pd.NA]}, dtype=object)
    card = scorecard(runs, incidents, alerts)
    assert card["value"].isna().all() and card["met"].isna().all()


def test_scorecard_reads_the_healers_incident_frame() -> None:
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)

    def incident(i: int, detect_s: float, recover_s: float | None, source: str = "run_failure"):
        return Incident(
            incident_id=f"inc-{i}",
            source=source,
            subject_kind="job",
            subject="j",
            job_name="j",
            root_run_id=f"r{i}",
            step_key=None,
            failure_class="transient_network",
            error_class="ConnectError",
            message="",
            status="recovered" if recover_s is not None else "escalated",
            severity="warning",
            failure_at=t0,
            detected_at=t0 + timedelta(seconds=detect_s),
            recovered_at=None if recover_s is None else t0 + timedelta(seconds=recover_s),
            closed_at=None,
            attempts=1,
            consistency=None,
            report_path=None,
        )

    frame = incidents_frame(
        [incident(1, 4, 40), incident(2, 8, None), incident(3, 100, 900, source="alert")]
    )
    runs = pd.DataFrame(
        [("r1", "j", "FAILURE", None), ("r1b", "j", "SUCCESS", "r1")],
        columns=["run_id", "job_name", "status", "root_run_id"],
    )
    m = by_metric(scorecard(runs, frame, pd.DataFrame({"verdict": [True]})))
    assert m["workflow completion rate"]["value"] == 1.0
    assert m["workflow completion rate"]["met"] is True
    assert m["mean time to detect"]["value"] == pytest.approx(6.0)
    assert m["mean time to recover"]["value"] == pytest.approx(40.0)
    assert m["mean time to recover"]["n"] == 1
    assert m["alert false-positive rate"]["value"] == 0.0
