"""The LLM router: routing metrics on hand-computed examples, the cost-aware decision, prompt
features, data loading and the routers on a small synthetic prompt set (no shared data)."""

from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from ml.routing import (
    FEATURE_NAMES,
    BoostingConfig,
    LengthRouter,
    RandomRouter,
    TextRouter,
    apgr,
    cpt,
    decide,
    feature_matrix,
    gain_threshold,
    load_routing_data,
    pgr,
    prompt_features,
    routed_accuracy_curve,
)

# Four prompts: the strong model gains on the first two, ties on the third, loses the fourth.
# Weak accuracy 2/4 = 0.5, strong 3/4 = 0.75, so PGR = (acc - 0.5) / 0.25.
WEAK = np.array([False, False, True, True])
STRONG = np.array([True, True, True, False])
ORACLE = np.array([3.0, 2.0, 1.0, 0.0])  # gains 1, 1, 0, -1 in decreasing order
INVERTED = -ORACLE


# ------------------------------------------------------------------------------- metrics


def test_curve_of_the_oracle_by_hand() -> None:
    share, acc = routed_accuracy_curve(ORACLE, WEAK, STRONG)
    np.testing.assert_allclose(share, [0, 0.25, 0.5, 0.75, 1])
    # cumulative gains 0, 1, 2, 2, 1 over 4 prompts on top of 2 weak-correct answers
    np.testing.assert_allclose(acc, [0.5, 0.75, 1.0, 1.0, 0.75])


def test_apgr_and_cpt_of_the_oracle_by_hand() -> None:
    # PGR 0, 1, 2, 2, 1; trapezoids of width 1/4: (0.5 + 1.5 + 2 + 1.5) / 4
    assert apgr(ORACLE, WEAK, STRONG) == pytest.approx(1.375)
    assert cpt(ORACLE, WEAK, STRONG, 0.5) == pytest.approx(0.25)
    assert cpt(ORACLE, WEAK, STRONG, 1.0) == pytest.approx(0.25)
    assert cpt(ORACLE, WEAK, STRONG, 2.0) == pytest.approx(0.5)
    assert np.isnan(cpt(ORACLE, WEAK, STRONG, 2.5))


def test_inverted_router_by_hand() -> None:
    # order: loss, tie, gain, gain -> cumulative 0, -1, -1, 0, 1 -> PGR 0, -1, -1, 0, 1
    _, acc = routed_accuracy_curve(INVERTED, WEAK, STRONG)
    np.testing.assert_allclose(acc, [0.5, 0.25, 0.25, 0.5, 0.75])
    assert apgr(INVERTED, WEAK, STRONG) == pytest.approx(-0.375)
    assert cpt(INVERTED, WEAK, STRONG, 0.5) == pytest.approx(1.0)
    # without ties, reversing the order mirrors the curve: APGR(s) + APGR(-s) = 1
    assert apgr(ORACLE, WEAK, STRONG) + apgr(INVERTED, WEAK, STRONG) == pytest.approx(1.0)


def test_constant_router_is_the_expected_random_router() -> None:
    const = np.zeros(4)
    _, acc = routed_accuracy_curve(const, WEAK, STRONG)
    np.testing.assert_allclose(acc, [0.5, 0.5625, 0.625, 0.6875, 0.75])
    assert apgr(const, WEAK, STRONG) == pytest.approx(0.5)
    assert cpt(const, WEAK, STRONG, 0.5) == pytest.approx(0.5)
    assert cpt(const, WEAK, STRONG, 0.8) == pytest.approx(1.0)
    # the mean over every order of distinct scores (a random router) is the tied curve
    curves = [
        routed_accuracy_curve(np.array(perm, dtype=float), WEAK, STRONG)[1]
        for perm in itertools.permutations(range(4))
    ]
    np.testing.assert_allclose(np.mean(curves, axis=0), acc)
    mean_apgr = np.mean(
        [apgr(np.array(p, float), WEAK, STRONG) for p in itertools.permutations(range(4))]
    )
    assert mean_apgr == pytest.approx(0.5)


