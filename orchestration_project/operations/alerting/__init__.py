"""Alerting: rules turn health metrics and event streams into alerts; a manager decides which
alerts reach a human, and remembers every alert so that incidents can later confirm or refute it.

Pure Python and pandas, importable and testable without Dagster. The pieces:

* :class:`Alert` — one rule's finding about one subject (a job, an asset, an agent, a route...),
  identified across evaluations by its :attr:`Alert.fingerprint` (rule, subject kind, subject).
* Rules, each with ``evaluate(*, events, health, now, since) -> list[Alert]``:
  :class:`ThresholdRule` (a health metric crosses a limit), :class:`BurnRateRule` (multi-window,
  multi-burn-rate SLO alerting from the Google SRE workbook) and :class:`AnomalyRule` (a
  bucketed metric series streamed through :func:`ml.anomaly.score_series`).
  :func:`evaluate_rules` runs a list of them; :func:`default_rules` is a generic set that works
  for any job, asset, agent or route.
* :class:`AlertManager` — deduplication (an alert already firing is counted, not re-sent),
  auto-resolution (a firing alert absent from an evaluation is resolved), cooldown (an alert
  that fires again soon after resolving is reopened silently: flapping does not page), grouping
  (one :class:`Notification` per subject per evaluation, at the group's highest severity) and
  verdicts (each alert is later marked true or false, so the false-positive rate is measured).
* :class:`AlertStore` — where alert state lives: :class:`InMemoryAlertStore` for tests and
  benchmarks, :class:`WarehouseAlertStore` for table ``operations.alerts`` (state survives a
  new manager, so deduplication works across separate asset runs).

Delivery (log, file, webhook, Slack) lives in :mod:`resources.alerting`.

The package's modules: :mod:`.model` (alerts, notifications, records, constants),
:mod:`.rules` (the rules), :mod:`.store` (where alert state lives) and :mod:`.manager`
(the :class:`AlertManager`). Import from the package; every name is re-exported here.
"""

from orchestration_project.operations.alerting.manager import AlertManager
from orchestration_project.operations.alerting.model import (
    ALERT_COLUMNS,
    ALERTS_TABLE,
    EVALUATIONS_TABLE,
    SCHEMA,
    SEVERITY_RANK,
    Alert,
    AlertRecord,
    FalsePositiveRate,
    Notification,
    ProcessSummary,
)
from orchestration_project.operations.alerting.rules import (
    AnomalyRule,
    BurnRateRule,
    BurnWindow,
    Rule,
    ThresholdRule,
    default_rules,
    evaluate_rules,
)
from orchestration_project.operations.alerting.store import (
    AlertStore,
    InMemoryAlertStore,
    WarehouseAlertStore,
)

__all__ = [
    "ALERTS_TABLE",
    "ALERT_COLUMNS",
    "EVALUATIONS_TABLE",
    "SCHEMA",
    "SEVERITY_RANK",
    "Alert",
    "AlertManager",
    "AlertRecord",
    "AlertStore",
    "AnomalyRule",
    "BurnRateRule",
    "BurnWindow",
    "FalsePositiveRate",
    "InMemoryAlertStore",
    "Notification",
    "ProcessSummary",
    "Rule",
    "ThresholdRule",
    "WarehouseAlertStore",
    "default_rules",
    "evaluate_rules",
]
