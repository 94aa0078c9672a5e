"""Fault injection: deterministic draws, and real faults that raise what production raises.

Every fault here is real: a demo-world site of this module's own world answers 503 or is slow
or down, a subprocess is SIGKILLed, another process holds the DuckDB file lock. The shared
``demo_world`` fixture is not touched (other tests rely on its sites being healthy).
"""

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from orchestration_project.demo_world import start_demo_world
from orchestration_project.operations import faults as f
from orchestration_project.operations.failures import RESOURCE, TIMEOUT, TRANSIENT, classify_failure
from orchestration_project.operations.healing import read_run_failure
from resources.faults import FaultInjection
from resources.warehouse import DuckDBWarehouse, WarehouseLockedError
from tests.conftest import free_base_port

MOZILLA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"


@pytest.fixture(scope="module")
def world() -> Iterator[object]:
    w = start_demo_world("127.0.0.1", free_base_port(), slow_seconds=3.0)
    yield w
    w.stop()


@pytest.fixture
def site(world) -> Iterator[tuple[str, str]]:
    """(slug, base URL) of one site of this module's world, healthy again afterwards."""
    slug = sorted(world.sites)[0]
    yield slug, world.sites[slug]
    world.clear_faults()


def classify(exc: BaseException) -> str:
    return classify_failure(type(exc).__name__, str(exc)).failure_class


# ---------------------------------------------------------------------------------------------
# Choosing faults
# ---------------------------------------------------------------------------------------------


def test_choose_fault_is_a_pure_function_of_seed_run_and_step() -> None:
    draws = [f.choose_fault(7, f"run-{i}", "canary/pages", 0.3, f.FAULT_KINDS) for i in range(500)]
    again = [f.choose_fault(7, f"run-{i}", "canary/pages", 0.3, f.FAULT_KINDS) for i in range(500)]
    assert draws == again
    other_seed = [
        f.choose_fault(8, f"run-{i}", "canary/pages", 0.3, f.FAULT_KINDS) for i in range(500)
    ]
    other_step = [
        f.choose_fault(7, f"run-{i}", "canary/facts", 0.3, f.FAULT_KINDS) for i in range(500)
    ]
    assert draws != other_seed and draws != other_step
    assert set(draws) <= {None, *f.FAULT_KINDS}


def test_choose_fault_hits_about_the_configured_rate_with_every_kind_equally_likely() -> None:
    n = 10_000
    draws = [f.choose_fault(0, f"run-{i}", "step", 0.05, f.FAULT_KINDS) for i in range(n)]
    hits = [d for d in draws if d is not None]
    # Binomial(10000, 0.05): sd ~ 22, so +/- 100 is more than 4 sd.
    assert 400 <= len(hits) <= 600
    by_kind = Counter(hits)
    assert set(by_kind) == set(f.FAULT_KINDS)
    for kind in f.FAULT_KINDS:
        assert 0.12 <= by_kind[kind] / len(hits) <= 0.28  # 0.2 each


def test_choose_fault_weights_zero_rate_and_no_kinds() -> None:
    weighted = [
        f.choose_fault(1, f"r{i}", "s", 1.0, {f.HTTP_5XX: 3.0, f.SLOW_PAGE: 1.0, f.KILLED_STEP: 0})
        for i in range(4000)
    ]
    c = Counter(weighted)
    assert None not in c and f.KILLED_STEP not in c
    assert 0.70 <= c[f.HTTP_5XX] / 4000 <= 0.80
    assert all(f.choose_fault(1, f"r{i}", "s", 0.0, f.FAULT_KINDS) is None for i in range(200))
    assert all(f.choose_fault(1, f"r{i}", "s", 1.0, []) is None for i in range(200))
    assert all(f.choose_fault(1, f"r{i}", "s", 1.0, [f.HTTP_5XX]) == f.HTTP_5XX for i in range(50))


def test_a_reexecution_is_a_new_run_id_and_draws_again() -> None:
    # Find a run whose step drew a fault; its re-executions (new run ids) draw independently,
    # so at a 5% rate nearly all of them run clean.
    faulted = next(
        rid
        for rid in (f"root-{i}" for i in range(1000))
        if f.choose_fault(3, rid, "canary/pages", 0.05, f.FAULT_KINDS)
    )
    assert f.choose_fault(3, faulted, "canary/pages", 0.05, f.FAULT_KINDS) is not None
    retries = [
        f.choose_fault(3, f"{faulted}-retry-{k}", "canary/pages", 0.05, f.FAULT_KINDS)
        for k in range(200)
    ]
    assert retries.count(None) >= 170