def test_ties_are_deterministic_and_order_free() -> None:
    scores = np.array([1.0, 1.0, 0.0, 0.0])  # ties: {gain, gain} then {tie, loss}
    _, acc = routed_accuracy_curve(scores, WEAK, STRONG)
    np.testing.assert_allclose(acc, [0.5, 0.75, 1.0, 0.875, 0.75])
    perm = np.array([3, 1, 0, 2])
    _, acc_perm = routed_accuracy_curve(scores[perm], WEAK[perm], STRONG[perm])
    np.testing.assert_allclose(acc_perm, acc)
    # a tie group that mixes a gain and a loss is interpolated, not ordered by position
    mixed = np.array([0.0, 1.0, 1.0, 1.0])  # tie group {gain, tie, loss} first
    _, acc_mixed = routed_accuracy_curve(mixed, WEAK, STRONG)
    np.testing.assert_allclose(acc_mixed, [0.5, 0.5, 0.5, 0.5, 0.75])


def test_apgr_equals_the_accuracy_area_formula() -> None:
    rng = np.random.default_rng(3)
    weak, strong = rng.random(200) < 0.6, rng.random(200) < 0.8
    scores = rng.normal(size=200) + strong - weak
    share, acc = routed_accuracy_curve(scores, weak, strong)
    area = np.trapezoid(acc, share)
    expected = (area - weak.mean()) / (strong.mean() - weak.mean())
    assert apgr(scores, weak, strong) == pytest.approx(expected)
    assert acc[0] == pytest.approx(weak.mean()) and acc[-1] == pytest.approx(strong.mean())


def test_pgr() -> None:
    assert pgr(0.75, 0.5, 0.75) == pytest.approx(1.0)
    assert pgr(0.625, 0.5, 0.75) == pytest.approx(0.5)
    np.testing.assert_allclose(pgr(np.array([0.5, 1.0]), 0.5, 0.75), [0.0, 2.0])
    with pytest.raises(ValueError):
        pgr(0.7, 0.6, 0.6)


def test_metric_input_checks() -> None:
    with pytest.raises(ValueError):
        routed_accuracy_curve([], [], [])
    with pytest.raises(ValueError):
        routed_accuracy_curve([1.0, np.nan], [True, False], [True, True])
    with pytest.raises(ValueError):
        routed_accuracy_curve([1.0, 2.0], [True], [True, True])


def test_graded_qualities_are_accepted() -> None:
    _, acc = routed_accuracy_curve([1.0, 0.0], [0.2, 0.4], [0.8, 0.4])
    np.testing.assert_allclose(acc, [0.3, 0.6, 0.6])


# ------------------------------------------------------------------------------- decide


def test_decide_by_hand() -> None:
    # extra cost 9, a correct answer worth 50 -> buy the strong model above a gain of 0.18
    assert gain_threshold(50.0, (1.0, 10.0)) == pytest.approx(0.18)
    gains = np.array([0.3, 0.18, 0.1, -0.2])
    np.testing.assert_array_equal(decide(gains, 50.0, (1.0, 10.0)), [True, False, False, False])
    probs = np.array([[0.9, 0.6], [0.5, 0.32], [0.8, 0.7], [0.5, 0.7]])  # same gains
    np.testing.assert_array_equal(decide(probs, 50.0, (1.0, 10.0)), [True, False, False, False])
    # per-prompt costs (e.g. from token counts) and willingness to pay
    got = decide(
        np.array([0.2, 0.2]), np.array([50.0, 100.0]), (np.array([1, 1]), np.array([20, 10]))
    )
    np.testing.assert_array_equal(got, [False, True])
    # nothing paid for quality: only a cheaper strong model with a gain is bought
    assert not decide(0.5, 0.0, (1.0, 10.0))
    assert gain_threshold(0.0, (1.0, 10.0)) == float("inf")
    with pytest.raises(ValueError):
        decide(np.zeros((2, 3)), 1.0, (0.0, 1.0))


