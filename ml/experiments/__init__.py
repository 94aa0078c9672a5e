"""Statistics of A/B experiments (e.g. of content strategies): pure code, no Dagster.

The whole life of an experiment, in the order it is used:

* **assign** units to arms deterministically with GrowthBook's hash (:func:`assign`), and check
  the realised split (:func:`srm_check`);
* **summarise** each arm per metric (:class:`ArmStats`: from raw values, sums and sums of
  squares, or conversions);
* **test** each treatment against the control: fixed-horizon Welch (:func:`welch_ttest`),
  always-valid sequential (:func:`sequential_ttest`) when results are watched while data comes
  in, Bayesian chance to win and risk (:func:`bayesian_test`); correct for several variants
  (:func:`adjust_p_values`);
* **decide** (:func:`decide_winner`): the winner becomes the default only when significant and
  no guardrail metric is harmed.

The formulas are GrowthBook's (its stats engine ``gbstats`` cannot be installed with the
project's pandas 2; see :mod:`ml.experiments.effects`), checked against GrowthBook's reference
vectors in ``tests/ml/test_experiments.py``; ``benchmarks/ab_simulation.py`` measures false
positives with and without peeking and power on 10,000 simulated experiments.
"""

from ml.experiments.assignment import assign, bucket_ranges, choose_variation, fnv1a32, gb_hash
from ml.experiments.checks import (
    DEFAULT_SRM_THRESHOLD,
    Correction,
    SrmResult,
    adjust_p_values,
    benjamini_hochberg,
    holm_bonferroni,
    srm_check,
)
from ml.experiments.decision import Decision, GuardrailResult, decide_winner
from ml.experiments.effects import (
    DEFAULT_SEQUENTIAL_TUNING,
    BayesianResult,
    Difference,
    EffectResult,
    GaussianPrior,
    bayesian_test,
    sequential_rho,
    sequential_ttest,
    welch_ttest,
)
from ml.experiments.summary import ArmStats, Number

__all__ = [
    "DEFAULT_SEQUENTIAL_TUNING",
    "DEFAULT_SRM_THRESHOLD",
    "ArmStats",
    "BayesianResult",
    "Correction",
    "Decision",
    "Difference",
    "EffectResult",
    "GaussianPrior",
    "GuardrailResult",
    "Number",
    "SrmResult",
    "adjust_p_values",
    "assign",
    "bayesian_test",
    "benjamini_hochberg",
    "bucket_ranges",
    "choose_variation",
    "decide_winner",
    "fnv1a32",
    "gb_hash",
    "holm_bonferroni",
    "sequential_rho",
    "sequential_ttest",
    "srm_check",
    "welch_ttest",
]
