"""The fetch-route model in use: training a challenger on the fetch history, scoring the
champion on the same held-out rows, and turning the champion into the bandit's priors.

Pure domain code: the model registry (MLflow) is reached through the ``tracking`` resource by
the assets; here a model is any fitted pipeline with ``predict_proba`` over
:data:`ml.route_success.FEATURES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ml.route_success import FEATURES, Evaluation, evaluate, fit, next_features, time_split

HISTORY_FEATURES = ("hist_n", "hist_rate", "hist_rate_http", "hist_rate_browser")

__all__ = [
    "DEFAULT_COSTS",
    "EXPERIMENT",
    "MIN_ROWS",
    "MODEL_NAME",
    "Challenger",
    "decision_errors",
    "model_prior",
    "site_histories",
    "train_challenger",
]

MODEL_NAME = "route_success"
"""The registered model: ``route_success@champion`` is what crawls use."""
EXPERIMENT = "routing"
"""The MLflow experiment of the routing models."""
DEFAULT_COSTS: Mapping[str, float] = {"http": 1.0, "browser": 4.0}
"""Cost per call of each route (the bandit's costs)."""
MIN_ROWS = 40
"""Fewer informative attempts than this: no challenger is trained."""


@dataclass(frozen=True)
class Challenger:
    """A model trained on the earlier history and scored on the later rows."""

    model: Any
    evaluation: Evaluation
    train: pd.DataFrame
    test: pd.DataFrame


def train_challenger(
    rows: pd.DataFrame, *, held_out: float = 0.3, c: float = 1.0
) -> tuple[Challenger | None, str]:
    """A challenger fitted on the earlier part of training ``rows`` (see
    :func:`ml.route_success.training_set`) and scored on the later part.

    Returns:
        ``(challenger, why)``; the challenger is None, and ``why`` says why, when there are
        fewer than :data:`MIN_ROWS` rows, or one class only in the earlier or the later part.
    """
    rows = rows.sort_values("attempted_at", kind="stable").reset_index(drop=True)
    if len(rows) < MIN_ROWS:
        return None, f"{len(rows)} informative attempts; at least {MIN_ROWS} needed"
    train, test = time_split(rows, held_out)
    if train["success"].nunique() < 2 or test["success"].nunique() < 2:
        return None, "the history holds successes only or failures only"
    model = fit(train, c=c)
    return Challenger(model, evaluate(model, train, test), train, test), "trained"


def site_histories(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per site (host) and route, the history features a next attempt would have, as of the
    end of the training ``rows``: travels with the model (its config) so a crawl can ask the
    model about a site's next page."""
    out: dict[str, dict[str, Any]] = {}
    if not len(rows):
        return out
    for site in sorted(rows["site"].unique()):
        for route in sorted(rows["route"].unique()):
            f = next_features(rows, site, route, "/")
            out[f"{route}@{site}"] = {k: f[k] for k in HISTORY_FEATURES}
    return out


def model_prior(
    model: Any, histories: Mapping[str, Mapping[str, Any]] | None = None, *, strength: float = 4.0
) -> Callable[[str, str], tuple[float, float] | None]:
    """The bandit's prior for a (site, route) from the model: its predicted success ``p`` for
    the site's next page, with the site's history as of training (``histories``, from
    :func:`site_histories`; a site it never saw has none), as
    ``(1 + strength·p, 1 + strength·(1 − p))``.

    Args:
        model: a fitted route model (``predict_proba`` over ``FEATURES``).
        histories: ``route@host`` -> history features, from the model's config.
        strength: how many observations the model's opinion is worth.
    """
    histories = histories or {}
    cache: dict[tuple[str, str], tuple[float, float]] = {}

    def prior(site: str, route: str) -> tuple[float, float] | None:
        key = (site, route)
        if key not in cache:
            host = urlsplit(site).netloc or site
            row = next_features(pd.DataFrame(), host, route, site.rstrip("/") + "/")
            row.update(histories.get(f"{route}@{host}", {}))
            p = float(model.predict_proba(pd.DataFrame([row])[FEATURES])[0, 1])
            cache[key] = (1.0 + strength * p, 1.0 + strength * (1.0 - p))
        return cache[key]

    return prior


def decision_errors(model: Any, rows: pd.DataFrame) -> tuple[int, float]:
    """How often the model's call (success when its predicted probability is at least 0.5)
    disagreed with what happened, on training ``rows`` it did not see.

    Returns:
        ``(n, share wrong)``; ``(0, 0.0)`` without rows.
    """
    if not len(rows):
        return 0, 0.0
    p = model.predict_proba(rows[FEATURES])[:, 1]
    wrong = (p >= 0.5).astype(int) != rows["success"].astype(int).to_numpy()
    return len(rows), float(wrong.mean())
