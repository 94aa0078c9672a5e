"""Building blocks of :mod:`ml.anomaly`: sliding extremes, envelope exceedance and causal
period detection.

Pure numpy/scipy, no state of their own; both feeding paths of
:class:`ml.anomaly.StreamingAnomalyDetector` call these same functions so their results agree
bit for bit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = [
    "detect_period",
    "envelope_exceedance",
    "push_max",
    "rebuild_monotonic",
    "trailing_max",
    "trailing_min",
    "validate_config",
]


def trailing_max(a: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = max(a[max(0, i - w + 1) : i + 1])`` in O(n)."""
    if w <= 1:
        return a.copy()
    return maximum_filter1d(a, size=w, origin=(w - 1) // 2, mode="nearest")


def trailing_min(a: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = min(a[max(0, i - w + 1) : i + 1])`` in O(n)."""
    if w <= 1:
        return a.copy()
    return minimum_filter1d(a, size=w, origin=(w - 1) // 2, mode="nearest")


def rebuild_monotonic(
    idx: deque[int], val: deque[float], values: Sequence[float], start: int, is_max: bool
) -> None:
    """Reset a sliding-extreme deque pair from ``values`` (first one has index ``start``).

    The pair holds indices and values with values strictly decreasing (maximum) or strictly
    increasing (minimum) from front to back; the front is the extreme of the window.
    """
    idx.clear()
    val.clear()
    for k, v in enumerate(values):
        if is_max:
            while val and val[-1] <= v:
                val.pop()
                idx.pop()
        else:
            while val and val[-1] >= v:
                val.pop()
                idx.pop()
        idx.append(start + k)
        val.append(v)


def detect_period(segment: np.ndarray, min_acf: float, min_lag: int = 4) -> int:
    """Dominant period (in points) of ``segment`` from its autocorrelation, or 0 for none.

    The autocorrelation function is computed with a zero-padded FFT (Wiener-Khinchin). The
    period is the lag of the highest autocorrelation after the first zero crossing (so the
    slow decay of a trend or random walk is not mistaken for a period), searched up to half
    the segment, and accepted only if that autocorrelation is at least ``min_acf``.

    Args:
        segment: The most recent values, oldest first.
        min_acf: Smallest autocorrelation accepted as periodic.
        min_lag: Shortest lag considered.

    Returns:
        The period, or 0 when the segment is not clearly periodic (or constant).
    """
    n = len(segment)
    if n < 4 * min_lag:
        return 0
    s = segment - segment.mean()
    var = float(np.dot(s, s))
    if not var > 0.0 or not np.isfinite(var):
        return 0
    f = np.fft.rfft(s, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[: n // 2] / var
    neg = np.flatnonzero(ac[min_lag:] < 0.0)
    if not len(neg):
        return 0
    start = min_lag + int(neg[0])
    if start >= len(ac) - 1:
        return 0
    lag = start + int(np.argmax(ac[start:]))
    return lag if ac[lag] >= min_acf else 0


def push_max(q: tuple[deque, deque], t: int, v: float) -> None:
    """Append ``(t, v)`` to a sliding-maximum deque pair (see :func:`rebuild_monotonic`)."""
    i, val = q
    while val and val[-1] <= v:
        val.pop()
        i.pop()
    i.append(t)
    val.append(v)


def envelope_exceedance(
    hist: deque[float], xb: np.ndarray, w: int, floor: np.ndarray, check: np.ndarray
) -> np.ndarray:
    """Envelope exceedance of each block value against the previous ``w`` values.

    ``hist`` holds the values before the block; the result is
    ``max(x - max, min - x, 0) / max(max - min, floor)`` per value, 0 where ``check`` is false.
    """
    hv = np.fromiter(hist, dtype=float, count=len(hist))
    h = len(hv)
    full = np.concatenate((hv, xb))
    prev = np.maximum(np.arange(h, h + len(xb)) - 1, 0)
    top = trailing_max(full, w)[prev]
    bot = trailing_min(full, w)[prev]
    e = np.maximum(np.maximum(xb - top, bot - xb), 0.0) / np.maximum(top - bot, floor)
    e[~check] = 0.0
    return e


def validate_config(cfg: Any) -> None:  # noqa: ANN401
    """Raise ``ValueError`` for an invalid :class:`ml.anomaly.DetectorConfig`."""
    if cfg.history < 2:
        raise ValueError("history must be at least 2")
    if cfg.min_history < 1:
        raise ValueError("min_history must be at least 1")
    if cfg.smooth < 0 or cfg.suppress < 0 or cfg.season_smooth < 0:
        raise ValueError("smooth, season_smooth and suppress must be non-negative")
    if not 0.0 <= cfg.damp <= 1.0 or not cfg.scale > 0.0 or not cfg.season_scale > 0.0:
        raise ValueError("damp must be in [0, 1] and scale, season_scale positive")
    if not 1 <= cfg.season_lag < cfg.history:
        raise ValueError("season_lag must be in [1, history)")
    if cfg.ramp < 0:
        raise ValueError("ramp must be non-negative")
    if cfg.season_refit < 1 or cfg.season_min_points < 1:
        raise ValueError("season_refit and season_min_points must be positive")
    if not cfg.rel_floor >= 0.0 or not cfg.abs_floor > 0.0:
        raise ValueError("rel_floor must be non-negative and abs_floor positive")
