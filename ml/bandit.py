"""Online route choice: Thompson sampling over Beta posteriors that forget, with costs.

Why this and not a fixed rule: a rule picks the cheap route until something else (a person, a
breaker) says otherwise; a route that starts failing part-way through a crawl keeps getting
traffic. A bandit keeps a posterior of each route's success per context (a site) and samples
from it, so traffic moves to the route that works as soon as the evidence says so, and a
recovered route wins its traffic back.

* **Thompson sampling** (Thompson 1933; Chapelle & Li, "An Empirical Evaluation of Thompson
  Sampling", NeurIPS 2011): per (context, route) a Beta(α, β) posterior of the success
  probability; each decision draws one sample per allowed route and takes the best utility.
* **Forgetting** (discounted Thompson sampling, Raj & Kalyani 2017): before each update the
  route's observed counts (not the prior) are multiplied by ``discount`` (0.85 → an effective
  memory of about 7 outcomes),
  so a route that degrades mid-run loses its traffic within a few decisions instead of having to
  outweigh its whole history.
* **Costs**: utility = ``value`` × sampled success − cost of the route. ``value`` is the
  willingness to pay for one successful outcome in the cost's unit; with HTTP at 1 and the
  browser at 5, the browser is chosen only when its success is expected to be at least
  4 / ``value`` higher.
* **Priors** come from the rule the bandit replaces: new contexts start from the prior of each
  route (``prior_successes``/``prior_failures``), so the first decisions are the rule's.
* **Evidence for a breaker**: :meth:`RouteBandit.failing` says when a route's posterior mean has
  fallen below a threshold, or its latest outcomes are all failures, after enough outcomes; the
  caller may open a breaker.

Pure Python and ``random.Random``: no numpy, one decision costs a few microseconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["BetaArm", "Decision", "RouteBandit"]


@dataclass
class BetaArm:
    """A Beta posterior of a route's success in one context.

    Attributes:
        alpha: pseudo-count of successes (prior included).
        beta: pseudo-count of failures (prior included).
        n: outcomes seen (undiscounted).
        streak: failures in a row, up to the latest outcome.
        prior_alpha: the prior's successes (what forgetting returns to).
        prior_beta: the prior's failures.
    """

    alpha: float
    beta: float
    n: int = 0
    streak: int = 0
    prior_alpha: float = 1.0
    prior_beta: float = 1.0

    @property
    def mean(self) -> float:
        """The posterior mean success probability."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def weight(self) -> float:
        """The posterior's effective number of observations (α + β)."""
        return self.alpha + self.beta


@dataclass(frozen=True)
class Decision:
    """One choice: the route, the sampled utilities and the posterior means behind it."""

    route: str
    samples: Mapping[str, float]
    means: Mapping[str, float]

    def reason(self) -> str:
        """A one-line rationale, e.g. ``bandit: http 0.93 (drew 0.88), browser 0.75 ...``."""
        parts = ", ".join(
            f"{r} {self.means[r]:.2f} (utility {self.samples[r]:.2f})" for r in sorted(self.means)
        )
        return f"bandit chose {self.route}: {parts}"


@dataclass
class RouteBandit:
    """Discounted Thompson sampling over routes, per context, with route costs.

    Args:
        routes: the routes (arms).
        costs: cost of one call per route (same unit as ``value``); missing routes cost 0.
        value: willingness to pay for one successful outcome.
        discount: multiplier of a route's counts before each of its updates (1 = no
            forgetting).
        prior_successes: per route, the prior pseudo-count of successes.
        prior_failures: per route, the prior pseudo-count of failures.
        seed: the random seed (decisions are reproducible for a given sequence of calls).
        prior_fn: ``(context, route) -> (successes, failures)``, a prior per context (e.g. from
            a model of each route's success at each site); None or a None answer: the route's
            prior above.
    """

    routes: tuple[str, ...]
    costs: Mapping[str, float] = field(default_factory=dict)
    value: float = 10.0
    discount: float = 0.85
    prior_successes: Mapping[str, float] = field(default_factory=dict)
    prior_failures: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    prior_fn: Callable[[str, str], tuple[float, float] | None] | None = None
    _arms: dict[tuple[str, str], BetaArm] = field(default_factory=dict, init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.routes:
            raise ValueError("a bandit needs at least one route")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], not {self.discount}")
        self._rng = random.Random(self.seed)

    def arm(self, context: str, route: str) -> BetaArm:
        """The posterior of ``route`` in ``context`` (created from the prior on first use)."""
        key = (context, route)
        arm = self._arms.get(key)
        if arm is None:
            prior = self.prior_fn(context, route) if self.prior_fn is not None else None
            a, b = prior or (
                float(self.prior_successes.get(route, 1.0)),
                float(self.prior_failures.get(route, 1.0)),
            )
            arm = BetaArm(float(a), float(b), prior_alpha=float(a), prior_beta=float(b))
            self._arms[key] = arm
        return arm

    def choose(self, context: str, allowed: Iterable[str] | None = None) -> Decision:
        """Draw one success sample per allowed route; take the best value × sample − cost.

        Args:
            context: e.g. the site.
            allowed: the routes that may be used now (an open breaker removes one); all
                routes when None. When none is allowed, all are (the caller decides what a
                forced call means).

        Returns:
            The decision (ties go to the cheaper route, then to the order of ``routes``).
        """
        routes = [r for r in self.routes if allowed is None or r in set(allowed)] or list(
            self.routes
        )
        samples, means = {}, {}
        for r in routes:
            arm = self.arm(context, r)
            draw = self._rng.betavariate(arm.alpha, arm.beta)
            samples[r] = self.value * draw - float(self.costs.get(r, 0.0))
            means[r] = arm.mean
        best = max(
            routes,
            key=lambda r: (samples[r], -float(self.costs.get(r, 0.0)), -routes.index(r)),
        )
        return Decision(best, samples, means)

    def update(self, context: str, route: str, reward: float) -> BetaArm:
        """Learn one outcome (reward in [0, 1]: 1 success, 0 failure) after forgetting.

        Returns:
            The updated posterior.
        """
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"reward must be in [0, 1], not {reward}")
        arm = self.arm(context, route)
        prior_a, prior_b = arm.prior_alpha, arm.prior_beta
        # forget towards the prior, never below it: an idle prior stays the prior
        arm.alpha = prior_a + self.discount * (arm.alpha - prior_a) + reward
        arm.beta = prior_b + self.discount * (arm.beta - prior_b) + (1.0 - reward)
        arm.n += 1
        arm.streak = arm.streak + 1 if reward < 0.5 else 0
        return arm

    def failing(
        self,
        context: str,
        route: str,
        *,
        threshold: float = 0.3,
        min_outcomes: int = 4,
        streak: int = 3,
    ) -> bool:
        """Whether the evidence says ``route`` fails in ``context``: at least ``min_outcomes``
        outcomes seen, and a posterior mean below ``threshold`` or the last ``streak`` outcomes
        all failures (the bandit stops sending traffic to a failing route, so its mean may
        never sink further; its streak of failures is the evidence it has)."""
        arm = self._arms.get((context, route))
        return (
            arm is not None
            and arm.n >= min_outcomes
            and (arm.mean < threshold or arm.streak >= streak)
        )

    def snapshot(self) -> list[dict[str, float | int | str]]:
        """Every posterior as a row (context, route, alpha, beta, mean, n)."""
        return [
            {
                "context": c,
                "route": r,
                "alpha": round(a.alpha, 4),
                "beta": round(a.beta, 4),
                "mean": round(a.mean, 4),
                "n": a.n,
            }
            for (c, r), a in sorted(self._arms.items())
        ]
