"""Building blocks of :mod:`ml.anomaly`: sliding extremes and causal period detection.

Pure numpy/scipy, no state of their own; both feeding paths of
:class:`ml.anomaly.StreamingAnomalyDetector` call these same functions so their results agree
bit for bit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = ["detect_period", "rebuild_monotonic", "trailing_max", "trailing_min"]


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