# ----------------------------------------------------------------------------- features

MCQ = "What is 12 + 30?\nA. 42\nB. 24\nC. 40\nD. None of the above\nAnswer:"


def test_prompt_features_structure() -> None:
    f = dict(zip(FEATURE_NAMES, prompt_features(MCQ), strict=True))
    assert len(prompt_features(MCQ)) == len(FEATURE_NAMES)
    assert f["n_options"] == 4
    assert f["question_mark"] == 1.0
    assert f["numeric_options"] == pytest.approx(0.75)
    assert f["log_question_numbers"] == pytest.approx(np.log1p(2))
    assert f["ends_with_colon"] == 0.0  # the question ends with "?"
    plain = dict(zip(FEATURE_NAMES, prompt_features("Write a haiku about rain"), strict=True))
    assert plain["n_options"] == 0 and plain["option_word_overlap"] == 0.0
    code = dict(zip(FEATURE_NAMES, prompt_features("def f(x):\n    return x"), strict=True))
    assert code["code"] == 1.0
    neg = dict(
        zip(FEATURE_NAMES, prompt_features("All are true EXCEPT:\nA. I\nB. II"), strict=True)
    )
    assert neg["negation"] == 1.0 and neg["roman_numerals"] == 1.0
    assert feature_matrix([]).shape == (0, len(FEATURE_NAMES))
    assert feature_matrix([MCQ, ""]).shape == (2, len(FEATURE_NAMES))


# ------------------------------------------------------------------------------ loading


def test_load_routing_data_drops_contaminated(tmp_path) -> None:
    folder = tmp_path / "routellm_mmlu"
    folder.mkdir()
    cols = ["prompt", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]
    pd.DataFrame([["q1", True, True], ["q2", False, True]], columns=cols).to_csv(
        folder / "mmlu_a.csv", index=False
    )
    pd.DataFrame([["q3", True, False]], columns=cols).to_csv(folder / "mmlu_b.csv", index=False)
    (tmp_path / "contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "x", "eval_prompt": "q2"}) + "\n"
    )
    data = load_routing_data(tmp_path)
    assert data.prompts == ["q1", "q3"]
    assert data.dropped == 1
    np.testing.assert_array_equal(data.weak_correct, [True, True])
    np.testing.assert_array_equal(data.strong_correct, [True, False])
    np.testing.assert_array_equal(data.groups, ["mmlu_a", "mmlu_b"])
    with pytest.raises(FileNotFoundError):
        load_routing_data(tmp_path, dataset="missing")


# ------------------------------------------------------------------------------ routers


