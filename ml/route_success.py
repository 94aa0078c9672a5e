"""A model of each fetch route's success, trained on the platform's own fetch history.

Training rows are fetch attempts (``market_research.fetch_attempts``): per attempt, only what
was known before the decision, and the outcome.

* **Features** (:data:`FEATURES`): the route, the site, the pair of both (a route can fail at
  one site only), URL features (path depth, file
  extension, query string, words of the path that say "product", "category", "search"...), and
  the route's recent history at that site **as of that moment**: the share of successes and the
  number of the previous attempts (strictly earlier ``attempted_at``; ties broken by row order).
  :func:`training_set` is causal by construction: a row's features depend only on earlier rows,
  which the leakage test checks by building the set with the later rows removed.
* **Outcomes**: ``success`` (the page came back usable by that route: ``ok`` and, for plain
  HTTP, not a JavaScript shell), ``latency_s`` and ``cost`` (the route's cost per call).
  Attempts that say nothing about the route (a dead link, a page the policy refused) are left
  out, as the router leaves them out.

The model (:func:`fit`) is a logistic regression on one-hot site/route/extension columns,
route × history interactions and the URL features: small, fast and calibrated enough to be a
bandit's prior. :func:`evaluate` scores it on a later slice of time (no shuffling: a route
model is used on the future), against the baseline of each route's success rate in the training
slice: log loss, Brier score, accuracy and AUC.

:func:`promotion_decision` is the champion/challenger rule: a challenger replaces the champion
only when its held-out log loss is lower by at least ``margin`` on the same held-out rows.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "NUMERIC",
    "Evaluation",
    "evaluate",
    "fit",
    "next_features",
    "promotion_decision",
    "route_outcome",
    "time_split",
    "training_set",
    "url_features",
]

CATEGORICAL = ["route", "site", "route_site", "ext"]
NUMERIC = [
    "depth",
    "has_query",
    "kw_product",
    "kw_listing",
    "kw_search",
    "hist_n",
    "hist_rate",
    "hist_rate_http",
    "hist_rate_browser",
]
FEATURES = CATEGORICAL + NUMERIC
"""The columns a model may read: all known before the route is chosen."""

HISTORY = 10
"""How many previous attempts of a route at a site the history features look at."""

_NEUTRAL = {"not_found", "too_large", "non_html", "redirect_loop", "too_many_redirects", "blocked"}
_KW = {
    "kw_product": re.compile(r"product|item|/p/|/dp/|sku|detail", re.I),
    "kw_listing": re.compile(r"categor|collection|shop|catalog|list|page=|/c/", re.I),
    "kw_search": re.compile(r"search|query|[?&]q=|[?&]k=", re.I),
}


def url_features(url: str) -> dict[str, Any]:
    """Features of a URL: path depth, extension, query string, path keywords."""
    parts = urlsplit(url)
    path = parts.path or "/"
    segs = [s for s in path.split("/") if s]
    last = segs[-1] if segs else ""
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    out: dict[str, Any] = {
        "depth": len(segs),
        "has_query": int(bool(parts.query)),
        "ext": ext
        if ext in ("html", "htm", "php", "aspx", "jsp")
        else ("" if not ext else "other"),
    }
    text = path + ("?" + parts.query if parts.query else "")
    out.update({k: int(bool(rx.search(text))) for k, rx in _KW.items()})
    return out


def route_outcome(row: Mapping[str, Any]) -> int | None:
    """1 when the attempt says the route works for the page, 0 when it failed, None when it
    says nothing about the route (dead link, refused URL, not HTML...)."""
    outcome = str(row.get("outcome") or "")
    if outcome == "ok":
        return 0 if (row.get("route") == "http" and bool(row.get("needs_javascript"))) else 1
    if outcome in _NEUTRAL:
        return None
    if outcome == "http_error":
        status = row.get("status")
        if status is None or pd.isna(status):
            return 0
        return 0 if int(status) >= 500 or int(status) in (403, 429) else None
    return 0  # timeout, error


def training_set(attempts: pd.DataFrame, costs: Mapping[str, float]) -> pd.DataFrame:
    """One row per informative attempt: features known before it, then its outcomes.

    Args:
        attempts: fetch attempts (``url``, ``site``, ``route``, ``outcome``, ``status``,
            ``needs_javascript``, ``latency_s``, ``attempted_at``; ``crawl_id`` optional).
        costs: cost per call of each route.

    Returns:
        Columns ``attempted_at``, :data:`FEATURES`, ``success``, ``latency_s``, ``cost``,
        ``crawl_id``, ``url``, in time order.
    """
    cols = ["attempted_at", *FEATURES, "success", "latency_s", "cost", "crawl_id", "url"]
    if not len(attempts):
        return pd.DataFrame(columns=cols)
    df = attempts.copy()
    df["_order"] = np.arange(len(df))
    df = df.sort_values(["attempted_at", "_order"], kind="stable")
    hist: dict[tuple[str, str], deque[int]] = defaultdict(lambda: deque(maxlen=HISTORY))
    rows = []
    for r in df.to_dict("records"):
        site, route = str(r["site"]), str(r["route"])
        y = route_outcome(r)
        own = hist[(site, route)]
        h_http, h_browser = hist[(site, "http")], hist[(site, "browser")]
        if y is not None:
            rows.append(
                {
                    "attempted_at": r["attempted_at"],
                    "route": route,
                    "site": urlsplit(site).netloc or site,
                    "route_site": f"{route}@{urlsplit(site).netloc or site}",
                    **url_features(str(r["url"])),
                    "hist_n": len(own),
                    "hist_rate": float(np.mean(own)) if own else 0.5,
                    "hist_rate_http": float(np.mean(h_http)) if h_http else 0.5,
                    "hist_rate_browser": float(np.mean(h_browser)) if h_browser else 0.5,
                    "success": y,
                    "latency_s": float(r.get("latency_s") or 0.0),
                    "cost": float(costs.get(route, 0.0)),
                    "crawl_id": r.get("crawl_id"),
                    "url": r["url"],
                }
            )
            own.append(y)  # only after the row's own features were taken
    return pd.DataFrame(rows, columns=cols)


def next_features(rows: pd.DataFrame, site: str, route: str, url: str) -> dict[str, Any]:
    """The features of a next attempt by ``route`` at ``site`` (host) for ``url``, with the
    history as of the end of ``rows`` (training rows in time order): what a router knows when
    it asks the model about the next page."""
    mine = rows[rows["site"] == site] if len(rows) else rows

    def rate(r: str) -> tuple[int, float]:
        last = mine.loc[mine["route"] == r, "success"].tail(HISTORY) if len(mine) else []
        return len(last), (float(np.mean(last)) if len(last) else 0.5)

    n, own = rate(route)
    return {
        "route": route,
        "site": site,
        "route_site": f"{route}@{site}",
        **url_features(url),
        "hist_n": n,
        "hist_rate": own,
        "hist_rate_http": rate("http")[1],
        "hist_rate_browser": rate("browser")[1],
    }


def fit(train: pd.DataFrame, *, c: float = 1.0) -> Pipeline:
    """A logistic regression of ``success`` on :data:`FEATURES` (one-hot categoricals).

    Raises:
        ValueError: the training rows hold a single class.
    """
    if train["success"].nunique() < 2:
        raise ValueError("the training rows need successes and failures")
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", "passthrough", NUMERIC),
        ]
    )
    model = Pipeline([("features", pre), ("logit", LogisticRegression(C=c, max_iter=2000))])
    model.fit(train[FEATURES], train["success"].astype(int))
    return model


@dataclass(frozen=True)
class Evaluation:
    """Held-out figures of a model and of the per-route-rate baseline on the same rows."""

    n: int
    log_loss: float
    brier: float
    accuracy: float
    auc: float | None
    baseline_log_loss: float
    baseline_brier: float

    def as_dict(self) -> dict[str, float]:
        """The figures, for metrics and metadata (AUC left out when undefined)."""
        out = {
            "n": float(self.n),
            "log_loss": self.log_loss,
            "brier": self.brier,
            "accuracy": self.accuracy,
            "baseline_log_loss": self.baseline_log_loss,
            "baseline_brier": self.baseline_brier,
        }
        if self.auc is not None:
            out["auc"] = self.auc
        return out


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, 1e-4, 1 - 1e-4)


def evaluate(model: Any, train: pd.DataFrame, test: pd.DataFrame) -> Evaluation:
    """Score ``model`` on ``test`` against each route's success rate in ``train``."""
    y = test["success"].astype(int).to_numpy()
    p = _clip(model.predict_proba(test[FEATURES])[:, 1])
    rates = train.groupby("route")["success"].mean()
    overall = float(train["success"].mean())
    b = _clip(test["route"].map(rates).fillna(overall).to_numpy(dtype=float))
    auc = float(roc_auc_score(y, p)) if len(set(y)) == 2 else None
    return Evaluation(
        n=len(test),
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        brier=float(brier_score_loss(y, p)),
        accuracy=float(((p >= 0.5).astype(int) == y).mean()),
        auc=auc,
        baseline_log_loss=float(log_loss(y, b, labels=[0, 1])),
        baseline_brier=float(brier_score_loss(y, b)),
    )


