"""Routing metrics (RouteLLM's definitions) and the cost-aware routing decision.

A router gives every prompt a score (higher = more worth sending to the strong, expensive
model). Sending the ``k`` highest-scoring of ``n`` prompts to the strong model costs a share
``k / n`` of strong calls and yields the *routed accuracy*: the accuracy of whichever model each
prompt went to. Sweeping ``k`` from 0 to ``n`` traces the routed-accuracy curve from the weak
model's accuracy to the strong model's.

* PGR (performance gap recovered) rescales an accuracy: ``(acc - weak) / (strong - weak)``.
* APGR is the area under the PGR-vs-share curve (trapezoids over every ``k``): 0.5 for a random
  router, about 1 for an oracle. It equals ``(area under the accuracy curve - weak area) /
  (strong area - weak area)``.
* CPT(x) is the smallest share of strong calls whose PGR reaches ``x``.

Ties. Prompts with equal scores cannot be separated by any threshold, so a tie group is either
sent to the strong model as a whole or not at all. Inside a tie group the curve is interpolated
linearly, which is exactly the *expected* curve under a uniformly random order of the tied
prompts. The result is deterministic, independent of the input order, and a constant router
scores exactly like the expected random router (APGR 0.5).

Decisions. Once a router estimates the expected accuracy gain of the strong model for a prompt
(``P(strong right) - P(weak right)``), :func:`decide` turns it into a call: pay the strong
model's extra price only when the gain, valued at what a correct answer is worth to the caller,
exceeds that extra price.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "apgr",
    "cpt",
    "decide",
    "gain_threshold",
    "pgr",
    "pgr_curve",
    "routed_accuracy_curve",
]


def _as_quality(values: Sequence[float] | np.ndarray, n: int, name: str) -> np.ndarray:
    """Correctness as floats (True/False -> 1/0; graded qualities in [0, 1] pass through)."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values, scores have {n}")
    return arr


