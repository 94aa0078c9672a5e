"""Experiment statistics: GrowthBook's reference vectors to 1e-5, its SDK hashing cases, and
how assignment, the SRM check, the corrections and the decision policy behave."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

import ml.experiments as ex
from ml.experiments import (
    ArmStats,
    EffectResult,
    GaussianPrior,
    GuardrailResult,
    adjust_p_values,
    assign,
    bayesian_test,
    benjamini_hochberg,
    bucket_ranges,
    choose_variation,
    decide_winner,
    gb_hash,
    holm_bonferroni,
    sequential_ttest,
    srm_check,
    welch_ttest,
)

TOL = 1e-5
ROOT = Path(__file__).resolve().parents[2]


def _vectors_path() -> Path:
    env = os.environ.get("BENCHMARKS_DIR")
    base = Path(env) if env else ROOT.parent / "shared" / "benchmarks"
    return base / "abtest" / "growthbook_reference_vectors.json"


def _reference() -> dict:
    # Read in place; missing data is a failure, never a skip.
    path = _vectors_path()
    assert path.exists(), f"GrowthBook reference vectors not found at {path}"
    return json.loads(path.read_text())


REFERENCE = _reference()
INPUT_KEYS = {"name", "test", "difference", "a", "b", "sequential_tuning_parameter", "prior"}
OUTPUT_KEYS = {"expected", "stddev", "ci", "pValue", "chanceToWin", "risk"}


def _arm(spec: dict) -> ArmStats:
    if spec["type"] == "mean":
        return ArmStats.from_sums(spec["sum"], spec["sum_squares"], spec["n"])
    assert spec["type"] == "proportion", spec
    return ArmStats.from_proportion(spec["sum"], spec["n"])


def _computed(vec: dict) -> dict[str, object]:
    """Our values for a vector, under the vector's own key names."""
    a, b = _arm(vec["a"]), _arm(vec["b"])
    alpha = REFERENCE["conventions"]["alpha"]
    kind, diff = vec["test"], vec["difference"]
    if kind == "TwoSidedTTest":
        r = welch_ttest(a, b, difference=diff, alpha=alpha)
    elif kind == "SequentialTwoSidedTTest":
        r = sequential_ttest(
            a, b, difference=diff, alpha=alpha, tuning=vec["sequential_tuning_parameter"]
        )
    elif kind == "EffectBayesianABTest":
        p = vec.get("prior")
        prior = GaussianPrior(p["mean"], p["variance"], p["proper"]) if p else None
        r = bayesian_test(a, b, difference=diff, alpha=alpha, prior=prior)
        return {
            "expected": r.estimate,
            "stddev": r.stddev,
            "ci": list(r.ci),
            "chanceToWin": r.chance_to_win,
            "risk": list(r.risk),
        }
    else:
        raise AssertionError(f"unknown test {kind}")
    return {"expected": r.estimate, "stddev": r.stddev, "ci": list(r.ci), "pValue": r.p_value}


def test_the_reference_file_has_only_fields_this_test_understands() -> None:
    assert len(REFERENCE["vectors"]) == 8
    for vec in REFERENCE["vectors"]:
        unknown = set(vec) - INPUT_KEYS - OUTPUT_KEYS
        assert not unknown, f"{vec['name']}: fields not checked: {unknown}"


@pytest.mark.parametrize("vec", REFERENCE["vectors"], ids=lambda v: v["name"])
def test_reproduces_every_growthbook_reference_value(vec: dict) -> None:
    ours = _computed(vec)
    expected_keys = set(vec) & OUTPUT_KEYS
    assert expected_keys <= set(ours), f"no computed value for {expected_keys - set(ours)}"
    for key in sorted(expected_keys):
        want = np.atleast_1d(np.asarray(vec[key], dtype=float))
        got = np.atleast_1d(np.asarray(ours[key], dtype=float))
        assert got.shape == want.shape, key
        err = np.max(np.abs(got - want))
        assert err <= TOL, f"{vec['name']}.{key}: got {got}, want {want} (|err| {err:.2e})"


def test_all_46_reference_values_are_checked() -> None:
    checked = sum(np.size(vec[k]) for vec in REFERENCE["vectors"] for k in set(vec) & OUTPUT_KEYS)
    assert checked == 46


