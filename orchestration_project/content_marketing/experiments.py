"""A/B experiments of content strategies: per experiment (a brief on a channel), the strategies
are the variants, the control is the first (``templated``). From the site's events (exposures,
clicks, unsubscribes per unit) this module builds per-arm statistics, tests every variant
against the control (:mod:`ml.experiments`: sequential tests, since the calendar reads the
results every day; Bayesian chance to win; a sample-ratio check), decides whether a winner
becomes the default, and when there is none yet chooses the strategy to use meanwhile.

The meanwhile choice is the cost-aware Thompson-sampling router (:class:`ml.bandit.
RouteBandit`): each strategy's click rate has a Beta posterior from its clicks and exposures,
one draw per strategy, value per click × draw − cost per exposure; the best wins. It moves
traffic to what looks better while the test gathers evidence, and it names its version in every
decision (:data:`ROUTER_VERSION`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ml.bandit import RouteBandit
from ml.experiments import (
    ArmStats,
    Decision,
    GuardrailResult,
    bayesian_test,
    decide_winner,
    sequential_ttest,
    srm_check,
)

ROUTER_VERSION = "content-strategy-ts-v1"
PRIMARY = "click_rate"
GUARDRAIL = "unsubscribe_rate"


@dataclass(frozen=True)
class Analysis:
    """One experiment's analysis.

    Attributes:
        experiment: its key.
        arms: per variant: ``variant, strategy, units, clicks, click_rate, unsubscribes,
            unsubscribe_rate``, and against the control: ``effect`` (relative), ``ci_low``,
            ``ci_high``, ``p_value`` (always valid), ``chance_to_win``.
        srm_p_value: the sample-ratio check's p-value (equal split expected).
        decision: the decision policy's outcome.
    """

    experiment: str
    arms: pd.DataFrame
    srm_p_value: float
    decision: Decision


def arm_table(events: pd.DataFrame, variants: Sequence[str]) -> pd.DataFrame:
    """Per variant: exposed units, and of them those who clicked and who unsubscribed (a unit
    counts once per kind; an event without an exposure is ignored)."""
    rows = []
    exposed = events[events["kind"] == "exposure"]
    for v in variants:
        units = set(exposed.loc[exposed["variant"] == v, "uid"])
        mine = events[(events["variant"] == v) & events["uid"].isin(units)]
        clicks = mine.loc[mine["kind"] == "click", "uid"].nunique()
        unsubs = mine.loc[mine["kind"] == "unsubscribe", "uid"].nunique()
        n = len(units)
        rows.append(
            {
                "variant": v,
                "strategy": v.split("-", 1)[-1],
                "units": n,
                "clicks": clicks,
                "click_rate": clicks / n if n else 0.0,
                "unsubscribes": unsubs,
                "unsubscribe_rate": unsubs / n if n else 0.0,
            }
        )
    return pd.DataFrame(rows)


def _stats(n: int, successes: int) -> ArmStats:
    return ArmStats.from_sums(successes, successes, n)  # a 0/1 metric: sum of squares = sum


def analyse(
    experiment: str,
    events: pd.DataFrame,
    variants: Sequence[str],
    *,
    alpha: float = 0.05,
    planned_units: int = 6000,
    min_effect: float = 0.0,
) -> Analysis:
    """Test every variant against the control (``variants[0]``) and decide.

    Args:
        experiment: the experiment's key.
        events: ``uid, variant, kind`` (``exposure``, ``click``, ``unsubscribe``).
        variants: the variants, control first.
        alpha: significance level.
        planned_units: the planned total units (the sequential test is tightest there).
        min_effect: the smallest relative lift worth switching for.
    """
    arms = arm_table(events, variants)
    control = arms.iloc[0]
    a = _stats(int(control["units"]), int(control["clicks"]))
    a_unsub = _stats(int(control["units"]), int(control["unsubscribes"]))
    results, guards, extra = {}, {}, []
    for _, arm in arms.iloc[1:].iterrows():
        b = _stats(int(arm["units"]), int(arm["clicks"]))
        seq = sequential_ttest(a, b, difference="relative", alpha=alpha, tuning=planned_units)
        bayes = bayesian_test(a, b, difference="relative", alpha=alpha)
        unsub = sequential_ttest(
            a_unsub,
            _stats(int(arm["units"]), int(arm["unsubscribes"])),
            difference="absolute",
            alpha=alpha,
            tuning=planned_units,
        )
        results[arm["variant"]] = seq
        guards[arm["variant"]] = [GuardrailResult(GUARDRAIL, unsub, higher_is_better=False)]
        extra.append(
            {
                "variant": arm["variant"],
                "effect": float(seq.estimate),
                "ci_low": float(seq.ci[0]),
                "ci_high": float(seq.ci[1]),
                "p_value": float(seq.p_value),
                "chance_to_win": float(bayes.chance_to_win),
            }
        )
    srm = srm_check(arms["units"].tolist()) if len(arms) > 1 else None
    arms = arms.merge(
        pd.DataFrame(
            extra, columns=["variant", "effect", "ci_low", "ci_high", "p_value", "chance_to_win"]
        ),
        on="variant",
        how="left",
    )
    if len(arms) < 2:
        decision = Decision(None, "one variant only: nothing to compare")
    elif arms["units"].min() < 2:
        decision = Decision(None, "not enough units yet in every variant")
    else:
        decision = decide_winner(
            results, guards, alpha=alpha, min_effect=min_effect, peeked=True, srm=srm
        )
    return Analysis(experiment, arms, srm.p_value if srm else 1.0, decision)


def choose_strategy(
    analysis: Analysis,
    *,
    costs: Mapping[str, float] | None = None,
    value_per_click: float = 1.0,
    seed: int = 0,
) -> tuple[str, str]:
    """The strategy to use by default from now on, and why.

    The experiment's winner when there is one; otherwise the Thompson-sampling router's pick
    over the strategies' click-rate posteriors (Beta(1 + clicks, 1 + non-clicks)) net of their
    cost per exposure. The reason names :data:`ROUTER_VERSION` when the router chose.
    """
    arms = analysis.arms
    if analysis.decision.winner is not None:
        strategy = analysis.decision.winner.split("-", 1)[-1]
        return strategy, f"experiment winner: {analysis.decision.reason}"
    counts = {r["strategy"]: (int(r["clicks"]), int(r["units"])) for _, r in arms.iterrows()}
    bandit = RouteBandit(
        routes=tuple(counts),
        costs=dict(costs or {}),
        value=value_per_click,
        seed=seed,
        prior_fn=lambda _ctx, s: (1.0 + counts[s][0], 1.0 + counts[s][1] - counts[s][0]),
    )
    pick = bandit.choose(analysis.experiment)
    return pick.route, (
        f"[{ROUTER_VERSION}] no winner yet ({analysis.decision.reason}); {pick.reason()}"
    )


__all__ = [
    "GUARDRAIL",
    "PRIMARY",
    "ROUTER_VERSION",
    "Analysis",
    "analyse",
    "arm_table",
    "choose_strategy",
]
