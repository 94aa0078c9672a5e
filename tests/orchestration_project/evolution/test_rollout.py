"""Gradual rollouts, pure: assignment, stages, and stage decisions on synthetic data with known
effects (orchestration_project/evolution/rollout.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml.experiments import gb_hash
from orchestration_project.evolution.rollout import (
    CANDIDATE,
    CURRENT,
    ROLLOUTS_PATH,
    MetricSpec,
    RolloutSpec,
    RolloutState,
    apply_decision,
    decide_stage,
    in_canary,
    load_rollouts,
    parse_rollouts,
    stage_observations,
    start_rollout,
    unit_bucket,
)
from orchestration_project.research.rule_sets import OBSERVATION_METRICS, rule_set_versions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(**kw: Any) -> RolloutSpec:
    base: dict[str, Any] = {
        "rollout_id": "r-test",
        "step": "step",
        "current_version": "a",
        "candidate_version": "b",
        "unit_kind": "unit",
        "stages": (5, 25, 100),
        "metrics": (
            MetricSpec("quality", higher_is_better=True, margin=0.02),
            MetricSpec("cost", higher_is_better=False, relative_margin=0.1),
        ),
        "min_units_per_arm": (50, 200),
    }
    base.update(kw)
    return RolloutSpec(**base)


def observe(
    state: RolloutState,
    n: int,
    *,
    quality_effect: float = 0.0,
    cost_effect: float = 0.0,
    seed: int = 0,
    at: datetime = T0,
) -> pd.DataFrame:
    """Per-unit observations of units u0..u{n-1} in the state's arms: quality ~ N(0.8, 0.1)
    and cost ~ N(1.0, 0.2), the candidate shifted by the given effects."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        unit = f"u{i}"
        arm, version = state.assign(unit)
        cand = arm == CANDIDATE
        rows.append(
            {
                "rollout_id": state.rollout_id,
                "stage": state.stage,
                "percent": state.percent,
                "unit": unit,
                "arm": arm,
                "version": version,
                "run_id": "run",
                "observed_at": at,
                "quality": rng.normal(0.8 + (quality_effect if cand else 0.0), 0.1),
                "cost": rng.normal(1.0 + (cost_effect if cand else 0.0), 0.2),
            }
        )
    return pd.DataFrame(rows)


# -- assignment -------------------------------------------------------------------------------


def test_assignment_is_growthbooks_hash_seeded_by_the_rollout() -> None:
    assert unit_bucket("r-test", "page-1") == gb_hash("r-test", "page-1")
    assert in_canary("r-test", "page-1", 100.0)
    assert not in_canary("r-test", "page-1", 0.0)
    # deterministic, and different per rollout
    a = [in_canary("r-test", f"u{i}", 25) for i in range(2000)]
    assert a == [in_canary("r-test", f"u{i}", 25) for i in range(2000)]
    assert a != [in_canary("other", f"u{i}", 25) for i in range(2000)]


def test_a_unit_in_the_canary_stays_in_as_it_widens() -> None:
    units = [f"https://example.com/p/{i}" for i in range(20_000)]
    sets = [{u for u in units if in_canary("r-test", u, p)} for p in (5, 25, 100)]
    assert sets[0] <= sets[1] <= sets[2] == set(units)
    for got, p in zip(sets, (5, 25, 100), strict=True):
        assert abs(len(got) / len(units) - p / 100) < 0.01


def test_state_assigns_by_status() -> None:
    s = start_rollout(spec(), now=T0)
    arms = {s.assign(f"u{i}") for i in range(500)}
    assert arms == {(CURRENT, "a"), (CANDIDATE, "b")}
    done = RolloutState(**{**s.__dict__, "status": "completed", "current_version": "b"})
    assert {done.assign(f"u{i}") for i in range(100)} == {(CURRENT, "b")}
    assert done.percent == 100
    back = RolloutState(**{**s.__dict__, "status": "rolled_back"})
    assert {back.assign(f"u{i}") for i in range(100)} == {(CURRENT, "a")}
    assert back.percent == 0
    assert RolloutState.from_dict(s.as_dict()) == s


# -- stages -----------------------------------------------------------------------------------


def test_promotions_walk_the_stages_in_order_and_complete() -> None:
    s = start_rollout(spec(), now=T0)
    seen = [s.percent]
    for k in range(2):
        d = decide_stage(s, observe(s, 8000, seed=k), now=T0 + timedelta(hours=k + 1))
        assert d.decision == "promote", d.reason
        s = apply_decision(s, d)
        seen.append(s.percent)
    assert seen == [5, 25, 100]
    assert s.status == "completed" and s.current_version == "b" and not s.active
    assert [d["decision"] for d in s.decisions] == ["promote", "promote"]
    assert "complete" in s.decisions[-1]["reason"]
    with pytest.raises(ValueError):
        decide_stage(s, observe(s, 100))


def test_stages_must_increase_and_end_at_100() -> None:
    for bad in [(25, 5, 100), (5, 25), (0, 50, 100), (5, 5, 100)]:
        with pytest.raises(ValueError):
            spec(stages=bad)


# -- decisions on synthetic data with known effects --------------------------------------------


def test_an_equal_candidate_is_promoted_with_its_evidence() -> None:
    s = start_rollout(spec(), now=T0)
    d = decide_stage(s, observe(s, 8000))
    assert d.decision == "promote" and d.next_percent == 25
    assert d.units[CANDIDATE] >= 300 and d.units[CURRENT] > 7000
    ev = {e["metric"]: e for e in d.evidence}
    assert set(ev) == {"quality", "cost"}
    for e in ev.values():
        for key in ("difference", "improvement", "lower", "upper", "margin", "p_noninferior"):
            assert key in e
        assert {"n", "mean", "sd"} <= set(e[CURRENT]) and e[CANDIDATE]["n"] == d.units[CANDIDATE]
        assert e["verdict"] == "non_inferior" and e["p_noninferior"] < 0.05
    assert ev["cost"]["margin"] == pytest.approx(0.1 * ev["cost"][CURRENT]["mean"])
    assert ev["cost"]["direction"] == "lower"


