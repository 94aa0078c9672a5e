"""Numenta Anomaly Benchmark (NAB) data loading and scoring.

Implements NAB's published scoring method (see ``shared/benchmarks/README.md``, section nab/):

* the first 15% of each file (at most 750 rows) is a warm-up whose detections are ignored;
* inside an anomaly window of width ``W`` (right edge at row ``R``) a detection at row ``i``
  sits at ``y = -(R - i + 1) / W`` and is worth ``tpWeight * sigma(y) / sigma(-1)`` with
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1``; only the earliest detection of a window counts;
* a window with no detection costs ``-fnWeight``;
* a detection outside every window costs ``fpWeight * sigma(|i - R_prev| / (W_prev - 1))``
  (``-1`` when ``y > 3`` or when no window came before);
* raw scores are summed over files and normalised to ``100 * (raw - null) / (perfect - null)``.

Also computes operational figures (share of windows caught, median detection delay, false
alerts per metric-day). Pure numpy/pandas; no Dagster.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PROBATION_PERCENT = 0.15
MAX_PROBATION_ROWS = 750
ALERT_MERGE_SECONDS = 3600.0


def default_benchmarks_dir() -> Path:
    """Return the shared benchmarks folder (``$BENCHMARKS_DIR`` or ``<repo>/../shared/benchmarks``)."""
    env = os.environ.get("BENCHMARKS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    return repo.parent / "shared" / "benchmarks"


def default_nab_dir() -> Path:
    """Return the NAB folder inside the shared benchmarks folder."""
    return default_benchmarks_dir() / "nab"


def scaled_sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: ``2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``.

    Args:
        y: Relative position (negative inside a window, positive behind it).

    Returns:
        A value in ``[-1, 1]``.
    """
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)  # 0.98661...


def probation_rows(n_rows: int) -> int:
    """Number of warm-up rows for a file of ``n_rows`` rows (15%, at most 750)."""
    return int(min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * 5000))


@dataclass(frozen=True)
class Profile:
    """A NAB cost profile."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


STANDARD = Profile("standard", 1.0, 0.11, 1.0)
LOW_FP = Profile("reward_low_FP_rate", 1.0, 0.22, 1.0)
LOW_FN = Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)


def load_profiles(nab_dir: Path | None = None) -> dict[str, Profile]:
    """Load the cost profiles from ``profiles.json``.

    Args:
        nab_dir: NAB folder; defaults to :func:`default_nab_dir`.

    Returns:
        Profiles by name.
    """
    path = Path(nab_dir or default_nab_dir()) / "profiles.json"
    raw = json.loads(path.read_text())
    out: dict[str, Profile] = {}
    for name, body in raw.items():
        cm = body["CostMatrix"]
        out[name] = Profile(
            name, float(cm["tpWeight"]), float(cm["fpWeight"]), float(cm["fnWeight"])
        )
    return out


@dataclass
class NabFile:
    """One labelled NAB series, with per-row scoring tables precomputed.

    Attributes:
        name: ``"<category>/<file>.csv"``.
        timestamps: Row timestamps (``datetime64[ns]``).
        values: Row values.
        windows: Anomaly windows as inclusive ``(first_row, last_row)`` index pairs.
    """

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]
    probation: int = field(init=False)
    window_id: np.ndarray = field(init=False, repr=False)
    tp_value: np.ndarray = field(init=False, repr=False)
    fp_penalty: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.values)
        self.probation = probation_rows(n)
        self.window_id = np.full(n, -1, dtype=np.int64)
        self.tp_value = np.zeros(n)
        self.fp_penalty = np.full(n, -1.0)
        prev_right: int | None = None
        prev_width: float | None = None
        wi = 0
        i = 0
        windows = sorted(self.windows)
        while i < n:
            if wi < len(windows) and i == windows[wi][0]:
                left, right = windows[wi]
                width = float(right - left + 1)
                for j in range(left, right + 1):
                    self.window_id[j] = wi
                    self.tp_value[j] = scaled_sigmoid(-(right - j + 1) / width) / MAX_TP
                prev_right, prev_width = right, width
                wi += 1
                i = right + 1
                continue
            if prev_right is not None and prev_width is not None:
                denom = max(prev_width - 1.0, 1.0)
                self.fp_penalty[i] = scaled_sigmoid(abs(i - prev_right) / denom)
            i += 1
        self.window_id[: self.probation] = -2  # warm-up rows: ignored entirely

    @property
    def category(self) -> str:
        """The file's category (folder name)."""
        return self.name.split("/", 1)[0]

    @property
    def scored_windows(self) -> list[int]:
        """Indices of windows with at least one row after the warm-up."""
        return [k for k, (_, right) in enumerate(sorted(self.windows)) if right >= self.probation]


