"""Consolidating the domains' ``<schema>.agent_actions`` and ``<schema>.fetch_attempts``
tables into ``operations``: per source key, compare a row count and the latest timestamp with
what is consolidated and copy only the keys that changed."""

from __future__ import annotations

from typing import Any

import pandas as pd

from orchestration_project.common.warehouse import TableStore as Warehouse
from orchestration_project.operations.run_metadata.schema import (
    CONSOLIDATED,
    SCHEMA,
    _Consolidated,
    _frame,
    _instant,
)
from orchestration_project.operations.run_metadata.session import (
    _lit,
    _migrate,
    _outdated,
    _quote,
    _Session,
    _session,
)


def _key_expr(spec: _Consolidated, cols: list[str]) -> str:
    return f"COALESCE(CAST({_quote(spec.key)} AS VARCHAR), '')" if spec.key in cols else "''"


def _changed_keys(
    session: _Session, spec: _Consolidated, catalog: dict[tuple[str, str], list[str]]
) -> tuple[list[str], list[str]]:
    """(keys whose rows differ between the sources and ``operations``, source schemas)."""
    sources = sorted(s for (s, t) in catalog if t == spec.table and s != SCHEMA)
    ops_cols = catalog.get((SCHEMA, spec.table))
    if not sources and not ops_cols:
        return [], []

    def ts_expr(cols: list[str]) -> str:
        return f"CAST(max({_quote(spec.ts)}) AS VARCHAR)" if spec.ts in cols else "NULL"

    parts = [
        f"SELECT 'src' AS side, {_lit(s)} AS domain, "
        f"{_key_expr(spec, catalog[(s, spec.table)])} AS k, count(*) AS n, "
        f"{ts_expr(catalog[(s, spec.table)])} AS last "
        f'FROM {_quote(s)}."{spec.table}" GROUP BY 3'
        for s in sources
    ]
    if ops_cols:
        parts.append(
            f"SELECT 'ops' AS side, domain, {_key_expr(spec, ops_cols)} AS k, count(*) AS n, "
            f'{ts_expr(ops_cols)} AS last FROM "{SCHEMA}"."{spec.table}" GROUP BY 2, 3'
        )
    stats = session.query(" UNION ALL ".join(parts))
    fingerprints: dict[str, dict[tuple[str, str], tuple[int, Any]]] = {"src": {}, "ops": {}}
    for side, domain, k, n, last in stats.itertuples(index=False):
        # Timestamps compare as instants: a naive source column is read as UTC, as it is when
        # copied; an unparseable one compares as its text.
        fingerprints[side][(str(domain), str(k))] = (int(n), _instant(last))
    src, ops = fingerprints["src"], fingerprints["ops"]
    changed = {dk[1] for dk in set(src) | set(ops) if src.get(dk) != ops.get(dk)}
    return sorted(changed), sources


def _copy_keys(
    session: _Session,
    spec: _Consolidated,
    catalog: dict[tuple[str, str], list[str]],
    keys: list[str],
) -> int:
    """Replace the ``operations`` rows of ``keys`` by the sources' rows; return rows written."""
    sources = sorted(s for (s, t) in catalog if t == spec.table and s != SCHEMA)
    frames = []
    for i in range(0, len(keys), 500):
        chunk = ", ".join(_lit(k) for k in keys[i : i + 500])
        selects = []
        for s in sources:
            cols = catalog[(s, spec.table)]
            exprs = [f"{_lit(s)} AS domain"]
            for col in spec.columns[1:]:
                if col == spec.key:
                    exprs.append(f"{_key_expr(spec, cols)} AS {_quote(col)}")
                else:
                    exprs.append(_quote(col) if col in cols else f"NULL AS {_quote(col)}")
            selects.append(
                f'SELECT {", ".join(exprs)} FROM {_quote(s)}."{spec.table}" '
                f"WHERE {_key_expr(spec, cols)} IN ({chunk})"
            )
        if selects:
            frames.append(session.query(" UNION ALL ".join(selects)))
    frames = [f for f in frames if len(f)]
    rows = pd.concat(frames, ignore_index=True).to_dict("records") if frames else []
    return session.upsert(spec.table, _frame(spec.table, rows, spec.columns), spec.key, keys)


def _write_consolidation(
    warehouse: Warehouse,
    catalog: dict[tuple[str, str], list[str]],
    plans: dict[str, tuple[list[str], list[str]]],
) -> dict[str, int]:
    """Copy the changed keys of each planned table (one write transaction on DuckDB; none at
    all when nothing changed); return rows written per table."""
    outdated = _outdated(catalog, {t: CONSOLIDATED[t].columns for t in plans})
    written: dict[str, int] = {}
    if not any(keys for keys, _ in plans.values()) and not outdated:
        return written
    with _session(warehouse, write=True, doing="consolidating domain tables") as session:
        _migrate(session, catalog, outdated)
        for table, (keys, _) in plans.items():
            if keys:
                written[table] = _copy_keys(session, CONSOLIDATED[table], catalog, keys)
    return written