def test_a_worse_candidate_is_rolled_back() -> None:
    s = start_rollout(spec(), now=T0)
    d = decide_stage(s, observe(s, 8000, quality_effect=-0.1))
    assert d.decision == "rollback" and d.next_percent == 0
    assert "quality" in d.reason
    after = apply_decision(s, d)
    assert after.status == "rolled_back" and after.percent == 0
    assert after.current_version == "a"


def test_a_costlier_candidate_is_rolled_back_on_cost() -> None:
    s = start_rollout(spec(), now=T0)
    d = decide_stage(s, observe(s, 8000, cost_effect=0.5))
    assert d.decision == "rollback"
    assert [e["metric"] for e in d.evidence if e["verdict"] == "worse"] == ["cost"]


def test_too_few_units_holds() -> None:
    s = start_rollout(spec(), now=T0)
    d = decide_stage(s, observe(s, 200))  # about 10 candidate units, 50 needed
    assert d.decision == "hold" and "not enough units" in d.reason and d.evidence == []
    after = apply_decision(s, d)
    assert after.stage == 0 and after.holds == 1 and after.decisions == ()


def test_an_inconclusive_metric_holds() -> None:
    # a small loss near the margin with few units: neither non-inferior nor significantly worse
    s = start_rollout(spec(min_units_per_arm=(20,)), now=T0)
    d = decide_stage(s, observe(s, 1000, quality_effect=-0.015, seed=3))
    assert d.decision == "hold" and "quality" in d.reason
    assert {e["metric"]: e["verdict"] for e in d.evidence}["quality"] == "inconclusive"


def test_a_sample_ratio_mismatch_holds() -> None:
    s = start_rollout(spec(), now=T0)
    obs = observe(s, 8000)
    # logging lost most of the current arm: the split no longer matches 5 %
    obs = pd.concat([obs[obs["arm"] == CANDIDATE], obs[obs["arm"] == CURRENT].head(1000)])
    d = decide_stage(s, obs)
    assert d.decision == "hold" and "sample ratio mismatch" in d.reason


def test_only_this_stage_versions_and_latest_per_unit_count() -> None:
    s = start_rollout(spec(), now=T0)
    obs = observe(s, 3000)
    old = obs.assign(stage=1)  # another stage's rows
    other = obs.assign(rollout_id="other")
    wrong = obs.assign(version="zzz")  # a version this rollout does not run
    newer = obs.assign(observed_at=T0 + timedelta(minutes=5), quality=0.0)
    got = stage_observations(s, pd.concat([obs, old, other, wrong, newer]))
    assert len(got) == 3000 and (got["quality"] == 0.0).all()


def test_the_packaged_rollouts_parse_and_name_existing_rule_sets() -> None:
    specs = load_rollouts(ROLLOUTS_PATH)
    assert specs
    versions = set(rule_set_versions())
    for s in specs.values():
        assert s.stages[-1] == 100
        if s.step == "extraction_rule_set":
            assert {s.current_version, s.candidate_version} <= versions
            assert {m.name for m in s.metrics} <= set(OBSERVATION_METRICS)


def test_parse_rejects_a_rollout_declared_twice() -> None:
    entry = {
        "id": "x",
        "step": "s",
        "current": "a",
        "candidate": "b",
        "metrics": [{"name": "m", "direction": "higher", "margin": 0.1}],
    }
    assert parse_rollouts({"rollouts": [entry]})["x"].stages == (5, 25, 100)
    with pytest.raises(ValueError):
        parse_rollouts({"rollouts": [entry, entry]})
    with pytest.raises(ValueError):
        parse_rollouts({"rollouts": [{**entry, "metrics": [{"name": "m", "direction": "up"}]}]})


def test_a_covariate_lets_a_handful_of_units_decide() -> None:
    """Cost varies 10x between units (page size) but the version changes it by little: with the
    unit's covariate (the cost the version cannot change) the same few units decide."""
    s = start_rollout(
        spec(metrics=(MetricSpec("cost", higher_is_better=False, relative_margin=0.1),),
             min_units_per_arm=(3,)),
        now=T0,
    )  # fmt: skip
    rng = np.random.default_rng(11)
    obs = observe(s, 300)
    base = rng.lognormal(0.0, 0.8, len(obs))  # what each unit costs before the version acts
    obs["cost_covariate"] = base
    obs["cost"] = base + rng.normal(0.0, 0.01, len(obs))
    assert 5 <= (obs["arm"] == CANDIDATE).sum() <= 30
    plain = decide_stage(s, obs.drop(columns=["cost_covariate"]))
    adjusted = decide_stage(s, obs)
    assert adjusted.decision == "promote", adjusted.reason
    e, p = adjusted.evidence[0], plain.evidence[0]
    assert e["adjustment_slopes"]["candidate"] == pytest.approx(1.0, abs=0.05)
    assert p["adjustment_slopes"] is None
    # unadjusted, the interval is wider than the margin it must resolve; adjusted, far narrower
    assert p["upper"] - p["lower"] > p["margin"]
    assert e["upper"] - e["lower"] < e["margin"] / 5
    assert e["stderr"] < p["stderr"] / 10
    # a candidate that really costs 50 % more is caught by the same few units
    worse = obs.assign(cost=np.where(obs["arm"] == CANDIDATE, 1.5 * base, obs["cost"]))
    assert decide_stage(s, worse).decision == "rollback"