def load_file(nab_dir: Path, name: str, windows: Sequence[Sequence[str]]) -> NabFile:
    """Load one NAB csv file and convert its windows to row indices.

    Args:
        nab_dir: NAB folder.
        name: ``"<category>/<file>.csv"``.
        windows: ``[start, end]`` timestamp strings.

    Returns:
        The loaded file.
    """
    df = pd.read_csv(nab_dir / "data" / name)
    ts = pd.to_datetime(df["timestamp"]).to_numpy(dtype="datetime64[ns]")
    vals = df["value"].to_numpy(dtype=float)
    idx: list[tuple[int, int]] = []
    for start, end in windows:
        s = np.datetime64(pd.Timestamp(start).to_datetime64(), "ns")
        e = np.datetime64(pd.Timestamp(end).to_datetime64(), "ns")
        left = int(np.searchsorted(ts, s, side="left"))
        right = int(np.searchsorted(ts, e, side="right")) - 1
        if right >= left:
            idx.append((left, right))
    return NabFile(name=name, timestamps=ts, values=vals, windows=idx)


def load_corpus(nab_dir: Path | None = None, names: Iterable[str] | None = None) -> list[NabFile]:
    """Load every labelled file of the NAB folder (or only ``names``).

    Args:
        nab_dir: NAB folder; defaults to :func:`default_nab_dir`.
        names: Optional subset of ``"<category>/<file>.csv"`` names.

    Returns:
        Files sorted by name.
    """
    nab_dir = Path(nab_dir or default_nab_dir())
    windows = json.loads((nab_dir / "combined_windows.json").read_text())
    wanted = sorted(names) if names is not None else sorted(windows)
    return [load_file(nab_dir, n, windows[n]) for n in wanted if (nab_dir / "data" / n).exists()]


@dataclass
class FileScore:
    """Scoring of one file at one threshold (weighted by a profile)."""

    tp: float
    fp: float
    fn: float
    n_windows: int
    n_caught: int
    delays_min: list[float]
    false_alerts: int
    scored_days: float
    # NAB windows are centred on the labelled anomaly: delay from the centre row (negative =
    # the detector fired before the labelled point).
    delays_from_label_min: list[float] = field(default_factory=list)

    @property
    def raw(self) -> float:
        """Raw NAB score of the file."""
        return self.tp + self.fp + self.fn


def score_file(f: NabFile, detections: np.ndarray, profile: Profile = STANDARD) -> FileScore:
    """Score a boolean detection vector for one file.

    Args:
        f: The labelled file.
        detections: Boolean array, one entry per row (``score >= threshold``).
        profile: Cost profile.

    Returns:
        The file's score parts and operational counts.
    """
    det = np.asarray(detections, dtype=bool).copy()
    det[: f.probation] = False
    hits = np.flatnonzero(det)
    wid = f.window_id[hits]
    tp = 0.0
    caught: set[int] = set()
    delays: list[float] = []
    from_label: list[float] = []
    windows = sorted(f.windows)
    for k in np.unique(wid[wid >= 0]):
        first = int(hits[wid == k][0])
        tp += profile.tp_weight * float(f.tp_value[first])
        caught.add(int(k))
        dt = (f.timestamps[first] - f.timestamps[windows[k][0]]) / np.timedelta64(1, "s")
        delays.append(float(dt) / 60.0)
        centre = (windows[k][0] + windows[k][1]) // 2
        dl = (f.timestamps[first] - f.timestamps[centre]) / np.timedelta64(1, "s")
        from_label.append(float(dl) / 60.0)
    scored = f.scored_windows
    fn = -profile.fn_weight * sum(1 for k in scored if k not in caught)
    outside = hits[wid == -1]
    fp = profile.fp_weight * float(f.fp_penalty[outside].sum())
    # Operational false alerts: outside windows, alerts within 1 h of each other merged.
    false_alerts = 0
    if len(outside):
        t = f.timestamps[outside].astype("datetime64[s]").astype(np.int64).astype(float)
        false_alerts = 1 + int(np.sum(np.diff(t) > ALERT_MERGE_SECONDS))
    n = len(f.values)
    days = 0.0
    if n > f.probation + 1:
        span = (f.timestamps[-1] - f.timestamps[f.probation]) / np.timedelta64(1, "s")
        days = float(span) / 86400.0
    return FileScore(
        tp=tp,
        fp=fp,
        fn=float(fn),
        n_windows=len(scored),
        n_caught=len(caught & set(scored)),
        delays_min=delays,
        false_alerts=false_alerts,
        scored_days=days,
        delays_from_label_min=from_label,
    )


