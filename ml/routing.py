"""LLM routing: send a prompt to a cheap "weak" model or an expensive "strong" one.

Why learn a router. A strong model answers more prompts correctly, but most prompts are
answered correctly by both, and a few by the weak model only. Sending every prompt to the
strong model wastes money on the first group and loses the second. A router that estimates,
from the prompt's text alone, how much the strong model would *gain* on it recovers most of the
strong model's advantage with a fraction of the strong calls (metrics in
:mod:`ml.routing_metrics`, re-exported here).

Target. The learned router regresses ``strong_correct - weak_correct`` (-1, 0 or 1), i.e. it
estimates the expected accuracy gain ``P(strong right) - P(weak right)``. Predicting "the weak
model fails" instead ranks worse: many prompts both models fail (ambiguous or mislabelled
questions) look hard but gain nothing from the strong model.

Features are generic, so the router can move to other prompt sets: no subject or benchmark
name is used. :func:`prompt_features` measures length (prompt, question, answer options),
structure (lines, options, sentences, "Statement 1 | Statement 2"-style pipes, roman-numeral
lists, blanks, a trailing colon), numbers and maths (digits, operators, LaTeX, numeric
options), code signs, negations (NOT / EXCEPT / LEAST), vocabulary (word length, long words,
type-token ratio, capitalised words) and how much the options repeat each other's words. The
text itself enters through word 1-2-gram TF-IDF.

Model (:class:`TextRouter`): the mean of two regressors of the gain, a ridge regression on the
TF-IDF n-grams and a small histogram gradient-boosting model on :func:`prompt_features`, then
a linear calibration so that the score is an expected gain usable by :func:`decide`. The ridge
penalty and the mixing weight are chosen by inner cross-validation on the training prompts
(grouped when groups are given, so "new topic" generalisation is what is optimised); the
boosting settings are fixed.

Latency. :meth:`TextRouter.score_one` decides one prompt in pure Python (a regex tokenizer and
a dictionary of ``(idf, coefficient)`` per n-gram reproducing the vectorizer and the ridge, the
boosted trees compiled to nested ``if`` statements): under 100 µs at the median for a short
prompt, where one call of the scikit-learn transformers alone costs more than the 200 µs
budget. It returns the same number as :meth:`TextRouter.score`, the batch path.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml.routing_metrics import (
    apgr,
    cpt,
    decide,
    gain_threshold,
    pgr,
    pgr_curve,
    routed_accuracy_curve,
)

WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"

__all__ = [
    "FEATURE_NAMES",
    "STRONG_MODEL",
    "WEAK_MODEL",
    "LengthRouter",
    "RandomRouter",
    "Router",
    "RoutingData",
    "TextRouter",
    "apgr",
    "cpt",
    "decide",
    "default_routing_dir",
    "feature_matrix",
    "gain_threshold",
    "load_routing_data",
    "pgr",
    "pgr_curve",
    "prompt_features",
    "routed_accuracy_curve",
]


# ----------------------------------------------------------------------------------- data


def default_routing_dir() -> Path:
    """Return the routing data folder (``$BENCHMARKS_DIR/routing``, default
    ``<repo>/../shared/benchmarks/routing``)."""
    env = os.environ.get("BENCHMARKS_DIR")
    base = (
        Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    )
    return base / "routing"


@dataclass(frozen=True)
class RoutingData:
    """Prompts with the correctness of both models.

    Attributes:
        prompts: The prompt texts.
        weak_correct: Whether the weak model answered each prompt correctly.
        strong_correct: Whether the strong model answered each prompt correctly.
        groups: The source file of each prompt (its stem); used only to build
            leave-groups-out folds, never as a feature.
        dropped: How many contaminated prompts were removed.
    """

    prompts: list[str]
    weak_correct: np.ndarray
    strong_correct: np.ndarray
    groups: np.ndarray
    dropped: int


def load_routing_data(
    directory: Path | str | None = None,
    dataset: str = "routellm_mmlu",
    weak_model: str = WEAK_MODEL,
    strong_model: str = STRONG_MODEL,
    contaminated: str = "contaminated_prompts.jsonl",
) -> RoutingData:
    """Read every CSV of ``directory/dataset`` and drop the contaminated prompts.

    Args:
        directory: The routing folder (default :func:`default_routing_dir`).
        dataset: Sub-folder holding one CSV per group with a ``prompt`` column and one
            True/False column per model.
        weak_model: Column of the weak model.
        strong_model: Column of the strong model.
        contaminated: JSON-lines file (in ``directory``) whose ``eval_prompt`` values are
            dropped; ignored when absent.

    Returns:
        The prompts in file-name order, then file order.

    Raises:
        FileNotFoundError: when the dataset folder holds no CSV.
    """
    root = Path(directory) if directory is not None else default_routing_dir()
    files = sorted((root / dataset).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no CSV files in {root / dataset}")
    frames = []
    for f in files:
        df = pd.read_csv(f, usecols=["prompt", weak_model, strong_model])
        df["group"] = f.stem
        frames.append(df)
    data = pd.concat(frames, ignore_index=True)
    bad: set[str] = set()
    cpath = root / contaminated
    if cpath.exists():
        with cpath.open(encoding="utf-8") as fh:
            bad = {json.loads(line)["eval_prompt"] for line in fh if line.strip()}
    keep = ~data["prompt"].isin(bad)
    data = data[keep].reset_index(drop=True)

    def as_bool(col: pd.Series) -> np.ndarray:
        if col.dtype == bool:
            return col.to_numpy()
        return col.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"]).to_numpy()

    return RoutingData(
        prompts=data["prompt"].astype(str).tolist(),
        weak_correct=as_bool(data[weak_model]),
        strong_correct=as_bool(data[strong_model]),
        groups=data["group"].to_numpy(),
        dropped=int((~keep).sum()),
    )


# ------------------------------------------------------------------------------- features

FEATURE_NAMES = [
    "log_len",
    "log_question_len",
    "log_words",
    "log_lines",
    "log_option_mean_len",
    "log_option_max_len",
    "option_len_ratio",
    "n_options",
    "digit_share",
    "log_question_numbers",
    "operator_share",
    "latex",
    "log_pipes",
    "negation",
    "question_mark",
    "numeric_options",
    "upper_share",
    "quote",
    "log_sentences",
    "option_word_overlap",
    "roman_numerals",
    "blank",
    "mean_word_len",
    "long_word_share",
    "type_token_ratio",
    "capitalised_share",
    "ends_with_colon",
    "first_person",
    "comma_options",
    "code",
]

_OPTION = re.compile(r"^\(?([A-J])[.)] (.*)$", re.M)
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_UPPER = re.compile(r"[A-Z]")
_OPERATOR = re.compile(r"[-+*/=^<>]")
_NUMERIC_OPTION = re.compile(r"[^A-Za-z]*\d[^A-Za-z]*|.{0,3}\d.{0,12}")
# Whole-word markers are looked up in the word list (a set test is far cheaper than a regex).
_NEGATIONS = frozenset({"NOT", "EXCEPT", "LEAST", "FALSE"})
_ROMAN = frozenset({"I", "II", "III", "IV"})
_FIRST_PERSON = frozenset({"I", "my", "me"})
_CODE_SIGNS = ("```", "def ", "return ", "#include", "function ", "{", "};", ";\n")


def prompt_features(prompt: str) -> list[float]:
    """Generic features of one prompt, in the order of :data:`FEATURE_NAMES`.

    The "question" is the text before the first answer option (a line ``A. ...``, ``B) ...``);
    a prompt without options is all question. Nothing here names a subject or benchmark.
    Written for speed (tens of microseconds for a short prompt): few regex passes, word-set
    look-ups instead of ``\\b...\\b`` patterns.

    Args:
        prompt: The prompt text.

    Returns:
        ``len(FEATURE_NAMES)`` floats.
    """
    p = prompt
    n = max(len(p), 1)
    found = list(_OPTION.finditer(p))
    q = p[: found[0].start()] if found else p
    opts = [m.group(2).strip() for m in found]
    lens = [len(o) for o in opts] or [0]
    words = _WORD.findall(p)
    q_words = _WORD.findall(q)
    n_words = max(len(words), 1)
    if opts:
        option_words = [set(_WORD.findall(o.lower())) for o in opts]
        vocabulary = set().union(*option_words)
        overlap = sum(len(w) for w in option_words) / max(len(vocabulary), 1)
        numeric = sum(_NUMERIC_OPTION.fullmatch(o) is not None for o in opts) / len(opts)
        commas = sum("," in o for o in opts) / len(opts)
    else:
        overlap = numeric = commas = 0.0
    return [
        math.log1p(len(p)),
        math.log1p(len(q)),
        math.log1p(len(words)),
        math.log1p(p.count("\n")),
        math.log1p(sum(lens) / len(lens)),
        math.log1p(max(lens)),
        (max(lens) + 1) / (min(lens) + 1),
        float(len(opts)),
        sum(map(p.count, "0123456789")) / n,
        math.log1p(len(_NUMBER.findall(q))),
        len(_OPERATOR.findall(p)) / n,
        float("$" in p or "\\" in p),
        math.log1p(p.count("|")),
        float(not _NEGATIONS.isdisjoint(q_words)),
        float("?" in q),
        numeric,
        len(_UPPER.findall(p)) / n,
        float('"' in q),
        math.log1p(q.count(". ")),
        overlap,
        float(not _ROMAN.isdisjoint(words)),
        float("_" in q),
        sum(map(len, words)) / n_words,
        sum(1 for w in words if len(w) >= 10) / n_words,
        len(set(map(str.lower, words))) / n_words,
        sum(1 for w in q_words if "A" <= w[0] <= "Z") / max(len(q_words), 1),
        float(q.rstrip().endswith(":")),
        float(not _FIRST_PERSON.isdisjoint(q_words)),
        commas,
        float(any(sign in p for sign in _CODE_SIGNS)),
    ]


def feature_matrix(prompts: Sequence[str]) -> np.ndarray:
    """:func:`prompt_features` of every prompt, shape ``(n, len(FEATURE_NAMES))``."""
    if len(prompts) == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.array([prompt_features(p) for p in prompts], dtype=float)


# -------------------------------------------------------------------------------- routers


class Router(Protocol):
    """What every router offers: fit on outcomes, then score prompts (higher = strong)."""

    def fit(
        self,
        prompts: Sequence[str],
        weak_correct: Sequence[float] | np.ndarray,
        strong_correct: Sequence[float] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
    ) -> Router: ...

    def score(self, prompts: Sequence[str]) -> np.ndarray: ...

    def score_one(self, prompt: str) -> float: ...


class RandomRouter:
    """The reference: a uniformly random score (expected APGR 0.5)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def fit(
        self,
        prompts: Sequence[str],
        weak_correct: Sequence[float] | np.ndarray,
        strong_correct: Sequence[float] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
    ) -> RandomRouter:
        """Nothing to learn."""
        return self

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        """Random scores, the same for the same call (seeded)."""
        return np.random.default_rng(self.seed).random(len(prompts))

    def score_one(self, prompt: str) -> float:
        """One random score (a new draw on every call)."""
        return float(self._rng.random())