def test_the_resource_draws_only_faults_it_can_inject() -> None:
    bare = FaultInjection(step_fault_rate=1.0)
    kinds = {bare.choose(f"run-{i}", "s") for i in range(300)}
    assert kinds == {f.CONNECTION_REFUSED, f.KILLED_STEP}
    full = FaultInjection(step_fault_rate=1.0, target_url="http://x", warehouse_path="/tmp/w")
    assert {full.choose(f"run-{i}", "s") for i in range(300)} == set(f.FAULT_KINDS)
    assert FaultInjection().choose("run", "s") is None  # off by default
    # The resource's draw is the pure function's draw.
    r = FaultInjection(step_fault_rate=0.5, seed=11, kinds=[f.HTTP_5XX], target_url="http://x")
    for i in range(50):
        assert r.choose(f"run-{i}", "s") == f.choose_fault(11, f"run-{i}", "s", 0.5, [f.HTTP_5XX])


def test_the_ledger_round_trips(tmp_path: Path) -> None:
    ledger = tmp_path / "sub" / "faults.jsonl"
    assert f.read_ledger(ledger) == []
    f.record_fault(None, f.InjectedFault(at="t", run_id="r", step="s", kind="k"))  # no ledger
    one = f.InjectedFault(at="t1", run_id="r1", step="s1", kind=f.HTTP_5XX, job_name="j")
    two = f.InjectedFault(at="t2", run_id="r2", step="s2", kind=f.KILLED_STEP)
    f.record_fault(ledger, one)
    f.record_fault(ledger, two)
    assert f.read_ledger(ledger) == [one, two]


# ---------------------------------------------------------------------------------------------
# Real faults raise what production raises, and are classified accordingly
# ---------------------------------------------------------------------------------------------


def test_http_5xx_raises_an_http_status_error_classified_transient(site) -> None:
    _, url = site
    with pytest.raises(httpx.HTTPStatusError) as err:
        f.http_5xx(url)
    assert err.value.response.status_code == 503
    assert classify(err.value) == TRANSIENT
    with pytest.raises(httpx.HTTPStatusError) as err502:
        f.http_5xx(url, status=502)
    assert err502.value.response.status_code == 502
    assert classify(err502.value) == TRANSIENT


def test_slow_page_raises_a_timeout_classified_timeout(site) -> None:
    _, url = site
    t0 = time.monotonic()
    with pytest.raises(httpx.TimeoutException) as err:
        f.slow_page(url, seconds=2.0, timeout_s=0.3)
    assert time.monotonic() - t0 < 1.8
    assert classify(err.value) == TIMEOUT
    # A client that waits long enough gets the page.
    f.slow_page(url, seconds=0.2, timeout_s=5.0)


def test_connection_refused_raises_connect_error_classified_transient() -> None:
    with pytest.raises(httpx.ConnectError) as err:
        f.connection_refused()
    assert classify(err.value) == TRANSIENT


