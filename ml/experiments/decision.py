"""When a winning variant becomes the default strategy, and when it must wait.

:func:`decide_winner` promotes a variant only when all of these hold, and otherwise answers "no
winner yet" with the reason:

1. the split of units matches the weights (no sample-ratio mismatch, when a check is given);
2. if the results were looked at before the planned end ("peeked"), they are sequential
   (always-valid): a fixed-horizon p-value read repeatedly is not a valid test;
3. its primary-metric effect is significant after correcting for the number of variants
   compared (Holm by default) and in the good direction, and at least ``min_effect`` large;
4. none of its guardrail metrics is significantly harmed. Guardrail p-values are *not*
   corrected: a correction would make harm harder to detect, the wrong way round for a guard.

Among several qualifying variants the one with the largest effect wins; a variant that wins the
primary metric but harms a guardrail is passed over, and the reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ml.experiments.checks import Correction, SrmResult, adjust_p_values
from ml.experiments.effects import EffectResult

__all__ = ["Decision", "GuardrailResult", "decide_winner"]


@dataclass(frozen=True)
class GuardrailResult:
    """A guardrail metric's effect for one variant against the control.

    Attributes:
        metric: The guardrail's name (e.g. ``"unsubscribe_rate"``).
        result: Its test against the control (Welch or sequential).
        higher_is_better: ``False`` for metrics where an increase is harm (cost, latency,
            error or unsubscribe rates).
    """

    metric: str
    result: EffectResult
    higher_is_better: bool = True

    def harmed(self, alpha: float) -> bool:
        """Whether the metric moved significantly (p < ``alpha``) in the harmful direction."""
        est = float(self.result.estimate)
        worse = est < 0 if self.higher_is_better else est > 0
        return worse and float(self.result.p_value) < alpha


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide_winner`.

    Attributes:
        winner: The variant to make the default, or ``None`` ("no winner yet").
        reason: Why, in one sentence a person can act on.
        adjusted_p_values: Primary-metric p-value of each variant after the correction.
        effects: Primary-metric effect estimate of each variant.
        failed_guardrails: Per variant passed over for harm, the guardrails it harmed.
    """

    winner: str | None
    reason: str
    adjusted_p_values: Mapping[str, float] = field(default_factory=dict)
    effects: Mapping[str, float] = field(default_factory=dict)
    failed_guardrails: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def has_winner(self) -> bool:
        """Whether a variant is promoted."""
        return self.winner is not None


def decide_winner(
    results: Mapping[str, EffectResult],
    guardrails: Mapping[str, Sequence[GuardrailResult]],
    *,
    alpha: float,
    min_effect: float = 0.0,
    correction: Correction = "holm",
    peeked: bool = False,
    higher_is_better: bool = True,
    srm: SrmResult | None = None,
) -> Decision:
    """Decide whether a variant replaces the control as the default strategy.

    Args:
        results: Per treatment variant, its primary-metric test against the control.
        guardrails: Per treatment variant, its guardrail tests against the control. A variant
            missing here while others have guardrails cannot win (its guardrails are unknown);
            an empty mapping means the experiment has no guardrails.
        alpha: Significance level for the primary metric (after correction) and guardrails.
        min_effect: Smallest effect worth shipping, in the primary result's unit (a share of
            the control for relative effects); the estimate must reach it.
        correction: Multiple-testing correction across the variants: ``"holm"``, ``"bh"`` or
            ``"none"``.
        peeked: The results were (or may have been) looked at before the planned end; they
            must then be sequential.
        higher_is_better: Direction of the primary metric.
        srm: A sample-ratio-mismatch check of the experiment, if one was run.
    """
    if srm is not None and srm.mismatch:
        return Decision(
            None,
            f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): assignment or "
            "logging is broken, results cannot be trusted",
        )
    if not results:
        return Decision(None, "no variant results")
    names = list(results)
    effects = {v: float(results[v].estimate) for v in names}
    adjusted = dict(
        zip(
            names,
            adjust_p_values([float(results[v].p_value) for v in names], correction),
            strict=True,
        )
    )
    if peeked:
        fixed = [v for v in names if results[v].method != "sequential"]
        if fixed:
            return Decision(
                None,
                f"the experiment was peeked but {', '.join(fixed)} has fixed-horizon results, "
                "which are not valid under peeking: use sequential_ttest",
                adjusted,
                effects,
            )
    sign = 1.0 if higher_is_better else -1.0
    significant = [v for v in names if adjusted[v] < alpha and sign * effects[v] > 0]
    if not significant:
        detail = "; ".join(f"{v}: effect {effects[v]:+.4g}, p = {adjusted[v]:.3g}" for v in names)
        return Decision(
            None,
            f"no variant is significantly better at alpha {alpha:g} ({correction}): {detail}",
            adjusted,
            effects,
        )
    candidates = [v for v in significant if sign * effects[v] >= min_effect]
    if not candidates:
        detail = ", ".join(f"{v} ({effects[v]:+.4g})" for v in significant)
        return Decision(
            None,
            f"significant but smaller than the minimum effect {min_effect:g}: {detail}",
            adjusted,
            effects,
        )
    failed: dict[str, tuple[str, ...]] = {}
    for v in sorted(candidates, key=lambda x: sign * effects[x], reverse=True):
        if guardrails and v not in guardrails:
            failed[v] = ("<guardrail results missing>",)
            continue
        harmed = tuple(g.metric for g in guardrails.get(v, ()) if g.harmed(alpha))
        if harmed:
            failed[v] = harmed
            continue
        n_guard = len(guardrails.get(v, ()))
        skipped = "".join(
            f"; {w} passed over (guardrails harmed: {', '.join(m)})" for w, m in failed.items()
        )
        return Decision(
            v,
            f"{v} wins: effect {effects[v]:+.4g}, adjusted p = {adjusted[v]:.3g} < {alpha:g}, "
            f"{n_guard} guardrail(s) pass{skipped}",
            adjusted,
            effects,
            failed,
        )
    detail = "; ".join(f"{w}: {', '.join(m)}" for w, m in failed.items())
    return Decision(
        None,
        f"every significant variant harms a guardrail ({detail})",
        adjusted,
        effects,
        failed,
    )