class LengthRouter:
    """The no-learning baseline: the longer the prompt (in characters), the stronger the model."""

    def fit(
        self,
        prompts: Sequence[str],
        weak_correct: Sequence[float] | np.ndarray,
        strong_correct: Sequence[float] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
    ) -> LengthRouter:
        """Nothing to learn."""
        return self

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        """The prompt lengths."""
        return np.array([len(p) for p in prompts], dtype=float)

    def score_one(self, prompt: str) -> float:
        """The prompt's length."""
        return float(len(prompt))


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


@dataclass(frozen=True)
class BoostingConfig:
    """Fixed settings of the gradient-boosting half of :class:`TextRouter` (not tuned per fold).

    Attributes:
        max_iter: Number of trees.
        learning_rate: Shrinkage of every tree.
        max_leaf_nodes: Leaves per tree.
        min_samples_leaf: Smallest leaf (keeps the trees from memorising rare prompts).
    """

    max_iter: int = 100
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 50


def _inner_splits(
    outcome: np.ndarray, groups: np.ndarray | None, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds: by group when there are at least ``k`` groups, else stratified by outcome."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    idx = np.arange(len(outcome))
    if groups is not None and len(np.unique(groups)) >= k:
        return list(GroupKFold(k, shuffle=True, random_state=seed).split(idx, groups=groups))
    if np.unique(outcome, return_counts=True)[1].min() >= k:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, outcome))
    return list(KFold(k, shuffle=True, random_state=seed).split(idx))