def test_killed_tool_process_is_a_real_sigkill_classified_resource_exhaustion() -> None:
    with pytest.raises(f.ToolProcessKilledError) as err:
        f.killed_tool_process()
    msg = str(err.value)
    assert f"code {-signal.SIGKILL}" in msg and "SIGKILL" in msg
    pid = int(msg.split("process ", 1)[1].split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: it really is gone
    assert classify(err.value) == RESOURCE


def test_a_locked_warehouse_raises_warehouse_locked_classified_resource_exhaustion(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "w.duckdb")
    holder = f.lock_warehouse(path, hold_s=30)
    try:
        assert holder.poll() is None
        wh = DuckDBWarehouse(path=path, lock_timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(WarehouseLockedError) as err:
            wh.write_table("t", pd.DataFrame({"a": [1]}))
        assert 0.4 <= time.monotonic() - t0 < 5
        assert classify(err.value) == RESOURCE
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # Once the other process is gone the write goes through.
    assert (
        DuckDBWarehouse(path=path, lock_timeout_s=5).write_table("t", pd.DataFrame({"a": [1]})) == 1
    )


def test_lock_holder_releases_the_lock_by_itself_after_hold_s(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    holder = f.lock_warehouse(path, hold_s=0.5)
    # A writer that waits long enough gets through once the holder exits by itself.
    assert (
        DuckDBWarehouse(path=path, lock_timeout_s=20).write_table("t", pd.DataFrame({"a": [1]}))
        == 1
    )
    assert holder.wait(timeout=10) == 0


# ---------------------------------------------------------------------------------------------
# Injected into a real Dagster step
# ---------------------------------------------------------------------------------------------


@dg.asset
def faulty_step(context: dg.AssetExecutionContext, faults: FaultInjection) -> int:
    faults.inject(context, "faulty_step")
    return 1


def test_an_injected_fault_fails_the_step_is_ledgered_and_classified(tmp_path: Path) -> None:
    ledger = tmp_path / "faults.jsonl"
    res = FaultInjection(step_fault_rate=1.0, kinds=[f.CONNECTION_REFUSED], ledger_path=str(ledger))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [faulty_step], resources={"faults": res}, instance=instance, raise_on_error=False
    )
    assert not result.success
    failure = read_run_failure(instance, result.run_id)
    assert (failure.error_class, failure.failure_class) == ("ConnectError", TRANSIENT)
    assert failure.step_key == "faulty_step"
    [entry] = f.read_ledger(ledger)
    assert (entry.run_id, entry.step, entry.kind) == (
        result.run_id,
        "faulty_step",
        f.CONNECTION_REFUSED,
    )
    assert entry.job_name == result.dagster_run.job_name


def test_no_fault_is_injected_at_rate_zero(tmp_path: Path) -> None:
    ledger = tmp_path / "faults.jsonl"
    result = dg.materialize(
        [faulty_step],
        resources={"faults": FaultInjection(ledger_path=str(ledger))},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success and not ledger.exists()


# ---------------------------------------------------------------------------------------------
# The demo world's own faults
# ---------------------------------------------------------------------------------------------


def test_a_site_taken_down_refuses_connections_and_comes_back_on_the_same_port(world, site) -> None:
    slug, url = site
    assert httpx.get(url + "/", timeout=5).status_code == 200
    world.take_down(slug)
    assert world.is_down(slug)
    with pytest.raises(httpx.ConnectError) as err:
        httpx.get(url + "/", timeout=2)
    assert classify(err.value) == TRANSIENT
    world.take_down(slug)  # idempotent
    # Other sites are unaffected.
    other = next(u for s, u in world.sites.items() if s != slug)
    assert httpx.get(other + "/", timeout=5).status_code == 200
    world.bring_up(slug)
    assert not world.is_down(slug)
    assert httpx.get(url + "/", timeout=5).status_code == 200
    assert world.sites[slug] == url


def test_clear_faults_brings_every_site_back(world, site) -> None:
    slug, url = site
    world.take_down(slug)
    world.set_faults(slug, error_rate=1.0)
    world.clear_faults()
    assert httpx.get(url + "/", timeout=5).status_code == 200


def test_block_non_browsers_refuses_plain_clients_but_serves_a_browser_user_agent(
    world, site
) -> None:
    slug, url = site
    world.set_faults(slug, block_non_browsers=True)
    plain = httpx.get(url + "/", timeout=5)
    assert plain.status_code == 503
    browser = httpx.get(url + "/", headers={"User-Agent": MOZILLA}, timeout=5)
    assert browser.status_code == 200 and "<html" in browser.text.lower()
    world.set_faults(slug)
    assert httpx.get(url + "/", timeout=5).status_code == 200


def test_an_error_rate_of_one_answers_503_to_everyone(world, site) -> None:
    slug, url = site
    world.set_faults(slug, error_rate=1.0)
    for _ in range(5):
        assert httpx.get(url + "/", timeout=5).status_code == 503
    assert httpx.get(url + "/", headers={"User-Agent": MOZILLA}, timeout=5).status_code == 503
    # The fault endpoints are not subject to site faults.
    assert httpx.get(url + "/__fault/status/200", timeout=5).status_code == 200


def test_site_delay_makes_every_page_slow(world, site) -> None:
    slug, url = site
    world.set_faults(slug, delay_s=1.0)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(url + "/", timeout=0.3)


# ---------------------------------------------------------------------------------------------
# Classification of what the faults' victims report
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("worker killed: OOM", RESOURCE),
        ("Out of memory: Killed process 4242 (chromium)", RESOURCE),
        # "oom" inside an ordinary word is not the out-of-memory killer.
        ("could not parse the bedroom count of listing 17", "bad_input"),
        ("upstream table showroom_prices has no rows", "upstream_data"),
    ],
)
def test_the_oom_rule_matches_the_word_not_letters_inside_other_words(message, expected) -> None:
    assert classify_failure("RuntimeError", message).failure_class == expected