def routed_accuracy_curve(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Routed accuracy for every number of strong calls ``k = 0 .. n``.

    The ``k`` highest scores go to the strong model; tie groups are interpolated linearly
    (the expected curve under a random order of the tied prompts, see the module docstring).

    Args:
        scores: One score per prompt; higher means "send to the strong model".
        weak_correct: Whether the weak model answered each prompt correctly (booleans, or
            graded qualities in [0, 1]).
        strong_correct: Whether the strong model answered each prompt correctly (same form).

    Returns:
        ``(share, accuracy)``: two arrays of length ``n + 1``; ``share[k] = k / n`` is the share
        of strong calls and ``accuracy[k]`` the routed accuracy. ``accuracy[0]`` is the weak
        model's accuracy and ``accuracy[n]`` the strong model's.

    Raises:
        ValueError: on empty input, NaN scores or lengths that differ.
    """
    s = np.asarray(scores, dtype=float).ravel()
    n = s.shape[0]
    if n == 0:
        raise ValueError("no prompts")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    weak = _as_quality(weak_correct, n, "weak_correct")
    strong = _as_quality(strong_correct, n, "strong_correct")
    order = np.argsort(-s, kind="stable")
    gain = strong[order] - weak[order]
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    sorted_scores = s[order]
    # Tie-group boundaries in the sorted order: 0, every score change, n.
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(sorted_scores)) + 1, [n]])
    k = np.arange(n + 1)
    g = np.clip(np.searchsorted(bounds, k, side="right") - 1, 0, len(bounds) - 2)
    lo, hi = bounds[g], bounds[g + 1]
    gained = cum[lo] + (k - lo) / (hi - lo) * (cum[hi] - cum[lo])
    return k / n, (weak.sum() + gained) / n


def pgr(
    accuracy: float | np.ndarray, weak_accuracy: float, strong_accuracy: float
) -> float | np.ndarray:
    """Performance gap recovered: ``(accuracy - weak) / (strong - weak)``.

    Args:
        accuracy: A routed accuracy (or an array of them).
        weak_accuracy: The weak model's accuracy on the same prompts.
        strong_accuracy: The strong model's accuracy on the same prompts.

    Returns:
        The PGR (0 = weak model's accuracy, 1 = strong model's); same shape as ``accuracy``.

    Raises:
        ValueError: when both models are equally accurate (no gap to recover).
    """
    gap = strong_accuracy - weak_accuracy
    if abs(gap) < 1e-12:
        raise ValueError("strong and weak accuracies are equal: PGR is undefined")
    out = (np.asarray(accuracy, dtype=float) - weak_accuracy) / gap
    return float(out) if out.ndim == 0 else out


def pgr_curve(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """PGR for every number of strong calls: ``(share, pgr)``, both of length ``n + 1``."""
    share, acc = routed_accuracy_curve(scores, weak_correct, strong_correct)
    return share, np.asarray(pgr(acc, acc[0], acc[-1]))


def apgr(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
) -> float:
    """Average performance gap recovered: area under PGR vs share of strong calls (0..1).

    Args:
        scores: One score per prompt; higher means "send to the strong model".
        weak_correct: Whether the weak model answered each prompt correctly.
        strong_correct: Whether the strong model answered each prompt correctly.

    Returns:
        The trapezoidal area under the PGR curve over ``k = 0 .. n`` strong calls.
    """
    share, p = pgr_curve(scores, weak_correct, strong_correct)
    return float(np.trapezoid(p, share))


def cpt(
    scores: Sequence[float] | np.ndarray,
    weak_correct: Sequence[float] | np.ndarray,
    strong_correct: Sequence[float] | np.ndarray,
    x: float,
) -> float:
    """Call-performance threshold: the smallest share of strong calls with PGR >= ``x``.

    Args:
        scores: One score per prompt; higher means "send to the strong model".
        weak_correct: Whether the weak model answered each prompt correctly.
        strong_correct: Whether the strong model answered each prompt correctly.
        x: The PGR to reach, as a fraction (``0.5`` for CPT(50%)).

    Returns:
        The share of strong calls ``k / n`` (0..1), or NaN when no ``k`` reaches ``x``
        (possible only for ``x > 1``).
    """
    share, p = pgr_curve(scores, weak_correct, strong_correct)
    hit = np.flatnonzero(p >= x - 1e-12)
    return float(share[hit[0]]) if hit.size else float("nan")


def gain_threshold(willingness_to_pay: float, costs: tuple[float, float]) -> float:
    """The expected accuracy gain above which the strong model is worth its extra price.

    Args:
        willingness_to_pay: What one more correct answer is worth, in the unit of ``costs``.
        costs: ``(weak_cost, strong_cost)`` of one call.

    Returns:
        ``(strong_cost - weak_cost) / willingness_to_pay`` (``inf`` when nothing is paid for
        quality).
    """
    extra = float(costs[1]) - float(costs[0])
    if willingness_to_pay <= 0:
        return float("inf") if extra >= 0 else float("-inf")
    return extra / float(willingness_to_pay)


def decide(
    score_or_probabilities: float | Sequence[float] | np.ndarray,
    willingness_to_pay: float | np.ndarray,
    costs: tuple[float | np.ndarray, float | np.ndarray],
) -> np.ndarray:
    """Send a prompt to the strong model when its expected quality gain is worth the price.

    The rule is expected-utility maximisation with quality valued linearly: answering with the
    strong model instead of the weak one gains ``P(strong right) - P(weak right)`` correct
    answers in expectation, worth ``gain * willingness_to_pay``; it costs
    ``strong_cost - weak_cost`` more. The strong model is chosen when the first exceeds the
    second (strictly: when indifferent, the cheaper model is kept). A negative gain never goes
    to the strong model unless the strong model is also cheaper.

    The input must be a *calibrated* gain, e.g. :meth:`ml.routing.TextRouter.score`, which is
    fitted to ``strong_correct - weak_correct``; a ranking score such as a prompt length is not
    (use a share-of-calls threshold for those).

    Args:
        score_or_probabilities: Either expected gains ``P(strong right) - P(weak right)``
            (scalar or shape ``(n,)``), or probabilities of shape ``(n, 2)`` with columns
            ``[P(strong right), P(weak right)]``.
        willingness_to_pay: What one more correct answer is worth, in the unit of ``costs``
            (scalar or one per prompt).
        costs: ``(weak_cost, strong_cost)`` of a call (scalars, or per-prompt arrays, e.g. from
            token counts).

    Returns:
        A boolean array, ``True`` = send to the strong model (0-d for a scalar input).

    Example:
        With the strong model at $0.010 and the weak at $0.001 per call and a correct answer
        worth $0.05, the strong model is bought when the expected gain exceeds
        ``0.009 / 0.05 = 0.18``.
    """
    arr = np.asarray(score_or_probabilities, dtype=float)
    if arr.ndim == 2:
        if arr.shape[1] != 2:
            raise ValueError("probabilities must have two columns: P(strong right), P(weak right)")
        gain = arr[:, 0] - arr[:, 1]
    else:
        gain = arr
    wtp = np.asarray(willingness_to_pay, dtype=float)
    extra = np.asarray(costs[1], dtype=float) - np.asarray(costs[0], dtype=float)
    return np.asarray(gain * wtp > extra)
