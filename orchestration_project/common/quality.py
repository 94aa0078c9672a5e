"""Great Expectations, wrapped for Dagster asset checks.

``import great_expectations`` costs several seconds, so it happens lazily, once per process, and
one ephemeral context serves every validation in that process. ``validate`` runs a list of
expectations on a DataFrame and returns a Dagster ``AssetCheckResult`` whose metadata names each
failed expectation with its unexpected count and a sample of the offending values.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import dagster as dg
import pandas as pd

_CTX: Any = None
_LOCK = threading.Lock()


def _context() -> Any:
    global _CTX
    with _LOCK:
        if _CTX is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            _CTX = ctx
        return _CTX


def expectation(name: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """Name a GX expectation class (e.g. ``"ExpectColumnValuesToNotBeNull"``) and its args."""
    return name, kwargs


def run_expectations(
    df: pd.DataFrame, expectations: list[tuple[str, dict[str, Any]]]
) -> tuple[bool, list[dict[str, Any]]]:
    """Validate ``df``; return overall success and one summary per expectation."""
    import great_expectations as gx

    ctx = _context()
    with _LOCK:
        name = f"check_{uuid.uuid4().hex[:10]}"
        source = ctx.data_sources.add_pandas(name)
        asset = source.add_dataframe_asset(name="frame")
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(gx.ExpectationSuite(name=name))
        for cls_name, kwargs in expectations:
            suite.add_expectation(getattr(gx.expectations, cls_name)(**kwargs))
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_def, suite=suite)
        )
        result = vd.run(batch_parameters={"dataframe": df})
        ctx.validation_definitions.delete(name)
        ctx.suites.delete(name)
        ctx.data_sources.delete(name)
    summaries = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        summaries.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column"),
                "success": bool(r.success),
                "unexpected_count": res.get("unexpected_count"),
                "sample": [str(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
            }
        )
    return bool(result.success), summaries


def validate(
    df: pd.DataFrame,
    expectations: list[tuple[str, dict[str, Any]]],
    *,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """Run the expectations and turn the outcome into an ``AssetCheckResult``."""
    ok, summaries = run_expectations(df, expectations)
    failed = [s for s in summaries if not s["success"]]
    kwargs: dict[str, Any] = {}
    if asset_key is not None:
        kwargs["asset_key"] = asset_key
    if check_name is not None:
        kwargs["check_name"] = check_name
    return dg.AssetCheckResult(
        passed=ok,
        severity=severity,
        metadata={
            "rows": len(df),
            "expectations": len(summaries),
            "failed": len(failed),
            "details": dg.MetadataValue.json(summaries),
        },
        **kwargs,
    )
