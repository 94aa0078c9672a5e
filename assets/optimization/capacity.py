"""Capacity: the workload forecast from the platform's run history, and the pool limits it
recommends, applied through the Dagster instance (recorded, bounded, revertible).

``capacity_plan`` reads ``operations.runs`` and ``operations.steps``, forecasts the next day's
busy step-seconds per hour of every pool (and the run-seconds of every job, for the run queue),
recommends limits by Little's law (:mod:`ml.capacity`) and applies the pool limits with
:class:`~orchestration_project.optimization.capacity.PoolAllocator`. Its row per pool is the
evidence: limit before and after, forecast demand, reason, forecast method. Revert a change
with ``python -m orchestration_project capacity revert``.
"""

import os
from collections.abc import Iterable

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml.capacity import Bounds, recommend, recommend_all
from ml.forecast import forecast, hourly_workload
from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.optimization.capacity import PoolAllocator
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, Warehouse, in_schema

GROUP = "optimization"
CAPACITY_PLAN = "capacity_plan"
RUN_QUEUE = "run_queue"


class CapacityConfig(RenamedFields, dg.Config):
    """How capacity is planned and what the allocator may do."""

    horizon_hours: int = Field(default=24, description="hours ahead the limits must cover")
    history_days: int = Field(default=28, description="run history the forecast is fitted on")
    headroom: float = Field(default=1.5, description="factor over the forecast peak demand")
    pool_bounds: dict[str, list[int]] = Field(
        default_factory=dict,
        description="pool -> [low, high]; default: the warehouse pool 1..1 on DuckDB (one "
        "writer), 1..2×cores on PostgreSQL",
    )
    run_bounds: list[int] = Field(
        default_factory=list, description="[low, high] of concurrent runs; default 1..cores"
    )
    apply: bool = Field(default=True, description="apply the pool limits (False: recommend)")
    step_pools: dict[str, str] = Field(
        default_factory=dict,
        description="step (op name) -> pool, over the pools the code location's assets declare "
        "(needed only when materialised outside a code location, e.g. in a test)",
    )


def _bounds(config: CapacityConfig, warehouse: Warehouse) -> tuple[dict[str, Bounds], Bounds]:
    cores = os.cpu_count() or 2
    pools = {
        WAREHOUSE_POOL: Bounds(1, 1)
        if isinstance(warehouse, DuckDBWarehouse)
        else Bounds(1, 2 * cores)
    }
    pools.update({k: Bounds(int(v[0]), int(v[1])) for k, v in config.pool_bounds.items()})
    runs = Bounds(*(int(v) for v in config.run_bounds)) if config.run_bounds else Bounds(1, cores)
    return pools, runs


def pool_of_steps(assets_defs: Iterable[dg.AssetsDefinition]) -> dict[str, str]:
    """The pool of every asset step (by op name) among ``assets_defs``."""
    out: dict[str, str] = {}
    for ad in assets_defs:
        if not ad.is_executable or ad.computation is None:
            continue
        pool = getattr(ad.node_def, "pool", None)
        if pool:
            out[ad.node_def.name] = pool
    return out


def _code_location_assets(context: dg.AssetExecutionContext) -> list[dg.AssetsDefinition]:
    """Every asset of the code location this run belongs to; an ad-hoc materialisation
    outside a code location knows only its own job's assets."""
    try:
        return list(context.repository_def.assets_defs_by_key.values())
    except Exception:  # noqa: BLE001 — dagster raises CheckError when there is no repository
        return list(context.job_def.asset_layer.asset_graph.assets_defs)


def _table(warehouse: Warehouse, name: str) -> pd.DataFrame:
    if not warehouse.table_exists(name, schema="operations"):
        return pd.DataFrame()
    return warehouse.read_table(name, schema="operations")


def _series_by(hourly: pd.DataFrame, key: str, value: str) -> dict[str, pd.Series]:
    if not len(hourly):
        return {}
    return {
        str(k): g.set_index("hour")[value].astype(float).asfreq("h", fill_value=0.0)
        for k, g in hourly.groupby(key)
    }


