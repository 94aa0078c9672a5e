"""Test helpers: the storage backends to run a test on, and throw-away SQLite or PostgreSQL
URLs for them.

Every PostgreSQL case carries the ``postgres`` mark and is always collected: with no server
configured it fails with a message saying how to start one (``./scripts/test`` does it), it is
never silently dropped. Leave it out on purpose with ``-m "not postgres"``.

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

import pytest
import sqlalchemy as sa

PG_ENV = "COORDINATION_TEST_PG_URL"


def pg_url() -> str:
    """The PostgreSQL server for tests; fails the test (never skips) when none is configured."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(
            f"{PG_ENV} is not set: run ./scripts/test (it starts a local PostgreSQL through "
            "scripts/postgres) or deselect with -m 'not postgres'"
        )
    return url


POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres, id="postgres")


def backends(local: str = "sqlite") -> list:
    """``[local, postgres]`` as pytest parameters, the PostgreSQL one marked ``postgres``."""
    return [local, POSTGRES]


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
    base = pg_url()
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
