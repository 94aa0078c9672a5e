"""The language-engine tier router: which prompts are worth an LLM call rather than the
offline engine, learned from routing history and promoted only on held-out evidence.

Pure domain code (no Dagster, no MLflow import): the assets in
:mod:`assets.optimization.llm_router` wire it to the warehouse and the model registry, and
:class:`resources.language.TieredLanguageEngine` uses the registered champion at run time.

**Routing history.** Today the history is external: RouteLLM's per-prompt outcomes of a strong
(GPT-4) and a weak (Mixtral-8x7B) model on MMLU, one CSV per subject, from
``../shared/benchmarks/routing`` (:func:`ml.routing.default_routing_dir`), with the prompts
RouteLLM lists as contaminated set aside. :func:`load_routing_history` keeps every row it reads:
a row is either accepted or quarantined with its reason (records in = accepted + quarantined):
an empty prompt, an outcome that is not true/false, a prompt already seen (the same question
in two subjects would sit in a training and a held-out subject at once), or a contaminated
prompt.

**What the router learns, and its limit.** :class:`ml.routing.TextRouter` estimates the
expected accuracy gain of the strong model over the weak one from the prompt's text. Trained on
MMLU, that is the gain of GPT-4 over Mixtral on multiple-choice questions, *not* the gain of an
LLM endpoint over the platform's offline engine on its own summaries and reports: the input
distribution (scraped pages, fact sheets) and the pair of tiers both differ, so at run time its
scores are a transferred prior, and the length rule is a plain fallback. The platform's own
decisions are how that gets replaced: every tiered call records its tier, the router version
and the expected gain (``LanguageResult.tier``, ``router_version``, ``decision_reason``); a
quality signal per call (a reviewer's accept/reject of a summary, an LLM-as-judge comparison
of both tiers on a sample, or whether the facts a report cites survive validation) turns those
records into rows of the same shape as this history (``prompt``, ``weak_correct`` = offline
tier good, ``strong_correct`` = LLM tier good, ``subject`` = the site or report topic), and
:func:`train_challenger` runs unchanged on them. Rows for the tier that was *not* chosen must
come from a sampled share of calls answered by both tiers (exploration), or the history only
ever shows one side of each decision.

**Evaluation: unseen topics only.** Subjects are split into ``folds`` groups by a stable hash
of their name (:func:`subject_fold`); fold 0 is the held-out fold that no registered model is
ever trained on, so every model, the current champion included, is scored on the same prompts
it never saw. The challenger is fitted on the other folds (its own inner cross-validation is
grouped by subject too). With ``cross_validate`` the same recipe is also scored fold by fold on
the training folds (each fitted on the remaining ones): mean and worst "unseen topic" figures.

**Metrics** (:class:`RouterEvaluation`): APGR, CPT(50 %), CPT(80 %) (:mod:`ml.routing_metrics`),
and, deciding each held-out prompt with :func:`ml.routing.decide` at the chosen willingness to
pay and the two tiers' costs: routed accuracy, share of strong calls and cost saved against
always calling the strong tier; the length rule's APGR on the same prompts is the baseline.

**Promotion** (:func:`promotion_decision`): a challenger must beat the length rule on the
held-out fold; it replaces the champion only when its held-out APGR is higher by at least
``margin`` on the same prompts.

**Registry format.** The router travels as an MLflow pyfunc whose loader module is this module
(:func:`_load_pyfunc`): :func:`save_router` pickles the fitted router into the model's data
folder; loading checks that it is a router that scores a probe prompt to a finite number.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.routing import (
    STRONG_MODEL,
    WEAK_MODEL,
    LengthRouter,
    TextRouter,
    apgr,
    cpt,
    decide,
    default_routing_dir,
    routed_accuracy_curve,
)

__all__ = [
    "DATASET",
    "DEFAULT_COSTS",
    "DEFAULT_WILLINGNESS_TO_PAY",
    "EXPERIMENT",
    "HISTORY_COLUMNS",
    "LENGTH_RULE",
    "LOADER_MODULE",
    "MODEL_NAME",
    "QUARANTINE_COLUMNS",
    "ROUTER_FILE",
    "Challenger",
    "HistoryLoad",
    "LengthRule",
    "RouterEvaluation",
    "RouterModel",
    "champion_overlap",
    "cost_quality_figure",
    "evaluate_scores",
    "fit_length_rule",
    "load_routing_history",
    "promotion_decision",
    "save_router",
    "score_champion",
    "subject_fold",
    "subsample",
    "train_challenger",
]

MODEL_NAME = "llm_router"
"""The registered model: ``llm_router@champion`` is what tiered language engines load."""
EXPERIMENT = "llm_routing"
"""The MLflow experiment of the tier router's training runs."""
DATASET = "routellm_mmlu"
"""The sub-folder of the routing folder holding one CSV per subject."""
CONTAMINATED_FILE = "contaminated_prompts.jsonl"
LOADER_MODULE = __name__
"""The pyfunc loader module of a registered router (this module, :func:`_load_pyfunc`)."""
ROUTER_FILE = "router.pkl"
"""The pickled router inside the model's data folder."""