# --- assignment: GrowthBook SDK specification cases (cases.json, "hash" and "getBucketRange") --

SDK_HASH_CASES = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
    ("abc", "def", 99, None),
]


@pytest.mark.parametrize(("seed", "value", "version", "want"), SDK_HASH_CASES)
def test_hash_matches_the_growthbook_sdk_spec(
    seed: str, value: str, version: int, want: float | None
) -> None:
    assert gb_hash(seed, value, version) == want


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ((2, 1, None), [(0, 0.5), (0.5, 1)]),
        ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
        ((2, 0, None), [(0, 0), (0.5, 0.5)]),
        ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
        ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
        ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
        ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
        ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
        ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
        ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
        ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
        ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
        ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
    ],
)
def test_bucket_ranges_match_the_growthbook_sdk_spec(args: tuple, want: list) -> None:
    assert np.allclose(bucket_ranges(*args), want, atol=1e-12)


def test_assignment_matches_the_sdk_spec_experiments() -> None:
    # "empty experiment rule" cases: hash v1, seed = key "feature", three equal arms.
    assert gb_hash("feature", "123", 1) == 0.863
    assert assign("123", "feature", [1 / 3] * 3, hash_version=1) == 2
    assert assign("456", "feature", [1 / 3] * 3, hash_version=1) == 0
    assert assign("fds", "feature", [1 / 3] * 3, hash_version=1) == 1
    # "creates experiments properly": key "hello", seed "feature", v2, bucket 0.5231 -> arm 1.
    assert gb_hash("feature", "123", 2) == 0.5231
    assert assign("123", "hello", [0.1, 0.9], seed="feature", coverage=0.99) == 1
    assert choose_variation(0.5231, [(0, 0.1), (0.1, 1.0)]) == 1


def test_assignment_is_deterministic_and_independent_of_call_order() -> None:
    ids = [f"site-{i}" for i in range(500)]
    first = [assign(u, "headline-test", [0.5, 0.5]) for u in ids]
    again = [assign(u, "headline-test", [0.5, 0.5]) for u in reversed(ids)][::-1]
    assert first == again
    assert assign(42, "k", [0.5, 0.5]) == assign("42", "k", [0.5, 0.5])


def test_assignment_follows_the_weights_over_many_units() -> None:
    weights = [0.2, 0.3, 0.5]
    arms = [assign(f"user-{i}", "cta-copy", weights) for i in range(30_000)]
    counts = np.bincount(arms, minlength=3)
    assert np.allclose(counts / counts.sum(), weights, atol=0.01)
    assert not srm_check(counts, weights).mismatch


def test_coverage_leaves_units_out_and_experiments_are_independent() -> None:
    ids = [f"u{i}" for i in range(20_000)]
    half = [assign(u, "exp-a", [0.5, 0.5], coverage=0.5) for u in ids]
    assert abs(sum(a is None for a in half) / len(ids) - 0.5) < 0.02
    a = np.array([assign(u, "exp-a", [0.5, 0.5]) for u in ids])
    b = np.array([assign(u, "exp-b", [0.5, 0.5]) for u in ids])
    both = np.mean((a == 1) & (b == 1))
    assert abs(both - np.mean(a == 1) * np.mean(b == 1)) < 0.01  # no carry-over between keys


def test_assign_refuses_weights_that_do_not_sum_to_one() -> None:
    with pytest.raises(ValueError):
        assign("u", "k", [0.7, 0.6])
    with pytest.raises(ValueError):
        assign("u", "k", [])


# --- summaries and tests ----------------------------------------------------------------------


def test_raw_values_and_sums_give_the_same_summary() -> None:
    x = np.random.default_rng(0).lognormal(size=1000)
    raw = ArmStats.from_values(x)
    sums = ArmStats.from_sums(x.sum(), (x**2).sum(), x.size)
    assert raw.n == sums.n == 1000
    assert raw.mean == pytest.approx(sums.mean)
    assert raw.variance == pytest.approx(sums.variance, rel=1e-9)
    assert ArmStats.from_values(iter([1.0, 3.0])).variance == pytest.approx(2.0)


