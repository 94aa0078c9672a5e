"""Screenshots for the README, taken in Chromium from the running parts (not mock-ups).

1. The demo CRM's onboarding wizard as the browser agent filled it: one sample customer is
   onboarded by ``BrowserFormFiller`` with ``screenshot_steps`` on, which saves every wizard
   page once its controls are set (before the button is pressed) and the confirmation page.
2. The ``experiment_results`` asset in the Dagster UI: ``dagster-webserver`` is started on the
   project's instance (``.data/dagster_home``, filled by ``./scripts/demo`` or by the content
   calendar) and the asset's page is captured with its latest materialisation's chart.

    uv run python scripts/screenshots.py [--out docs/screenshots] [--skip-ui]

Progress goes to stderr; the files written are printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration_project.customer_onboarding.mapping import load_mapping  # noqa: E402
from orchestration_project.customer_onboarding.samples import sample_customers  # noqa: E402
from orchestration_project.demo_world.crm import start_crm  # noqa: E402
from resources.fetching.chromium import find_chromium  # noqa: E402
from resources.form_filling import BrowserFormFiller  # noqa: E402
from tests.conftest import free_base_port, wait_for_http  # noqa: E402

MAPPING = ROOT / "orchestration_project" / "customer_onboarding" / "mappings" / "demo_crm.yaml"


def progress(msg: str) -> None:
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


def crm_wizard(out: Path) -> list[Path]:
    """Onboard one sample customer with step screenshots; return the PNGs, in wizard order."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        crm = start_crm("127.0.0.1", 0, folder / "crm.db", api_token="screens")
        try:
            host_port = crm.url.split("//")[1]
            filler = BrowserFormFiller(
                crm_url=crm.url,
                username=crm.username,
                password=crm.password,
                api_token="screens",
                allowed_domains=[host_port],
                allow_private_hosts=["127.0.0.1"],
                contexts=1,
                headless=True,
                screenshot_dir=str(folder / "shots"),
                screenshot_steps=True,
            )
            [record] = sample_customers(1, seed=int(time.time()) % 10_000, contract_dir=folder)
            progress(f"onboarding {record['external_ref']} ({record['company']}) in Chromium")
            [result] = filler.onboard([record], load_mapping(MAPPING))
            if result.status != "created":
                raise SystemExit(f"the CRM did not create the account: {result.errors}")
            progress(f"account {result.account_id} created; {crm.count_accounts()} in the CRM")
        finally:
            crm.stop()
        shots = sorted((folder / "shots").glob("*.png"), key=lambda p: p.stat().st_mtime)
        written = []
        for i, shot in enumerate(shots, 1):
            step = shot.stem.split("-", 3)[-1] if "filled-" in shot.stem else "confirmation"
            step = step.removeprefix("filled-")
            target = out / f"crm-{i}-{step}.png"
            shutil.copyfile(shot, target)
            written.append(target)
        return written


def wait_for_code_location(base: str, timeout_s: float = 180) -> None:
    """Wait until the webserver has loaded the code location (its GraphQL API says so)."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = httpx.post(base + "/graphql", json={"query": query}, timeout=30).json()
        entries = reply["data"]["workspaceOrError"].get("locationEntries") or []
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return
        time.sleep(1)
    raise SystemExit("the code location did not load in time")


def experiment_asset(out: Path) -> Path:
    """The ``experiment_results`` asset's page in the Dagster UI, as Chromium renders it."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".data" / "dagster_home")
    if not (home / "dagster.yaml").exists():
        raise SystemExit(f"no Dagster instance at {home}: run ./scripts/demo first")
    port = free_base_port(1)
    env = dict(os.environ, DAGSTER_HOME=str(home))
    progress(f"starting dagster-webserver on 127.0.0.1:{port} over {home}")
    web = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
        + ["-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = out / "experiment-results-asset.png"
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/server_info", web, timeout_s=120, what="dagster-webserver")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            wait_for_code_location(base)  # or the asset shows as external
            page.goto(base + "/assets/experiment_results?view=events", wait_until="networkidle")
            with contextlib.suppress(PlaywrightError):  # the UI's first-visit newsletter dialog
                page.get_by_role("button", name="Skip").click(timeout=3000)
            row = page.locator("tr", has=page.get_by_text("plot", exact=True))
            row.get_by_text("Show Markdown").first.click(timeout=60_000)
            page.get_by_role("dialog").get_by_role("img").first.wait_for(timeout=30_000)
            time.sleep(1.0)  # let the chart image finish decoding
            page.screenshot(path=str(target))
            browser.close()
    finally:
        web.terminate()
        try:
            web.wait(20)
        except subprocess.TimeoutExpired:
            web.kill()
    return target


def main() -> None:
    """Take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--skip-ui", action="store_true", help="only the CRM wizard")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = crm_wizard(args.out)
    if not args.skip_ui:
        written.append(experiment_asset(args.out))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