def _forest_source(model: Any) -> str:
    """Python source of ``forest(x)``: a fitted HistGradientBoostingRegressor's prediction for
    one feature list, its trees written out as nested ``if`` statements (numbers only)."""
    baseline = float(np.ravel(model._baseline_prediction)[0])
    lines = ["def forest(x):", f"    s = {baseline!r}"]

    def emit(nodes: np.ndarray, i: int, depth: int) -> None:
        pad = "    " * depth
        if nodes["is_leaf"][i]:
            lines.append(f"{pad}s += {float(nodes['value'][i])!r}")
            return
        feature, threshold = int(nodes["feature_idx"][i]), float(nodes["num_threshold"][i])
        lines.append(f"{pad}if x[{feature}] <= {threshold!r}:")
        emit(nodes, int(nodes["left"][i]), depth + 1)
        lines.append(f"{pad}else:")
        emit(nodes, int(nodes["right"][i]), depth + 1)

    for (tree,) in model._predictors:
        emit(tree.nodes, 0, 1)
    lines.append("    return s")
    return "\n".join(lines)


def _compile_forest(source: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(
        compile(source, "<routing-forest>", "exec"), namespace
    )  # source made by _forest_source: numbers only
    return namespace["forest"]


class TextRouter:
    """The learned router: expected accuracy gain of the strong model from the prompt's text.

    ``score = a + b * ((1 - w) * ridge(tfidf) + w * boosting(features))``, where both halves
    regress ``strong_correct - weak_correct``; ``a, b`` calibrate the blend on the inner
    cross-validation's out-of-fold predictions, so a score estimates
    ``P(strong right) - P(weak right)`` (feed it to :func:`decide`).

    Hyper-parameters: the ridge penalty (``alphas``) and the weight ``w`` (``blend_weights``)
    are chosen by ``inner_folds``-fold cross-validation on the training prompts (mean APGR over
    the inner folds; grouped folds when ``groups`` are passed to :meth:`fit`). The TF-IDF
    settings and :class:`BoostingConfig` are fixed.

    Args:
        alphas: Ridge penalties to choose from.
        blend_weights: Weights of the boosting half to choose from.
        inner_folds: Inner folds (< 2: no inner CV, first grid values, no calibration).
        seed: Seed of the inner folds and the boosting.
        min_df: Smallest number of training prompts an n-gram must appear in.
        ngram_range: Word n-gram sizes.
        boosting: Settings of the boosting half.
    """

    def __init__(
        self,
        alphas: Sequence[float] = (3.0, 10.0, 30.0),
        blend_weights: Sequence[float] = (0.25, 0.5, 0.75),
        inner_folds: int = 3,
        seed: int = 0,
        min_df: int = 2,
        ngram_range: tuple[int, int] = (1, 2),
        boosting: BoostingConfig | None = None,
    ) -> None:
        self.alphas = tuple(float(a) for a in alphas)
        self.blend_weights = tuple(float(w) for w in blend_weights)
        self.inner_folds = inner_folds
        self.seed = seed
        self.min_df = min_df
        self.ngram_range = ngram_range
        self.boosting = boosting or BoostingConfig()
        self.alpha_: float | None = None
        self.blend_: float | None = None
        self.calibration_: tuple[float, float] = (0.0, 1.0)
        self.inner_apgr_: dict[tuple[float, float], float] = {}

    # -- fitting ------------------------------------------------------------------------

    def _boosting(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        b = self.boosting
        return HistGradientBoostingRegressor(
            max_iter=b.max_iter,
            learning_rate=b.learning_rate,
            max_leaf_nodes=b.max_leaf_nodes,
            min_samples_leaf=b.min_samples_leaf,
            early_stopping=False,
            random_state=self.seed,
        )

    def _fit_boosting(self, feats: np.ndarray, y: np.ndarray) -> Any:
        """Fit the boosting half on one OpenMP thread: the trees are small, and spinning
        OpenMP threads on a busy machine made fits ten times slower."""
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        with threadpool_limits(limits=1, user_api="openmp"):
            return self._boosting().fit(feats, y)

    def _fit_vectorizer(self, prompts: list[str]) -> Any:
        """TF-IDF of the training prompts (unsupervised: no outcome is read). With too few
        prompts for ``min_df`` every n-gram is kept; with no n-gram at all (no word of two
        characters) the text half is a zero-column matrix and predicts the mean gain."""
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer

        for min_df in (self.min_df, 1):
            vec = TfidfVectorizer(sublinear_tf=True, min_df=min_df, ngram_range=self.ngram_range)
            try:
                x = vec.fit_transform(prompts)
            except ValueError:  # "no terms remain" / "empty vocabulary"
                continue
            self._vectorizer: Any = vec
            return x
        self._vectorizer = None
        return sparse.csr_matrix((len(prompts), 0))

    @staticmethod
    def _ridges(x: Any, y: np.ndarray, alphas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Ridge fits for several penalties at once: ``(coef (n_alpha, d), intercept)``."""
        from sklearn.linear_model import Ridge

        if x.shape[1] == 0:  # no text features: the mean gain
            return np.zeros((len(alphas), 0)), np.full(len(alphas), float(y.mean()))
        model = Ridge(alpha=np.asarray(alphas), solver="sparse_cg", tol=1e-5)
        model.fit(x, np.tile(y[:, None], (1, len(alphas))))
        return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)

    def fit(
        self,
        prompts: Sequence[str],
        weak_correct: Sequence[float] | np.ndarray,
        strong_correct: Sequence[float] | np.ndarray,
        groups: Sequence[Any] | np.ndarray | None = None,
    ) -> TextRouter:
        """Fit on prompts and both models' correctness.

        Args:
            prompts: Training prompts.
            weak_correct: Whether the weak model answered each correctly (booleans, or graded
                qualities in [0, 1]).
            strong_correct: Whether the strong model answered each correctly (same form).
            groups: Optional group of each prompt (e.g. its source); only shapes the inner
                folds, never a feature.

        Returns:
            ``self``.
        """
        prompts = list(prompts)
        weak = np.asarray(weak_correct, dtype=float).ravel()
        strong = np.asarray(strong_correct, dtype=float).ravel()
        if not len(prompts) == len(weak) == len(strong):
            raise ValueError("prompts, weak_correct and strong_correct differ in length")
        y = strong - weak
        x = self._fit_vectorizer(prompts)
        feats = feature_matrix(prompts)
        alphas, weights = self.alphas, self.blend_weights
        self.alpha_, self.blend_ = alphas[0], weights[0]
        self.calibration_, self.inner_apgr_ = (0.0, 1.0), {}
        if self.inner_folds >= 2:
            g = None if groups is None else np.asarray(groups)
            outcome = 2 * (strong > 0.5) + (weak > 0.5)
            splits = _inner_splits(outcome, g, self.inner_folds, self.seed)
            ridge_oof = np.zeros((len(y), len(alphas)))
            boost_oof = np.zeros(len(y))
            for tr, te in splits:
                coef, icpt = self._ridges(x[tr], y[tr], alphas)
                ridge_oof[te] = x[te] @ coef.T + icpt
                boost_oof[te] = self._fit_boosting(feats[tr], y[tr]).predict(feats[te])
            # APGR is undefined on a fold where both models are equally accurate: skip it.
            scored = [te for _, te in splits if abs(strong[te].mean() - weak[te].mean()) > 1e-9]
            for i, a in enumerate(alphas):
                for w in weights:
                    blend = (1 - w) * ridge_oof[:, i] + w * boost_oof
                    self.inner_apgr_[(a, w)] = float(
                        np.mean([apgr(blend[te], weak[te], strong[te]) for te in scored])
                        if scored
                        else 0.0
                    )
            # First grid cell wins ties (grids are listed from the preferred value on).
            self.alpha_, self.blend_ = max(self.inner_apgr_, key=self.inner_apgr_.__getitem__)
            i = alphas.index(self.alpha_)
            blend = (1 - self.blend_) * ridge_oof[:, i] + self.blend_ * boost_oof
            slope, intercept = np.polyfit(blend, y, 1) if np.ptp(blend) > 0 else (1.0, 0.0)
            if slope > 0:
                self.calibration_ = (float(intercept), float(slope))
        coef, icpt = self._ridges(x, y, [self.alpha_])
        self._coef, self._intercept = coef[0], float(icpt[0])
        self._boost = self._fit_boosting(feats, y)
        self._build_fast_path(feats[:64])
        return self

    def _build_fast_path(self, check_rows: np.ndarray) -> None:
        self._table: dict[str, tuple[float, float]] = {}
        if self._vectorizer is not None:
            terms = self._vectorizer.get_feature_names_out().tolist()
            pairs = zip(self._vectorizer.idf_.tolist(), self._coef.tolist(), strict=True)
            self._table = dict(zip(terms, pairs, strict=True))
        self._forest_src: str | None = None
        self._forest: Any = None
        try:
            src = _forest_source(self._boost)
            forest = _compile_forest(src)
            want = self._boost.predict(check_rows)
            got = np.array([forest(row.tolist()) for row in check_rows])
            if np.allclose(got, want, rtol=0, atol=1e-9):
                self._forest_src, self._forest = src, forest
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, RecursionError):
            pass  # scikit-learn internals changed: score_one falls back to predict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_forest"] = None  # a compiled function does not pickle; rebuilt from source
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.__dict__.get("_forest_src"):
            self._forest = _compile_forest(self._forest_src)

    # -- scoring ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_boost"):
            raise RuntimeError("TextRouter is not fitted")

    def components(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The two uncalibrated halves: ``(ridge on n-grams, boosting on features)``."""
        self._check_fitted()
        prompts = list(prompts)
        if self._vectorizer is None:
            ridge = np.full(len(prompts), self._intercept)
        else:
            ridge = self._vectorizer.transform(prompts) @ self._coef + self._intercept
        boost = self._boost.predict(feature_matrix(prompts)) if prompts else np.zeros(0)
        return np.asarray(ridge, dtype=float), boost

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        """Expected accuracy gain of the strong model for each prompt (batch path).

        Args:
            prompts: Prompts to score.

        Returns:
            One calibrated score per prompt (higher = send to the strong model).
        """
        ridge, boost = self.components(prompts)
        a, b = self.calibration_
        return a + b * ((1 - self.blend_) * ridge + self.blend_ * boost)

    def score_one(self, prompt: str) -> float:
        """:meth:`score` of one prompt without NumPy or SciPy (the low-latency path).

        Args:
            prompt: The prompt.

        Returns:
            The same value as ``score([prompt])[0]`` (to floating-point rounding).
        """
        self._check_fitted()
        tokens = _TOKEN.findall(prompt.lower())
        lo, hi = self.ngram_range
        counts: Counter[str] = Counter(tokens if lo == 1 else ())
        for size in range(max(lo, 2), hi + 1):
            counts.update(map(" ".join, zip(*(tokens[k:] for k in range(size)), strict=False)))
        table = self._table
        dot = norm = 0.0
        for gram, c in counts.items():
            entry = table.get(gram)
            if entry is not None:
                v = (1.0 + math.log(c)) * entry[0]
                norm += v * v
                dot += v * entry[1]
        ridge = self._intercept + (dot / math.sqrt(norm) if norm > 0 else 0.0)
        feats = prompt_features(prompt)
        if self._forest is not None:
            boost = self._forest(feats)
        else:
            boost = float(self._boost.predict(np.array([feats]))[0])
        a, b = self.calibration_
        return a + b * ((1 - self.blend_) * ridge + self.blend_ * boost)