def test_array_inputs_give_the_scalar_results_elementwise() -> None:
    a = ArmStats.from_proportion(np.array([100.0, 120.0, 0.0]), np.array([1000.0, 1000.0, 10.0]))
    b = ArmStats.from_proportion(np.array([110.0, 100.0, 1.0]), np.array([1000.0, 990.0, 10.0]))
    for fn in (welch_ttest, sequential_ttest):
        vec = fn(a, b)
        for i in range(3):
            one = fn(
                ArmStats(a.n[i], a.mean[i], a.variance[i]),
                ArmStats(b.n[i], b.mean[i], b.variance[i]),
            )
            assert vec.p_value[i] == pytest.approx(one.p_value)
            assert vec.ci[0][i] == pytest.approx(one.ci[0])
    assert welch_ttest(a, b).p_value[2] == 1.0  # zero control mean: uninformative


def test_sequential_interval_is_wider_and_agrees_with_its_p_value() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(200, 20_000))
        a = ArmStats.from_proportion(rng.binomial(n, 0.1), n)
        b = ArmStats.from_proportion(rng.binomial(n, 0.115), n)
        fixed, seq = welch_ttest(a, b), sequential_ttest(a, b, tuning=2 * n)
        assert seq.ci[1] - seq.ci[0] > fixed.ci[1] - fixed.ci[0]
        assert seq.p_value >= fixed.p_value
        excludes_zero = seq.ci[0] > 0 or seq.ci[1] < 0
        assert excludes_zero == (seq.p_value < 0.05)


def test_bayesian_inverse_metric_swaps_chance_to_win_and_risk() -> None:
    a, b = ArmStats.from_sums(100, 1002.25, 10), ArmStats.from_sums(105, 1111.5, 10)
    up, down = bayesian_test(a, b), bayesian_test(a, b, inverse=True)
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert down.risk == pytest.approx(up.risk[::-1])


def test_degenerate_inputs_give_an_uninformative_result_with_a_reason() -> None:
    r = welch_ttest(ArmStats.from_proportion(0, 0), ArmStats.from_proportion(3, 10))
    assert (r.p_value, r.ci, r.message) == (1.0, (0.0, 0.0), "an arm has fewer than 2 units")
    one = welch_ttest(ArmStats(1.0, 2.0, 1.0), ArmStats(10.0, 3.0, 1.0))
    assert one.p_value == 1.0 and np.isfinite(one.ci).all()
    r2 = bayesian_test(ArmStats.from_proportion(5, 5), ArmStats.from_proportion(3, 10))
    assert (r2.chance_to_win, r2.message) == (0.5, "an arm has zero variance")


# --- sample-ratio mismatch and multiple testing ---------------------------------------------


def test_srm_flags_a_52_48_split_at_large_n_but_not_a_50_50_one() -> None:
    assert srm_check([52_000, 48_000]).mismatch
    assert srm_check([5_200, 4_800]).mismatch  # chi2 = 16, p = 6e-5
    assert not srm_check([50_000, 50_000]).mismatch
    assert not srm_check([520, 480]).mismatch  # the same ratio is chance at small n
    assert srm_check([50_000, 50_000]).p_value == pytest.approx(1.0)
    # weights: a 20/80 experiment seen as 20/80 is fine, seen as 25/75 is not
    assert not srm_check([2_000, 8_000], [0.2, 0.8]).mismatch
    assert srm_check([2_500, 7_500], [0.2, 0.8]).mismatch


