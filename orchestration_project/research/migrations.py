"""The migrations of the ``market_research`` tables that already exist in older warehouses.

Asset tables are written whole by the warehouse IO manager from the asset's frame, so a new
table needs no migration; a new column on a table that is *upserted* by site partition does,
because the rows of other sites stay and the insert is by name.

3. ``research_facts_rule_set`` — ``extracted_facts.rule_set``: the extraction rule set that
   produced each fact (gradual rollouts of rule sets). Added to a table written before it
   (rows kept, NULL for them); nothing to do when the table does not exist yet. Backward
   compatible: release 0.1.0 reads facts by column name and never selects ``rule_set``.

Versions are global across the warehouse's migrations (``resources/migrations.py`` checks).
"""

from __future__ import annotations

from orchestration_project.common.migrations import Db, Migration


def _facts_rule_set(db: Db, dialect: str) -> None:
    if not db.columns("market_research", "extracted_facts"):
        return  # a warehouse that never ran extraction: the first write creates the column
    text = "VARCHAR" if dialect == "duckdb" else "TEXT"
    db.execute(
        'ALTER TABLE "market_research"."extracted_facts" '
        f'ADD COLUMN IF NOT EXISTS "rule_set" {text}'
    )


MIGRATIONS: list[Migration] = [
    Migration(
        3,
        "research_facts_rule_set",
        up=_facts_rule_set,
        description="extracted_facts.rule_set: the extraction rule set behind each fact",
    ),
]
"""The market-research tables' migrations, in order (append only)."""

__all__ = ["MIGRATIONS"]