DEFAULT_COSTS: tuple[float, float] = (0.001, 0.010)
"""``(weak, strong)`` cost of one call in USD for the held-out decision figures: an order of
magnitude apart, as Mixtral-8x7B and GPT-4 were."""
DEFAULT_WILLINGNESS_TO_PAY = 0.05
"""USD one more correct answer is worth in the held-out decision figures: with
:data:`DEFAULT_COSTS` the strong model is bought above an expected gain of 0.18."""

LENGTH_RULE: tuple[float, float] = (-0.1268, 0.04333)
"""``(a, b)`` of the length rule's expected gain ``a + b * ln(1 + chars)``: a least-squares fit
of ``strong_correct - weak_correct`` on the log length over all 14,037 uncontaminated MMLU
prompts (:func:`fit_length_rule`). About 0.07 at 100 characters, 0.17 at 1,000, 0.27 at
10,000."""

HISTORY_COLUMNS = [
    "prompt_id",
    "subject",
    "prompt",
    "weak_correct",
    "strong_correct",
    "gain",
    "chars",
    "source_file",
    "source_row",
]
"""Columns of an accepted routing-history row (``gain`` = strong - weak correctness)."""
QUARANTINE_COLUMNS = ["source_file", "source_row", "subject", "prompt_id", "prompt", "reason"]
"""Columns of a quarantined row (the prompt cut to 300 characters)."""

MIN_TRAIN_PROMPTS = 100
MIN_HELD_OUT_PROMPTS = 50
_TRUE = {"true", "1", "1.0"}
_FALSE = {"false", "0", "0.0"}
_PROBE = "Which of the following is a prime number?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:"


# ----------------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryLoad:
    """What reading the routing folder gave.

    Attributes:
        accepted: Rows with :data:`HISTORY_COLUMNS`, in file-name then file order.
        quarantined: Rows with :data:`QUARANTINE_COLUMNS`, each with its reason.
        files: How many CSV files were read.
        source: The folder the CSVs were read from.
        weak_model: The weak model's column.
        strong_model: The strong model's column.
    """

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    files: int
    source: str
    weak_model: str
    strong_model: str

    @property
    def records_in(self) -> int:
        """Rows read: accepted + quarantined."""
        return len(self.accepted) + len(self.quarantined)

    def reason_counts(self) -> dict[str, int]:
        """Quarantined rows per reason (the reason's text before any ``:``)."""
        if not len(self.quarantined):
            return {}
        kinds = self.quarantined["reason"].str.split(":").str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().items()}