def test_holm_and_bh_on_a_hand_worked_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm, sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04,
    # running max -> 0.02, 0.03, 0.06, 0.06; back in input order:
    assert holm_bonferroni(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH, sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04, running min from the top:
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(p, "none") == p
    assert holm_bonferroni([0.6, 0.9]) == [1.0, 1.0]  # capped at 1


def test_corrections_agree_with_statsmodels() -> None:
    rng = np.random.default_rng(2)
    for m in (1, 2, 5, 17):
        p = rng.uniform(0, 0.2, size=m)
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
            want = multipletests(p, method=theirs)[1]
            assert np.allclose(adjust_p_values(p, ours), want)


# --- the decision policy -----------------------------------------------------------------------


def _result(
    estimate: float, p: float, method: Literal["welch", "sequential"] = "welch"
) -> EffectResult:
    """A primary or guardrail result with the given effect and p-value (the rest is filler)."""
    ci = (estimate - 0.02, estimate + 0.02)
    return EffectResult(method, "relative", estimate, 0.01, ci, p, 1e4, 0.05)


def test_a_significant_variant_with_passing_guardrails_becomes_the_default() -> None:
    d = decide_winner(
        {"b": _result(0.08, 0.001)},
        {"b": [GuardrailResult("unsubscribe_rate", _result(0.01, 0.4), higher_is_better=False)]},
        alpha=0.05,
    )
    assert d.winner == "b" and d.has_winner
    assert "1 guardrail(s) pass" in d.reason


def test_no_winner_when_a_guardrail_is_significantly_harmed() -> None:
    harm = GuardrailResult("unsubscribe_rate", _result(0.12, 0.003), higher_is_better=False)
    d = decide_winner({"b": _result(0.08, 0.001)}, {"b": [harm]}, alpha=0.05)
    assert d.winner is None
    assert d.failed_guardrails == {"b": ("unsubscribe_rate",)}
    assert "harms a guardrail" in d.reason


def test_no_winner_when_the_effect_is_not_significant() -> None:
    d = decide_winner({"b": _result(0.08, 0.09)}, {}, alpha=0.05)
    assert d.winner is None and "no variant is significantly better" in d.reason
    worse = decide_winner({"b": _result(-0.08, 0.001)}, {}, alpha=0.05)
    assert worse.winner is None  # significant, but in the wrong direction


def test_the_correction_for_several_variants_can_withhold_a_win() -> None:
    results = {"b": _result(0.05, 0.02), "c": _result(0.01, 0.5), "d": _result(0.0, 0.9)}
    assert decide_winner(results, {}, alpha=0.05, correction="none").winner == "b"
    held = decide_winner(results, {}, alpha=0.05)  # Holm: 0.02 * 3 = 0.06
    assert held.winner is None and held.adjusted_p_values["b"] == pytest.approx(0.06)


def test_peeked_experiments_need_sequential_results() -> None:
    fixed = decide_winner({"b": _result(0.08, 0.001)}, {}, alpha=0.05, peeked=True)
    assert fixed.winner is None and "sequential" in fixed.reason
    seq = decide_winner({"b": _result(0.08, 0.001, "sequential")}, {}, alpha=0.05, peeked=True)
    assert seq.winner == "b"


def test_a_harmful_best_variant_is_passed_over_for_the_next_one() -> None:
    results = {"b": _result(0.10, 0.001), "c": _result(0.06, 0.002)}
    guards = {
        "b": [GuardrailResult("cost_per_visit", _result(0.2, 0.001), higher_is_better=False)],
        "c": [GuardrailResult("cost_per_visit", _result(0.01, 0.7), higher_is_better=False)],
    }
    d = decide_winner(results, guards, alpha=0.05)
    assert d.winner == "c" and "b passed over" in d.reason
    missing = decide_winner(results, {"b": guards["b"]}, alpha=0.05)
    assert missing.winner is None  # c's guardrails are unknown


def test_min_effect_and_srm_withhold_a_win() -> None:
    small = decide_winner({"b": _result(0.01, 0.001)}, {}, alpha=0.05, min_effect=0.02)
    assert small.winner is None and "minimum effect" in small.reason
    broken = decide_winner(
        {"b": _result(0.08, 0.001)}, {}, alpha=0.05, srm=srm_check([5_200, 4_800])
    )
    assert broken.winner is None and "sample ratio mismatch" in broken.reason


def test_public_surface_is_pinned_and_loads_from_this_repository() -> None:
    assert Path(ex.__file__).resolve().is_relative_to(ROOT / "ml")
    assert set(ex.__all__) == {
        "DEFAULT_SEQUENTIAL_TUNING", "DEFAULT_SRM_THRESHOLD", "ArmStats", "BayesianResult",
        "Correction", "Decision", "Difference", "EffectResult", "GaussianPrior",
        "GuardrailResult", "Number", "SrmResult", "adjust_p_values", "assign", "bayesian_test",
        "benjamini_hochberg", "bucket_ranges", "choose_variation", "decide_winner", "fnv1a32",
        "gb_hash", "holm_bonferroni", "sequential_rho", "sequential_ttest", "srm_check",
        "welch_ttest",
    }  # fmt: skip