@dataclass
class CorpusScore:
    """Corpus-level NAB result at one threshold and profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    n_windows: int
    n_caught: int
    median_delay_min: float
    false_alerts_per_day: float
    median_delay_from_label_min: float = float("nan")

    @property
    def normalized(self) -> float:
        """Normalised NAB score (null = 0, perfect = 100)."""
        if self.perfect == self.null:
            return 0.0
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)

    @property
    def caught_share(self) -> float:
        """Share of windows with at least one detection."""
        return self.n_caught / self.n_windows if self.n_windows else float("nan")


def score_corpus(
    files: Sequence[NabFile],
    scores: Mapping[str, np.ndarray],
    threshold: float,
    profile: Profile = STANDARD,
) -> CorpusScore:
    """Score anomaly scores for a set of files at one threshold.

    Args:
        files: Labelled files.
        scores: Anomaly scores in ``[0, 1]`` per file name (one per row).
        threshold: A row with score ``>= threshold`` is a detection.
        profile: Cost profile.

    Returns:
        Raw, null, perfect and normalised scores plus operational figures.
    """
    raw = null = perfect = 0.0
    n_win = n_caught = alerts = 0
    days = 0.0
    delays: list[float] = []
    from_label: list[float] = []
    for f in files:
        fs = score_file(f, np.asarray(scores[f.name]) >= threshold, profile)
        raw += fs.raw
        null -= profile.fn_weight * fs.n_windows
        perfect += profile.tp_weight * fs.n_windows
        n_win += fs.n_windows
        n_caught += fs.n_caught
        delays.extend(fs.delays_min)
        from_label.extend(fs.delays_from_label_min)
        alerts += fs.false_alerts
        days += fs.scored_days
    return CorpusScore(
        profile=profile.name,
        threshold=threshold,
        raw=raw,
        null=null,
        perfect=perfect,
        n_windows=n_win,
        n_caught=n_caught,
        median_delay_min=float(np.median(delays)) if delays else float("nan"),
        false_alerts_per_day=alerts / days if days else float("nan"),
        median_delay_from_label_min=float(np.median(from_label)) if from_label else float("nan"),
    )


def _file_curve(
    f: NabFile, scores: np.ndarray, grid: np.ndarray, profile: Profile
) -> tuple[np.ndarray, int]:
    """Raw NAB score of one file at every threshold of ``grid`` (vectorised).

    Equivalent to ``score_file(f, scores >= t, profile).raw`` for each ``t`` (up to the
    order of floating-point additions), in O((n + len(grid)) log n) instead of O(n len(grid)).

    Returns:
        ``(raw scores per threshold, number of scored windows)``.
    """
    s = np.asarray(scores, dtype=float)
    raw = np.zeros(len(grid))
    windows = sorted(f.windows)
    scored = f.scored_windows
    for k in scored:
        left, right = windows[k]
        a = max(left, f.probation)
        run_max = np.maximum.accumulate(s[a : right + 1])
        first = np.searchsorted(run_max, grid, side="left")  # first row with score >= t
        hit = first < len(run_max)
        tp = f.tp_value[a : right + 1][np.minimum(first, len(run_max) - 1)]
        raw += np.where(hit, profile.tp_weight * tp, -profile.fn_weight)
    outside = np.flatnonzero(f.window_id == -1)
    so = s[outside]
    order = np.argsort(-so, kind="stable")
    pen = np.concatenate(([0.0], np.cumsum(f.fp_penalty[outside][order])))
    n_above = np.searchsorted(-so[order], -grid, side="right")  # rows with score >= t
    raw += profile.fp_weight * pen[n_above]
    return raw, len(scored)


def threshold_curve(
    files: Sequence[NabFile],
    scores: Mapping[str, np.ndarray],
    grid: Sequence[float],
    profile: Profile = STANDARD,
) -> np.ndarray:
    """Normalised NAB score of a set of files at every threshold of ``grid``.

    Args:
        files: Labelled files.
        scores: Anomaly scores per file name.
        grid: Candidate thresholds.
        profile: Cost profile.

    Returns:
        One normalised score per threshold (same values as :func:`score_corpus`).
    """
    g = np.asarray(grid, dtype=float)
    raw = np.zeros(len(g))
    n_win = 0
    for f in files:
        r, w = _file_curve(f, scores[f.name], g, profile)
        raw += r
        n_win += w
    null = -profile.fn_weight * n_win
    perfect = profile.tp_weight * n_win
    if perfect == null:
        return np.zeros(len(g))
    return 100.0 * (raw - null) / (perfect - null)


def best_threshold(
    files: Sequence[NabFile],
    scores: Mapping[str, np.ndarray],
    profile: Profile = STANDARD,
    grid: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Find the corpus threshold maximising the normalised score.

    Args:
        files: Labelled files to tune on.
        scores: Anomaly scores per file name.
        profile: Cost profile.
        grid: Candidate thresholds; defaults to 0.05..0.9975 in steps of 0.0025.

    Returns:
        ``(threshold, normalised score)`` of the best candidate (lowest threshold on ties).
    """
    if grid is None:
        grid = np.round(np.arange(0.05, 1.0, 0.0025), 4)
    g = np.asarray(grid, dtype=float)
    curve = threshold_curve(files, scores, g, profile)
    best = (float(g[0]), -math.inf)
    for t, s in zip(g, curve, strict=True):
        if s > best[1] + 1e-9:
            best = (float(t), float(s))
    return best