def prompt_id(prompt: str) -> str:
    """A stable id of a prompt's text (16 hex digits of its SHA-256)."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def _outcome(value: Any) -> bool | None:
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def load_routing_history(
    directory: Path | str | None = None,
    *,
    dataset: str = DATASET,
    weak_model: str = WEAK_MODEL,
    strong_model: str = STRONG_MODEL,
) -> HistoryLoad:
    """Read every CSV of ``directory/dataset`` into accepted and quarantined rows.

    The same files and columns as :func:`ml.routing.load_routing_data`, read as text so that a
    malformed value is quarantined with its reason rather than read as ``False``. Rules, in
    order: a prompt in ``contaminated_prompts.jsonl`` (when present), an empty prompt, an
    outcome other than true/false/1/0, a prompt already accepted from an earlier row.

    Args:
        directory: The routing folder (default :func:`ml.routing.default_routing_dir`).
        dataset: Its sub-folder of CSVs (one per subject: ``prompt`` and one column per model).
        weak_model: The weak model's column.
        strong_model: The strong model's column.

    Returns:
        The accepted and quarantined rows.

    Raises:
        FileNotFoundError: the folder does not exist or holds no CSV (the message names it).
        ValueError: a CSV lacks the prompt or a model column.
    """
    root = Path(directory) if directory is not None else default_routing_dir()
    folder = root / dataset
    if not folder.is_dir():
        raise FileNotFoundError(
            f"routing data folder {folder} does not exist (expected one CSV per subject with "
            f"columns prompt, {weak_model!r}, {strong_model!r})"
        )
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"routing data folder {folder} holds no CSV file")
    contaminated: set[str] = set()
    cpath = root / CONTAMINATED_FILE
    if cpath.exists():
        with cpath.open(encoding="utf-8") as fh:
            contaminated = {json.loads(line)["eval_prompt"] for line in fh if line.strip()}
    accepted: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for f in files:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        missing = [c for c in ("prompt", weak_model, strong_model) if c not in df.columns]
        if missing:
            raise ValueError(f"{f} has no column(s) {missing}; columns are {list(df.columns)}")
        subject = f.stem
        for i, (prompt, w, s) in enumerate(
            zip(df["prompt"], df[weak_model], df[strong_model], strict=True), start=1
        ):
            pid = prompt_id(prompt)
            weak, strong = _outcome(w), _outcome(s)
            reason = None
            if prompt in contaminated:
                reason = f"contaminated: listed in {CONTAMINATED_FILE}"
            elif not prompt.strip():
                reason = "empty prompt"
            elif weak is None:
                reason = f"malformed outcome: weak model {str(w)[:20]!r} is not true/false"
            elif strong is None:
                reason = f"malformed outcome: strong model {str(s)[:20]!r} is not true/false"
            elif pid in seen:
                reason = f"duplicate prompt: first accepted in {seen[pid]}"
            if reason is not None:
                quarantined.append(
                    {
                        "source_file": f.name,
                        "source_row": i,
                        "subject": subject,
                        "prompt_id": pid,
                        "prompt": prompt[:300],
                        "reason": reason,
                    }
                )
                continue
            seen[pid] = subject
            accepted.append(
                {
                    "prompt_id": pid,
                    "subject": subject,
                    "prompt": prompt,
                    "weak_correct": bool(weak),
                    "strong_correct": bool(strong),
                    "gain": int(bool(strong)) - int(bool(weak)),
                    "chars": len(prompt),
                    "source_file": f.name,
                    "source_row": i,
                }
            )
    return HistoryLoad(
        accepted=pd.DataFrame(accepted, columns=HISTORY_COLUMNS),
        quarantined=pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS),
        files=len(files),
        source=str(folder),
        weak_model=weak_model,
        strong_model=strong_model,
    )


def subsample(history: pd.DataFrame, max_prompts: int | None) -> pd.DataFrame:
    """At most ``max_prompts`` rows: those with the smallest prompt ids (a stable hash), in
    their original order. The same prompts for the same history whatever the run, and a larger
    sample contains every smaller one. ``None`` or ``0``: every row."""
    if not max_prompts or len(history) <= max_prompts:
        return history.reset_index(drop=True)
    keep = history["prompt_id"].sort_values(kind="stable").index[:max_prompts]
    return history.loc[sorted(keep)].reset_index(drop=True)


def subject_fold(subject: str, folds: int) -> int:
    """The fold of a subject: its name's SHA-256 modulo ``folds``; stable across runs and data
    sizes, so fold 0 (the held-out fold) holds the same subjects every time."""
    return int(hashlib.sha256(subject.encode("utf-8")).hexdigest(), 16) % folds


# ----------------------------------------------------------------------------------- metrics


class LengthRule(LengthRouter):
    """The no-model rule: :class:`ml.routing.LengthRouter`'s "the longer, the stronger", as an
    expected gain ``a + b * ln(1 + chars)`` (:data:`LENGTH_RULE`, clipped to [-1, 1]) so that
    :func:`ml.routing.decide` and the willingness to pay apply to it as to a learned router.
    It ranks exactly like the length router (same APGR)."""

    version = "length-rule"

    def __init__(self, calibration: tuple[float, float] = LENGTH_RULE) -> None:
        self.calibration = (float(calibration[0]), float(calibration[1]))

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        """The expected gains of ``prompts``."""
        a, b = self.calibration
        return np.clip(a + b * np.log1p(super().score(prompts)), -1.0, 1.0)

    def score_one(self, prompt: str) -> float:
        """The expected gain of one prompt (pure Python)."""
        a, b = self.calibration
        return max(-1.0, min(1.0, a + b * math.log1p(len(prompt))))


def fit_length_rule(history: pd.DataFrame) -> tuple[float, float]:
    """``(a, b)`` of the least-squares line of ``gain`` on ``ln(1 + chars)`` (see
    :data:`LENGTH_RULE`, fitted with this on the whole MMLU history)."""
    b, a = np.polyfit(np.log1p(history["chars"].to_numpy(float)), history["gain"].to_numpy(), 1)
    return float(a), float(b)


@dataclass(frozen=True)
class RouterEvaluation:
    """Figures of one router's scores on held-out prompts.

    Attributes:
        n: Held-out prompts.
        subjects: Held-out subjects.
        weak_accuracy: The weak model's accuracy on them.
        strong_accuracy: The strong model's accuracy on them.
        apgr: Average performance gap recovered (0.5 random, about 1 oracle).
        cpt50: Share of strong calls needed to recover 50 % of the gap.
        cpt80: Share of strong calls needed to recover 80 % of the gap.
        accuracy: Routed accuracy deciding each prompt at the willingness to pay.
        strong_share: Share of prompts sent to the strong model by those decisions.
        cost_saved: ``1 - routed cost / always-strong cost``.
        length_rule_apgr: The length rule's APGR on the same prompts (the baseline).
        willingness_to_pay: The value of one correct answer used for the decisions.
        costs: ``(weak, strong)`` cost of one call used for the decisions.
    """

    n: int
    subjects: int
    weak_accuracy: float
    strong_accuracy: float
    apgr: float
    cpt50: float
    cpt80: float
    accuracy: float
    strong_share: float
    cost_saved: float
    length_rule_apgr: float
    willingness_to_pay: float
    costs: tuple[float, float]

    def as_dict(self) -> dict[str, float]:
        """The figures, for metrics and metadata."""
        return {
            "n": float(self.n),
            "subjects": float(self.subjects),
            "weak_accuracy": self.weak_accuracy,
            "strong_accuracy": self.strong_accuracy,
            "apgr": self.apgr,
            "cpt50": self.cpt50,
            "cpt80": self.cpt80,
            "accuracy": self.accuracy,
            "strong_share": self.strong_share,
            "cost_saved": self.cost_saved,
            "length_rule_apgr": self.length_rule_apgr,
        }


def evaluate_scores(
    scores: Sequence[float] | np.ndarray,
    rows: pd.DataFrame,
    *,
    willingness_to_pay: float = DEFAULT_WILLINGNESS_TO_PAY,
    costs: tuple[float, float] = DEFAULT_COSTS,
) -> RouterEvaluation:
    """Score a router's expected gains on held-out ``rows`` (history rows).

    Raises:
        ValueError: both models are equally accurate on ``rows`` (APGR is undefined).
    """
    s = np.asarray(scores, dtype=float)
    weak = rows["weak_correct"].to_numpy(bool)
    strong = rows["strong_correct"].to_numpy(bool)
    go = decide(s, willingness_to_pay, costs)
    share = float(go.mean())
    mean_cost = costs[0] + share * (costs[1] - costs[0])
    return RouterEvaluation(
        n=len(rows),
        subjects=int(rows["subject"].nunique()),
        weak_accuracy=float(weak.mean()),
        strong_accuracy=float(strong.mean()),
        apgr=apgr(s, weak, strong),
        cpt50=cpt(s, weak, strong, 0.5),
        cpt80=cpt(s, weak, strong, 0.8),
        accuracy=float(np.where(go, strong, weak).mean()),
        strong_share=share,
        cost_saved=1.0 - mean_cost / costs[1] if costs[1] > 0 else 0.0,
        length_rule_apgr=apgr(LengthRouter().score(rows["prompt"].tolist()), weak, strong),
        willingness_to_pay=float(willingness_to_pay),
        costs=(float(costs[0]), float(costs[1])),
    )


# ---------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Challenger:
    """A router fitted on the training folds and scored on the held-out fold.

    Attributes:
        router: The fitted :class:`ml.routing.TextRouter`.
        evaluation: Its figures on the held-out fold.
        scores: Its expected gains of the held-out prompts, in ``held_out`` order.
        train: The training rows (history rows of folds 1..k-1).
        held_out: The held-out rows (fold 0).
        cv: Per training fold: its figures when the same recipe is fitted on the other
            training folds (empty without cross-validation).
        params: The recipe: what a rerun needs to give the same model.
    """

    router: TextRouter
    evaluation: RouterEvaluation
    scores: np.ndarray
    train: pd.DataFrame
    held_out: pd.DataFrame
    cv: list[dict[str, float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def cv_summary(self) -> dict[str, float]:
        """Mean and worst (lowest APGR, highest CPT) of the cross-validation folds."""
        if not self.cv:
            return {}
        out: dict[str, float] = {"folds": float(len(self.cv))}
        for m in ("apgr", "cpt50", "cpt80", "accuracy", "cost_saved"):
            vals = [f[m] for f in self.cv]
            out[f"{m}_mean"] = float(np.mean(vals))
        out["apgr_worst"] = float(min(f["apgr"] for f in self.cv))
        out["cpt50_worst"] = float(max(f["cpt50"] for f in self.cv))
        out["cpt80_worst"] = float(max(f["cpt80"] for f in self.cv))
        return out

    def config(self) -> dict[str, Any]:
        """What travels with the registered model: the recipe and which subjects it saw."""
        return {
            **self.params,
            "train_subjects": sorted(self.train["subject"].unique().tolist()),
            "held_out_subjects": sorted(self.held_out["subject"].unique().tolist()),
            "train_prompts": len(self.train),
            "held_out_prompts": len(self.held_out),
            "length_rule": list(LENGTH_RULE),
        }


def _fit(rows: pd.DataFrame, *, seed: int, inner_folds: int) -> TextRouter:
    return TextRouter(seed=seed, inner_folds=inner_folds).fit(
        rows["prompt"].tolist(),
        rows["weak_correct"].to_numpy(float),
        rows["strong_correct"].to_numpy(float),
        groups=rows["subject"].to_numpy(),
    )


def _gap(rows: pd.DataFrame) -> float:
    return float(rows["strong_correct"].mean() - rows["weak_correct"].mean()) if len(rows) else 0.0


def train_challenger(
    history: pd.DataFrame,
    *,
    folds: int = 5,
    max_prompts: int | None = None,
    seed: int = 0,
    inner_folds: int = 3,
    cross_validate: bool = True,
    willingness_to_pay: float = DEFAULT_WILLINGNESS_TO_PAY,
    costs: tuple[float, float] = DEFAULT_COSTS,
) -> tuple[Challenger | None, str]:
    """Fit a :class:`ml.routing.TextRouter` on the training folds and score it on fold 0.

    Args:
        history: Accepted routing-history rows (:data:`HISTORY_COLUMNS`).
        folds: Subject folds (:func:`subject_fold`); fold 0 is held out.
        max_prompts: Use at most this many prompts (:func:`subsample`; None: all).
        seed: Seed of the router's inner folds and boosting.
        inner_folds: The router's inner (grouped) cross-validation folds.
        cross_validate: Also score the recipe on each training fold, fitted on the others.
        willingness_to_pay: Value of one more correct answer, for the decision figures.
        costs: ``(weak, strong)`` cost of one call, for the decision figures.

    Returns:
        ``(challenger, why)``; None, with the reason, when the held-out fold or the training
        folds are too small or the held-out fold shows no accuracy gap between the models.
    """
    if folds < 2:
        raise ValueError("folds must be at least 2 (fold 0 is held out)")
    rows = subsample(history, max_prompts)
    fold = rows["subject"].map(lambda s: subject_fold(str(s), folds)).to_numpy()
    train = rows[fold != 0].reset_index(drop=True)
    held_out = rows[fold == 0].reset_index(drop=True)
    if len(held_out) < MIN_HELD_OUT_PROMPTS or len(train) < MIN_TRAIN_PROMPTS:
        return None, (
            f"{len(train)} training and {len(held_out)} held-out prompts; at least "
            f"{MIN_TRAIN_PROMPTS} and {MIN_HELD_OUT_PROMPTS} needed"
        )
    if abs(_gap(held_out)) < 1e-9:
        return None, "both models are equally accurate on the held-out fold: nothing to route"
    decision = {"willingness_to_pay": willingness_to_pay, "costs": costs}
    router = _fit(train, seed=seed, inner_folds=inner_folds)
    scores = router.score(held_out["prompt"].tolist())
    cv: list[dict[str, float]] = []
    if cross_validate:
        train_fold = fold[fold != 0]
        for f in sorted(set(train_fold.tolist())):
            fit_rows, test_rows = train[train_fold != f], train[train_fold == f]
            if len(test_rows) < MIN_HELD_OUT_PROMPTS or abs(_gap(test_rows)) < 1e-9:
                continue
            inner = _fit(fit_rows, seed=seed, inner_folds=inner_folds)
            ev = evaluate_scores(inner.score(test_rows["prompt"].tolist()), test_rows, **decision)
            cv.append({"fold": float(f), **ev.as_dict()})
    params = {
        "router": "TextRouter",
        "folds": folds,
        "held_out_fold": 0,
        "max_prompts": max_prompts or 0,
        "seed": seed,
        "inner_folds": inner_folds,
        "alpha": router.alpha_,
        "blend": router.blend_,
        "calibration": list(router.calibration_),
    }
    return (
        Challenger(
            router=router,
            evaluation=evaluate_scores(scores, held_out, **decision),
            scores=np.asarray(scores, dtype=float),
            train=train,
            held_out=held_out,
            cv=cv,
            params=params,
        ),
        "trained",
    )


def score_champion(router: Any, challenger: Challenger) -> tuple[RouterEvaluation, np.ndarray]:
    """The champion's figures and scores on the challenger's held-out prompts (same decision
    settings), so both are compared on the same prompts."""
    scores = np.asarray(router.score(challenger.held_out["prompt"].tolist()), dtype=float)
    ev = challenger.evaluation
    settings = {"willingness_to_pay": ev.willingness_to_pay, "costs": ev.costs}
    return evaluate_scores(scores, challenger.held_out, **settings), scores


def champion_overlap(champion_config: Mapping[str, Any], challenger: Challenger) -> list[str]:
    """Held-out subjects the champion was trained on (by its config): when not empty, its
    held-out figure is optimistic (the split changed since it was trained)."""
    seen = set(champion_config.get("train_subjects") or [])
    return sorted(seen & set(challenger.held_out["subject"].unique()))


def promotion_decision(
    challenger: RouterEvaluation | None,
    champion: RouterEvaluation | None,
    *,
    margin: float = 0.005,
) -> tuple[bool, str]:
    """Whether the challenger replaces the champion, and why.

    The rule of :func:`ml.route_success.promotion_decision`, on APGR (higher is better): the
    challenger must beat the length rule on the held-out prompts; then, when there is a
    champion scored on the same prompts, its APGR must be higher by at least ``margin``.
    """
    if challenger is None:
        return False, "no challenger: too little routing history to train on"
    if challenger.apgr <= challenger.length_rule_apgr:
        return False, (
            f"challenger held-out APGR {challenger.apgr:.4f} does not beat the length rule's "
            f"{challenger.length_rule_apgr:.4f}"
        )
    if champion is None:
        return True, (
            f"no champion yet; challenger held-out APGR {challenger.apgr:.4f} beats the length "
            f"rule's {challenger.length_rule_apgr:.4f}"
        )
    gain = challenger.apgr - champion.apgr
    if gain >= margin:
        return True, (
            f"challenger held-out APGR {challenger.apgr:.4f} is {gain:.4f} above the "
            f"champion's {champion.apgr:.4f} (margin {margin})"
        )
    return False, (
        f"challenger held-out APGR {challenger.apgr:.4f} vs champion {champion.apgr:.4f}: "
        f"gain {gain:.4f} is under the margin {margin}"
    )


# ------------------------------------------------------------------------------------ figure


def cost_quality_figure(
    curves: Mapping[str, np.ndarray],
    rows: pd.DataFrame,
    path: Path,
    *,
    operating_point: tuple[float, float] | None = None,
    costs: tuple[float, float] = DEFAULT_COSTS,
) -> list[dict[str, float]]:
    """Plot routed accuracy against mean cost per call on held-out ``rows`` for each router's
    scores in ``curves`` (plus the random router's straight line), save it as a PNG at
    ``path`` (matplotlib, Agg backend) and return the points of the first curve, sampled at
    every 5 % of strong calls.

    Args:
        curves: Router name -> its scores of ``rows``.
        rows: Held-out history rows.
        path: Where the PNG goes.
        operating_point: ``(strong share, accuracy)`` of the decisions at the willingness to
            pay, marked on the plot.
        costs: ``(weak, strong)`` cost of one call (the x axis).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weak = rows["weak_correct"].to_numpy(bool)
    strong = rows["strong_correct"].to_numpy(bool)

    def cost(share: np.ndarray | float) -> np.ndarray | float:
        return costs[0] + np.asarray(share) * (costs[1] - costs[0])

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=90)
    points: list[dict[str, float]] = []
    for i, (name, scores) in enumerate(curves.items()):
        share, acc = routed_accuracy_curve(scores, weak, strong)
        ax.plot(cost(share), acc, label=name, linewidth=1.6 if i == 0 else 1.1)
        if i == 0:
            for k in np.unique(np.round(np.linspace(0, len(share) - 1, 21)).astype(int)):
                points.append(
                    {
                        "strong_share": float(share[k]),
                        "cost": float(cost(share[k])),
                        "accuracy": float(acc[k]),
                    }
                )
    ax.plot(
        [costs[0], costs[1]],
        [weak.mean(), strong.mean()],
        linestyle=":",
        color="grey",
        label="random",
    )
    if operating_point is not None:
        ax.plot(
            [cost(operating_point[0])],
            [operating_point[1]],
            marker="o",
            color="black",
            label="decisions at the willingness to pay",
        )
    ax.set_xlabel("mean cost per call (USD)")
    ax.set_ylabel("routed accuracy")
    ax.set_title(f"tier router, held-out subjects ({len(rows)} prompts)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return points


# ---------------------------------------------------------------------------- registry format


class RouterModel:
    """What MLflow's pyfunc flavour loads: ``predict`` maps prompts to expected gains;
    ``get_raw_model`` gives the router itself (whose ``score_one`` is the fast path)."""

    def __init__(self, router: Any) -> None:
        self.router = router

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """Expected gains of the prompts in ``model_input``: a DataFrame with a ``prompt``
        column (else its first column), a Series, or a list of strings."""
        if isinstance(model_input, pd.DataFrame):
            col = "prompt" if "prompt" in model_input.columns else model_input.columns[0]
            prompts = model_input[col].astype(str).tolist()
        elif isinstance(model_input, str):
            prompts = [model_input]
        else:
            prompts = [str(p) for p in model_input]
        return np.asarray(self.router.score(prompts), dtype=float)

    def get_raw_model(self) -> Any:
        """The router."""
        return self.router


def save_router(router: Any, folder: Path) -> Path:
    """Pickle ``router`` into ``folder`` (the model's data path); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ROUTER_FILE).open("wb") as fh:
        pickle.dump(router, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return folder


def _load_pyfunc(data_path: str) -> RouterModel:
    """MLflow's pyfunc loader hook: the router pickled by :func:`save_router`, checked.

    Raises:
        ValueError: the file holds no router, or the router does not score a probe prompt to
            a finite number.
    """
    path = Path(data_path)
    if path.is_dir():
        path = path / ROUTER_FILE
    with path.open("rb") as fh:
        router = pickle.load(fh)  # our own artifact, written by save_router
    if not callable(getattr(router, "score_one", None)) or not callable(
        getattr(router, "score", None)
    ):
        raise ValueError(f"{path} holds a {type(router).__name__}, not a router")
    probe = float(router.score_one(_PROBE))
    if not math.isfinite(probe):
        raise ValueError(f"the router in {path} scores a probe prompt as {probe}")
    return RouterModel(router)