def synthetic(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Prompts where the weak model fails on "integral" questions that the strong one answers;
    those prompts are *short*, so the length rule routes them last."""
    rng = np.random.default_rng(seed)
    vocab = ["apple", "river", "green", "table", "music", "stone", "cloud", "paper"]
    prompts, weak, strong = [], [], []
    for i in range(n):
        hard = i % 4 == 0
        if hard:
            text = f"Compute the integral of {rng.choice(vocab)}"
        else:
            words = " ".join(rng.choice(vocab, size=int(rng.integers(8, 25))))
            text = f"Describe the {words} carefully"
        prompts.append(text + "\nA. one\nB. two\nAnswer:")
        weak.append(not hard and rng.random() < 0.85)
        strong.append(rng.random() < (0.9 if hard else 0.88))
    return prompts, np.array(weak), np.array(strong)


def small_router(**kw: object) -> TextRouter:
    return TextRouter(
        alphas=(1.0, 3.0),
        blend_weights=(0.25, 0.5),
        inner_folds=2,
        boosting=BoostingConfig(max_iter=20, learning_rate=0.1, min_samples_leaf=10),
        **kw,
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[TextRouter, list[str], np.ndarray, np.ndarray]:
    prompts, weak, strong = synthetic(400, seed=0)
    router = small_router().fit(prompts, weak, strong)
    test_prompts, test_weak, test_strong = synthetic(200, seed=1)
    return router, test_prompts, test_weak, test_strong


def test_learned_router_beats_length_on_held_out(fitted) -> None:
    router, prompts, weak, strong = fitted
    learned = apgr(router.score(prompts), weak, strong)
    length = apgr(LengthRouter().score(prompts), weak, strong)
    ideal = apgr(np.array(["integral" in p for p in prompts], dtype=float), weak, strong)
    assert learned == pytest.approx(ideal, abs=0.05)
    assert learned > length + 0.3
    scores, lengths = router.score(prompts), LengthRouter().score(prompts)
    assert cpt(scores, weak, strong, 0.5) < cpt(lengths, weak, strong, 0.5)
    assert router.alpha_ in (1.0, 3.0) and router.blend_ in (0.25, 0.5)
    assert len(router.inner_apgr_) == 4


def test_score_is_a_calibrated_gain(fitted) -> None:
    router, prompts, weak, strong = fitted
    scores = router.score(prompts)
    hard = np.array(["integral" in p for p in prompts])
    gain = strong.astype(float) - weak
    assert scores[hard].mean() == pytest.approx(gain[hard].mean(), abs=0.2)
    assert scores[~hard].mean() == pytest.approx(gain[~hard].mean(), abs=0.2)
    # a correct answer worth 5 against an extra cost of 1: buy the strong model for gain > 0.2
    assert (decide(scores, 5.0, (0.0, 1.0)) == hard).mean() > 0.95


def test_single_prompt_path_matches_the_batch_path(fitted) -> None:
    router, prompts, _, _ = fitted
    odd = ["", "x", "Integral integral INTEGRAL?", MCQ, "ünïcode wörds $x^2$ {code};"]
    batch = router.score(prompts[:50] + odd)
    single = np.array([router.score_one(p) for p in prompts[:50] + odd])
    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-9)
    assert router._forest is not None  # the compiled trees are in use


def test_pickle_round_trip(fitted) -> None:
    router, prompts, _, _ = fitted
    clone = pickle.loads(pickle.dumps(router))
    np.testing.assert_allclose(clone.score(prompts[:20]), router.score(prompts[:20]))
    assert clone.score_one(prompts[0]) == pytest.approx(router.score_one(prompts[0]))


def test_grouped_inner_cv_and_fixed_hyper_parameters() -> None:
    prompts, weak, strong = synthetic(120, seed=2)
    groups = np.arange(120) % 6
    router = small_router().fit(prompts, weak, strong, groups=groups)
    assert router.alpha_ in (1.0, 3.0)
    fixed = TextRouter(alphas=(5.0,), blend_weights=(0.5,), inner_folds=0).fit(
        prompts, weak, strong
    )
    assert (fixed.alpha_, fixed.blend_, fixed.calibration_) == (5.0, 0.5, (0.0, 1.0))
    assert fixed.score(prompts).shape == (120,)


def test_tiny_and_degenerate_training_sets() -> None:
    # min_df falls back when too few prompts share n-grams; equal accuracies in every fold
    router = small_router().fit(["a b", "c d", "e f", "g h"], [True] * 4, [True] * 4)
    assert np.isfinite(router.score(["a b", "zzz"])).all()
    with pytest.raises(ValueError):
        small_router().fit(["a", "b"], [True], [True, False])
    with pytest.raises(RuntimeError):
        TextRouter().score(["x"])


def test_baseline_routers() -> None:
    prompts = ["a", "abc", "ab"]
    np.testing.assert_array_equal(
        LengthRouter().fit(prompts, [1, 0, 1], [1, 1, 1]).score(prompts), [1, 3, 2]
    )
    assert LengthRouter().score_one("abcd") == 4.0
    r = RandomRouter(seed=7)
    np.testing.assert_array_equal(r.score(prompts), RandomRouter(seed=7).score(prompts))
    assert not np.array_equal(r.score(prompts), RandomRouter(seed=8).score(prompts))
    assert 0.0 <= r.score_one("x") < 1.0
