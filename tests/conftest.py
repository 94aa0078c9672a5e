"""Shared fixtures: free ports, a running demo world."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "yes")


def free_base_port(count: int = 6) -> int:
    """A base port with ``count`` consecutive free ports above it."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65000:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no run of free ports found")


@pytest.fixture(scope="session")
def demo_world() -> Iterator[object]:
    """The demo world on free loopback ports, with a short slow page and a 3 MB big page."""
    from orchestration_project.demo_world import start_demo_world

    world = start_demo_world(
        "127.0.0.1", free_base_port(), slow_seconds=6.0, oversized_bytes=3_000_000
    )
    yield world
    world.stop()


# -- markers: what a test needs, so a developer can run the fast subset --------------------------
# ./scripts/test -m "not browser and not postgres and not slow" runs in under a minute; CI runs
# everything and skips nothing. `postgres` is set where the backend is parametrised
# (tests/backends.py); `browser` and `slow` are set here from what a test uses.

BROWSER_MODULES = {  # every test in these launches Chromium (directly or through an asset)
    "tests/orchestration_project/test_ui.py",
    "tests/assets/test_market_research.py",
    "tests/orchestration_project/research/test_crawler.py",
    "tests/assets/test_customer_onboarding.py",  # the CRM form filled in Chromium
    "tests/sensors/test_customer_inbox_daemon.py",
    "tests/assets/test_business_processes.py",  # approvals clicked in the inbox in Chromium
}
BROWSER_FIXTURES = {"browser", "session", "canary"}  # fixtures that hold a real browser route
SLOW_MODULES = {  # Dagster webserver, multiprocess executors, several OS processes
    "tests/orchestration_project/test_ui.py",
    "tests/assets/test_market_research.py",
    "tests/orchestration_project/operations/test_killed_step.py",
    "tests/orchestration_project/operations/test_overrides_daemon.py",  # a real dagster-daemon
    "tests/orchestration_project/research/test_crawler.py",
    "tests/sensors/test_customer_inbox_daemon.py",  # a real dagster-daemon
    "tests/assets/test_content_marketing.py",  # simulated visitors over HTTP
    "tests/assets/test_customer_onboarding.py",
    "tests/assets/test_business_processes.py",  # dg.materialize + GX import + Chromium
}
SLOW_TESTS = {  # single tests over ~2 s: processes racing on one file or store, real timeouts
    "test_parallel_dagster_steps_write_the_same_file",
    "test_processes_appending_at_once_lose_nothing",
    "test_a_writer_holding_the_lock_too_long_gives_a_clear_error",
    "test_compare_and_set_loses_no_update_across_processes",
    "test_producers_in_several_processes_lose_nothing_and_keep_order",
    "test_a_consumer_killed_mid_stream_resumes_without_loss_or_duplicates",
    "test_the_operations_group_turns_failures_into_alerts_incidents_and_a_scorecard",
    "test_a_slow_page_times_out_alone",
    "test_browser_concurrency_is_bounded",
    "test_demo_world_floors",
    "test_a_failed_check_of_a_successful_run_opens_an_upstream_data_incident_until_it_passes",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests ``browser`` and ``slow`` from the tables above."""
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix()
        name = getattr(item, "originalname", item.name)
        if module in BROWSER_MODULES or BROWSER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)
        if module in SLOW_MODULES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


# -- shared set-ups ------------------------------------------------------------------------------

ROOT_DIR = Path(__file__).resolve().parent.parent


def demo_resources(world: Any, data: Path) -> dict[str, Any]:
    """The local resources over a running demo world, with fetchers allowed on its ports only
    and test-sized time limits."""
    from resources.environment import local_resources
    from resources.fetching import BrowserFetcher, HttpFetcher

    base = int(world.allowed_hosts[0].split(":")[1])
    resources = local_resources(data=data, demo_base_port=base)
    limits = {"max_bytes": 1_000_000, "allow_private_hosts": ["127.0.0.1"]}
    resources["http"] = HttpFetcher(timeout_s=2.0, allowed_domains=world.allowed_hosts, **limits)
    resources["browser"] = BrowserFetcher(
        timeout_s=4.0, allowed_domains=world.allowed_hosts, **limits
    )
    return resources


def wait_for_http(url: str, proc: subprocess.Popen, *, timeout_s: float, what: str) -> None:
    """Wait until ``url`` answers 200 while ``proc`` (the server) is alive.

    Raises:
        RuntimeError: the server exited (with its last stderr) or did not answer in time.
    """
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{what} exited: {err}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up in {timeout_s:.0f} s")


@contextmanager
def chromium_page(width: int = 1600, height: int = 1000) -> Iterator[Any]:
    """A page in a headless Chromium (Debian's, through Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    from resources.fetching import find_chromium

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=find_chromium(),
            headless=True,
            args=["--disable-background-networking", "--no-first-run"],
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


@contextmanager
def running_webserver(env: dict[str, str], *, timeout_s: float = 120) -> Iterator[str]:
    """``dagster-webserver`` on a free loopback port over this repository's workspace, with
    ``env`` added to the environment; yields its URL and stops it (its PID only) afterwards."""
    port = free_base_port(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", str(ROOT_DIR / "workspace.yaml")]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT_DIR,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/server_info", proc, timeout_s=timeout_s, what="the webserver")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- the Playwright MCP route (a Node.js server from node_modules driving Chromium) -------------
BROWSER_MODULES |= {
    "tests/resources/test_playwright_mcp.py",
    "tests/resources/test_mcp_form_filling.py",
}
SLOW_MODULES |= {"tests/resources/test_mcp_form_filling.py"}  # the CRM wizard, customer by customer

# -- site QA: journeys through the Playwright MCP server on the demo world ------------------------
BROWSER_MODULES |= {
    "tests/assets/test_site_qa.py",
    "tests/orchestration_project/site_qa/test_a11y.py",
    "tests/orchestration_project/site_qa/test_runner.py",
}
SLOW_MODULES |= {"tests/assets/test_site_qa.py"}  # dg.materialize three times + Chromium


def run_at_once(target: Any, n: int) -> list[BaseException]:
    """Call ``target()`` in ``n`` threads released together (a barrier); return what they
    raised, for the caller to assert on."""
    import threading

    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # noqa: BLE001 - returned to the caller
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