def time_split(rows: pd.DataFrame, held_out: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earlier ``1 - held_out`` of the rows to train on, the later rest to test on."""
    cut = int(round(len(rows) * (1 - held_out)))
    return rows.iloc[:cut], rows.iloc[cut:]


def promotion_decision(
    challenger: Evaluation | None, champion: Evaluation | None, *, margin: float = 0.01
) -> tuple[bool, str]:
    """Whether the challenger replaces the champion, and why.

    The challenger must beat the per-route baseline; then, when there is a champion scored on
    the same held-out rows, its log loss must be lower by at least ``margin``.
    """
    if challenger is None:
        return False, "no challenger: too little history to train on"
    if challenger.log_loss >= challenger.baseline_log_loss:
        return False, (
            f"challenger log loss {challenger.log_loss:.4f} does not beat the per-route "
            f"baseline {challenger.baseline_log_loss:.4f}"
        )
    if champion is None:
        return True, (
            f"no champion yet; challenger log loss {challenger.log_loss:.4f} beats the "
            f"baseline {challenger.baseline_log_loss:.4f}"
        )
    gain = champion.log_loss - challenger.log_loss
    if gain >= margin:
        return True, (
            f"challenger log loss {challenger.log_loss:.4f} is {gain:.4f} below the champion's "
            f"{champion.log_loss:.4f} (margin {margin})"
        )
    return False, (
        f"challenger log loss {challenger.log_loss:.4f} vs champion {champion.log_loss:.4f}: "
        f"gain {gain:.4f} is under the margin {margin}"
    )
