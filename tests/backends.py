"""Test helpers: a throw-away coordination store URL on SQLite or PostgreSQL.

PostgreSQL tests get a fresh schema each (``search_path`` set through the URL, so child
processes given the URL use it too), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

PG_ENV = "COORDINATION_TEST_PG_URL"


def backends() -> list[str]:
    """``["sqlite"]``, plus ``"postgres"`` when ``COORDINATION_TEST_PG_URL`` is set."""
    return ["sqlite"] + (["postgres"] if os.environ.get(PG_ENV) else [])


@contextmanager
def temporary_store_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty coordination store.

    Args:
        backend: ``sqlite`` (a file in ``tmp_path``) or ``postgres`` (a new schema on the
            server named by ``COORDINATION_TEST_PG_URL``, dropped on exit).
        tmp_path: a per-test directory.

    Yields:
        The SQLAlchemy URL.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'coord.db'}"
        return
    base = os.environ[PG_ENV]
    schema = "coord_t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
