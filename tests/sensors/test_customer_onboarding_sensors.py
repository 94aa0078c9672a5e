"""The customer inbox sensor with a built context: one run per new file, keyed by content, a
cursor that carries over (as Dagster keeps it across restarts), files it does not read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration_project.common.inbox import file_key
from sensors.customer_onboarding import customer_inbox_sensor


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    monkeypatch.setenv("ONBOARDING_INBOX", str(folder))
    return folder


def _tick(cursor: str | None = None) -> dg.SensorResult:
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
        return customer_inbox_sensor(ctx)


def test_one_run_per_new_file_keyed_by_its_content(inbox: Path) -> None:
    (inbox / "a.csv").write_text("external_ref,company\nC-1,Acme\n")
    (inbox / "b.json").write_text("[]")
    (inbox / "notes.txt").write_text("not a customer file")
    (inbox / ".partial.csv").write_text("being copied")
    (inbox / "processed").mkdir()
    (inbox / "processed" / "old.csv").write_text("done already")
    first = _tick()
    keys = [r.run_key for r in first.run_requests]
    assert keys == [file_key(inbox / "a.csv"), file_key(inbox / "b.json")]
    assert keys[0].startswith("a.csv:")
    cfg = first.run_requests[0].run_config["ops"]["customer_intake"]["config"]
    assert cfg == {"file": str(inbox / "a.csv")}

    # The next tick (or the first after a restart: the cursor is the instance's) asks nothing.
    again = _tick(first.cursor)
    assert again.run_requests == []

    # A changed file is a new run; the same content under the same name is not.
    (inbox / "a.csv").write_text("external_ref,company\nC-2,Bolt\n")
    os.utime(inbox / "a.csv", ns=(1, 1))
    changed = _tick(again.cursor)
    assert [r.run_key for r in changed.run_requests] == [file_key(inbox / "a.csv")]
    assert changed.run_requests[0].run_key != keys[0]


def test_the_cursor_forgets_files_that_left_the_inbox_but_stays_bounded(inbox: Path) -> None:
    (inbox / "a.csv").write_text("x")
    result = _tick()
    (inbox / "a.csv").unlink()  # the run moved it to processed/
    cursor = json.loads(_tick(result.cursor).cursor)
    assert len(cursor) == 1  # remembered (a re-drop of the same file is still one run key)
    big = {f"f{i}|1|1": f"f{i}:x" for i in range(2000)}
    assert len(json.loads(_tick(json.dumps(big)).cursor)) == 500
