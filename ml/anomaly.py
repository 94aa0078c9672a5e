"""Streaming anomaly detection for operational metrics (latency, error rate, throughput, ...).

The detector is pure numpy/scipy and causal: the score of a point depends only on the
points before it (and the point itself). It can be fed one point at a time with
:meth:`StreamingAnomalyDetector.update` or block by block with
:meth:`StreamingAnomalyDetector.update_many`; both paths share one implementation and give
identical scores, so block feeding is only a speed-up (well over 10^6 points/second).

Method ("novel extreme" detector, tuned on the Numenta Anomaly Benchmark):

1. *Novelty of the level.* For point ``x_t`` the detector keeps the maximum ``M`` and minimum
   ``m`` of the previous ``history`` points (a sliding window, about two weeks of 5-minute
   data). The raw anomaly magnitude is how far ``x_t`` leaves that envelope, relative to its
   width: ``e = max(x_t - M, m - x_t, 0) / max(M - m, floor)``. Spikes (latency, error rate)
   break the top of the envelope, drops (throughput) the bottom; points inside the range of
   recent behaviour are never alarming, which is what keeps false alerts low on seasonal and
   noisy metrics. Flat series use a tiny ``floor`` so any departure from a constant is novel.
2. *Calibration.* ``u = e / scale`` is mapped to ``[0, 1)`` by ``u / (1 + u)``.
3. *Alarm suppression.* NAB (and on-call humans) reward one early alert per incident and
   penalise repeats: a score that does not exceed every raw score of the previous
   ``suppress`` points is multiplied by ``damp``.

Rolling robust z-scores (median/IQR at several window lengths, on values and differences)
and a Numenta-style "anomaly likelihood" layer were evaluated as extra ensemble members; on
NAB they added more false positives than detections, so the default detector does not use
them (see ``benchmarks/nab_eval.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = ["DetectorConfig", "StreamingAnomalyDetector", "score_series"]

DEFAULT_THRESHOLD = 0.09


@dataclass(frozen=True)
class DetectorConfig:
    """Parameters of :class:`StreamingAnomalyDetector`.

    Attributes:
        history: Number of past points that form the reference envelope.
        min_history: Points needed before any non-zero score is emitted.
        scale: Envelope exceedance (as a fraction of its width) that maps to score 0.5.
        suppress: Points after a high score during which non-increasing scores are damped.
        damp: Multiplier for suppressed scores.
        rel_floor: Minimum envelope width relative to the largest deviation seen so far.
        abs_floor: Absolute minimum envelope width.
    """

    history: int = 4000
    min_history: int = 10
    scale: float = 0.05
    suppress: int = 300
    damp: float = 0.5
    rel_floor: float = 1e-3
    abs_floor: float = 1e-9


def _trailing_max(a: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = max(a[max(0, i - w + 1) : i + 1])`` in O(n)."""
    if w <= 1:
        return a.copy()
    return maximum_filter1d(a, size=w, origin=(w - 1) // 2, mode="nearest")


def _trailing_min(a: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = min(a[max(0, i - w + 1) : i + 1])`` in O(n)."""
    if w <= 1:
        return a.copy()
    return minimum_filter1d(a, size=w, origin=(w - 1) // 2, mode="nearest")


class StreamingAnomalyDetector:
    """Causal anomaly scorer: each new point gets a score in ``[0, 1]``.

    Example:
        >>> det = StreamingAnomalyDetector()
        >>> scores = [det.update(t, v) for t, v in enumerate([1.0, 1.1, 0.9] * 10 + [9.0])]
        >>> scores[-1] > 0.9
        True

    Args:
        config: Detector parameters; defaults to :class:`DetectorConfig`.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        if self.config.history < 2:
            raise ValueError("history must be at least 2")
        self._values = np.empty(0)  # last `history` accepted values
        self._raw = np.empty(0)  # last `suppress` raw (pre-suppression) scores
        self._first: float | None = None
        self._max_dev = 0.0
        self._seen = 0

    @property
    def n_seen(self) -> int:
        """Number of (non-missing) points consumed so far."""
        return self._seen

    def update(self, timestamp: Any, value: float) -> float:
        """Consume one point and return its anomaly score.

        Args:
            timestamp: The point's time (unused by the score; kept for the streaming API).
            value: The metric value; NaN/inf is treated as missing and scores 0.

        Returns:
            Anomaly score in ``[0, 1]``.
        """
        return float(self.update_many(np.array([value], dtype=float))[0])

    def update_many(
        self, values: Sequence[float] | np.ndarray, timestamps: Sequence[Any] | None = None
    ) -> np.ndarray:
        """Consume a block of consecutive points; identical to calling :meth:`update` on each.

        Args:
            values: Metric values in time order.
            timestamps: Optional matching timestamps (unused by the score).

        Returns:
            One anomaly score in ``[0, 1]`` per value.
        """
        cfg = self.config
        x = np.asarray(values, dtype=float)
        out = np.zeros(len(x))
        ok = np.isfinite(x)
        if not ok.any():
            return out
        xb = x[ok]
        nb = len(xb)
        if self._first is None:
            self._first = float(xb[0])
        # Causal scale floor: largest deviation from the first value seen up to each point.
        dev = np.maximum.accumulate(np.maximum(np.abs(xb - self._first), self._max_dev))
        prev_dev = np.concatenate(([self._max_dev], dev[:-1]))
        floor = np.maximum(cfg.rel_floor * prev_dev, cfg.abs_floor)

        h = len(self._values)
        full = np.concatenate((self._values, xb))
        w = cfg.history
        hi = _trailing_max(full, w)
        lo = _trailing_min(full, w)
        # Envelope of the `history` points strictly before each block point.
        idx = np.arange(h, h + nb)
        prev = idx - 1
        has_prev = prev >= 0
        prev_c = np.maximum(prev, 0)
        top = hi[prev_c]
        bot = lo[prev_c]
        n_before = self._seen + np.arange(nb)
        width = np.maximum(top - bot, floor)
        exceed = np.maximum(np.maximum(xb - top, bot - xb), 0.0) / width
        exceed[~has_prev | (n_before < cfg.min_history)] = 0.0
        u = exceed / cfg.scale
        raw = u / (1.0 + u)

        # Suppression: damp scores that do not beat every raw score of the last `suppress`.
        k = cfg.suppress
        if k > 0:
            rfull = np.concatenate((self._raw, raw))
            rh = len(self._raw)
            rmax = _trailing_max(rfull, k)
            ridx = np.arange(rh, rh + nb) - 1
            past_max = np.where(ridx >= 0, rmax[np.maximum(ridx, 0)], -1.0)
            score = np.where(raw > past_max, raw, raw * cfg.damp)
            self._raw = rfull[-k:]
        else:
            score = raw
        out[ok] = np.clip(score, 0.0, 1.0)

        self._values = full[-w:]
        self._max_dev = float(dev[-1])
        self._seen += nb
        return out


def score_series(
    values: Sequence[float] | np.ndarray,
    config: DetectorConfig | None = None,
    block: int = 65536,
) -> np.ndarray:
    """Score a whole series by streaming it through a fresh detector in blocks.

    Args:
        values: Metric values in time order.
        config: Detector parameters.
        block: Block size (results do not depend on it).

    Returns:
        One anomaly score per value.
    """
    det = StreamingAnomalyDetector(config)
    x = np.asarray(values, dtype=float)
    parts = [det.update_many(x[i : i + block]) for i in range(0, len(x), block)]
    return np.concatenate(parts) if parts else np.zeros(0)