@dg.asset(
    name=CAPACITY_PLAN,
    group_name=GROUP,
    kinds={"python", "duckdb", "statsmodels"},
    deps=[dg.AssetKey(["operations", "runs"]), dg.AssetKey(["operations", "steps"])],
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def capacity_plan(
    context: dg.AssetExecutionContext,
    config: CapacityConfig,
    warehouse: Warehouse,
    coordination: CoordinationResource,
    reports_dir: ReportsDir,
) -> dg.Output[pd.DataFrame]:
    """Pool and run-queue limits for the next day, from a forecast of the run history.

    Busy step-seconds per hour of each pool, and run-seconds per hour of all jobs, are
    forecast with daily and weekly seasonality (:func:`ml.forecast.forecast`; shorter histories
    fall back, and the row says which method ran). The busiest forecast hour, times a headroom,
    gives each limit (Little's law), clamped into configured bounds (on DuckDB the warehouse
    pool stays at one writer). Pool limits are applied through the Dagster instance and logged
    in ``capacity_changes`` with their reason, revertible; the run-queue limit is instance
    configuration read at daemon start and is only recommended. One row per pool and one for
    the run queue; a chart of history and forecast in ``reports/optimization/capacity.png``.
    """
    runs = _table(warehouse, "runs")
    steps = _table(warehouse, "steps")
    # Complete hours only: the hour in progress would read as a sudden drop in demand.
    now = pd.Timestamp.now(tz="UTC").floor("h")
    since, last = now - pd.Timedelta(days=config.history_days), now - pd.Timedelta(hours=1)
    if len(runs):
        runs = runs[(runs["started_at"] >= since) & (runs["started_at"] < now)]
        steps = steps[steps["run_id"].isin(runs["run_id"])] if len(steps) else steps
    pools = {**pool_of_steps(_code_location_assets(context)), **config.step_pools}
    pool_bounds, run_bounds = _bounds(config, warehouse)

    # Busy seconds per hour: steps by their pool, runs by their job (the run queue).
    pool_hourly = pd.DataFrame()
    if len(steps):
        s = steps.assign(pool=steps["step_key"].str.split("[").str[0].map(pools))
        s = s.dropna(subset=["pool"])
        if len(s):
            # Each step as a "run" of its pool: busy step-seconds per pool and hour.
            as_runs = s.rename(columns={"pool": "job_name"}).reset_index(drop=True)
            as_runs["run_id"] = as_runs.index.astype(str)
            pool_hourly = hourly_workload(as_runs, None, end=last)
    run_hourly = hourly_workload(runs, None, end=last) if len(runs) else pd.DataFrame()

    forecasts: dict[str, np.ndarray] = {}
    methods: dict[str, str] = {}
    history: dict[str, pd.Series] = {}
    for name, series in _series_by(pool_hourly, "job_name", "step_seconds").items():
        fc = forecast(series, config.horizon_hours)
        forecasts[name], methods[name], history[name] = fc.mean, fc.method, series
    run_series = {k: v for k, v in _series_by(run_hourly, "job_name", "step_seconds").items()}
    if run_series:
        total = pd.concat(run_series.values(), axis=1).fillna(0.0).sum(axis=1)
        fc = forecast(total, config.horizon_hours)
        forecasts[RUN_QUEUE], methods[RUN_QUEUE], history[RUN_QUEUE] = fc.mean, fc.method, total

    recs = recommend_all(forecasts, pool_bounds, headroom=config.headroom)
    run_rec = recommend(
        RUN_QUEUE, forecasts.get(RUN_QUEUE, np.zeros(0)), run_bounds, headroom=config.headroom
    )
    allocator = PoolAllocator(context.instance.event_log_storage, coordination.store())
    if config.apply:
        changes = {c.pool: c for c in allocator.apply(recs, pool_bounds, run_id=context.run_id)}
    else:
        changes = {}
    rows = []
    for r in [*recs, run_rec]:
        is_pool = r.name != RUN_QUEUE
        before = allocator.state(r.name).limit if is_pool else None
        change = changes.get(r.name)
        rows.append(
            {
                "name": r.name,
                "kind": "pool" if is_pool else "run_queue",
                "limit_before": change.before.limit if change else before,
                "recommended": r.limit,
                "applied": bool(change and change.changed),
                "change_id": change.change_id if change else None,
                "demand_at_peak": round(r.demand, 4),
                "peak_in_hours": r.peak_hour,
                "reason": r.reason
                if is_pool
                else r.reason + "; set concurrency.runs.max_concurrent_runs (read at start)",
                "forecast_method": methods.get(r.name, "no history"),
                "history_hours": len(history.get(r.name, [])),
            }
        )
    frame = pd.DataFrame(rows)
    chart = _chart(history, forecasts, reports_dir.folder("optimization") / "capacity.png")
    applied = int(frame["applied"].sum())
    context.log.info(f"capacity: {applied} pool limit(s) changed; {frame.to_dict('records')}")
    return dg.Output(
        frame,
        metadata={
            "row_count": len(frame),
            "pool_limits_changed": applied,
            "recommended_max_concurrent_runs": run_rec.limit,
            "plan": dg.MetadataValue.md(frame.drop(columns=["change_id"]).to_markdown(index=False)),
            "chart": dg.MetadataValue.path(str(chart)),
        },
    )


def _chart(
    history: dict[str, pd.Series], forecasts: dict[str, np.ndarray], path: os.PathLike
) -> os.PathLike:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, series in sorted(history.items()):
        shown = series.iloc[-7 * 24 :] / 3600.0
        line = ax.plot(shown.index, shown.to_numpy(), lw=1, label=f"{name} (history)")
        start = series.index[-1] + pd.Timedelta(hours=1)
        idx = pd.date_range(start, periods=len(forecasts[name]), freq="h")
        ax.plot(idx, forecasts[name] / 3600.0, ls="--", color=line[0].get_color(), lw=1.5)
    ax.set_ylabel("busy steps / runs (avg per hour)")
    ax.set_title("workload: last 7 days and the forecast (dashed)")
    if history:
        ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["CAPACITY_PLAN", "RUN_QUEUE", "CapacityConfig", "capacity_plan", "pool_of_steps"]
