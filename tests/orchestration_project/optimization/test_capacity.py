"""Pool limits changed, logged and restored through a real Dagster instance (SQLite storage
from the project's dagster.yaml), and through the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ml.capacity import Bounds, Recommendation
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.cli import main
from orchestration_project.optimization.capacity import CapacityError, PoolAllocator
from resources.environment import PROJECT_ROOT


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(PROJECT_ROOT / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ORCHESTRATION_DATA_DIR", str(tmp_path / "data"))
    return home


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _store(tmp_path: Path) -> CoordinationStore:
    return CoordinationStore(f"sqlite:///{tmp_path / 'data' / 'coordination.db'}")


def _rec(pool: str, limit: int) -> Recommendation:
    return Recommendation(pool, limit, limit / 1.5, 3, f"forecast says {limit}")


def test_apply_sets_the_slots_dagster_claims_and_revert_restores_the_default(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("browser")  # as a first step claiming would
    alloc = PoolAllocator(storage, _store(tmp_path))
    assert alloc.state("browser").limit == 1 and alloc.state("browser").from_default

    [change] = alloc.apply([_rec("browser", 3)], {"browser": Bounds(1, 4)}, run_id="r1")
    assert change.changed and change.before.limit == 1 and change.after == 3
    # What steps claim against: the instance's own slot table for the pool.
    assert storage.get_concurrency_info("browser").slot_count == 3
    assert not alloc.state("browser").from_default

    # The same recommendation again changes nothing and logs nothing.
    [same] = alloc.apply([_rec("browser", 3)], {"browser": Bounds(1, 4)})
    assert not same.changed and len(alloc.history()) == 1

    reverted = alloc.revert(pool="browser")
    assert (reverted.before.limit, reverted.after) == (3, 1)
    assert alloc.state("browser").from_default  # follows the instance default again
    assert storage.get_concurrency_info("browser").slot_count == 1
    log = alloc.history()
    assert list(log["kind"]) == ["revert", "apply"]
    assert log.iloc[1]["reason"] == "forecast says 3" and log.iloc[1]["run_id"] == "r1"
    assert log.iloc[0]["reverts"] == change.change_id


def test_a_recommendation_outside_the_bounds_changes_nothing(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    storage = instance.event_log_storage
    storage.set_concurrency_slots("browser", 2)
    alloc = PoolAllocator(storage, _store(tmp_path))
    with pytest.raises(CapacityError, match="outside its configured bounds 1..4"):
        alloc.apply(
            [_rec("warehouse", 1), _rec("browser", 9)],
            {"browser": Bounds(1, 4), "warehouse": Bounds(1, 1)},
        )
    assert alloc.state("browser").limit == 2 and len(alloc.history()) == 0
    assert alloc.state("warehouse").limit is None  # refused whole, nothing applied first
    with pytest.raises(CapacityError, match="bounds none"):
        alloc.apply([_rec("gpu", 1)], {"browser": Bounds(1, 4)})
    with pytest.raises(CapacityError, match="no applied change"):
        alloc.revert(pool="browser")


def test_revert_of_an_explicit_limit_puts_that_limit_back(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    storage = instance.event_log_storage
    storage.set_concurrency_slots("browser", 2)
    alloc = PoolAllocator(storage, _store(tmp_path))
    first = alloc.apply([_rec("browser", 4)], {"browser": Bounds(1, 4)})[0]
    alloc.apply([_rec("browser", 3)], {"browser": Bounds(1, 4)})
    alloc.revert(first.change_id)  # an older change by id
    assert alloc.state("browser") == alloc.state("browser").__class__(2, False)


def test_cli_shows_and_reverts(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with dg.DagsterInstance.from_config(str(home)) as inst:
        inst.event_log_storage.set_concurrency_slots("browser", 2)
        PoolAllocator(inst.event_log_storage, _store(tmp_path)).apply(
            [_rec("browser", 4)], {"browser": Bounds(1, 4)}
        )
    assert os.environ["DAGSTER_HOME"] == str(home)
    assert main(["capacity", "show"]) == 0
    out = capsys.readouterr().out
    assert "browser: 4" in out and "forecast says 4" in out
    assert main(["capacity", "revert", "--pool", "browser"]) == 0
    assert "pool browser: 4 -> 2" in capsys.readouterr().out
    with dg.DagsterInstance.from_config(str(home)) as inst:
        assert inst.event_log_storage.get_concurrency_info("browser").slot_count == 2
    assert main(["capacity", "revert", "--change", "999"]) == 1
    assert main(["capacity", "revert"]) == 2
