"""The demo content site: a webhook that takes publications, GrowthBook-compatible assignment
of visitors, events counted once per unit and kind, and bad requests refused with a reason."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ml.experiments import assign
from orchestration_project.demo_world.content_site import (
    MAX_BODY,
    simulate_visitors,
    start_content_site,
)


@pytest.fixture
def site(tmp_path: Path):
    server = start_content_site("127.0.0.1", 0, tmp_path / "site.db")
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for variant, strategy in [("0-templated", "templated"), ("1-market_facts", "market_facts")]:
        r = httpx.post(
            f"{url}/publish",
            json={"experiment": "e1", "variant": variant, "strategy": strategy, "html": "<p/>"},
        )
        assert r.status_code == 201 and r.json()["url"].endswith(f"variant={variant}")
    yield url
    server.shutdown()
    server.server_close()


def test_visitors_get_the_variant_growthbook_would_assign_and_count_once(site: str) -> None:
    for uid in ("alice", "bob", "carol", "dave"):
        page = httpx.get(f"{site}/c/e1", params={"uid": uid}).text
        arm = assign(uid, "e1", [0.5, 0.5])
        assert f'name="variant" content="{["0-templated", "1-market_facts"][arm]}"' in page
    httpx.get(f"{site}/c/e1", params={"uid": "alice"})  # a repeat exposure counts once
    httpx.get(f"{site}/c/e1/click", params={"uid": "alice"})
    events = httpx.get(f"{site}/api/events", params={"experiment": "e1"}).json()
    kinds = [(e["uid"], e["kind"]) for e in events]
    assert kinds.count(("alice", "exposure")) == 1 and ("alice", "click") in kinds
    assert len([k for k in kinds if k[1] == "exposure"]) == 4


def test_bad_requests_are_refused_with_the_reason(site: str) -> None:
    assert httpx.post(f"{site}/publish", content=b"not json").status_code == 400
    r = httpx.post(f"{site}/publish", json={"experiment": "e2"})
    assert r.status_code == 422 and "variant" in r.json()["error"]
    big = httpx.post(f"{site}/publish", content=b"x" * (MAX_BODY + 1))
    assert big.status_code == 413
    assert httpx.get(f"{site}/c/nope", params={"uid": "u"}).status_code == 404
    assert httpx.get(f"{site}/c/e1").status_code == 404  # no uid, no assignment
    assert httpx.get(f"{site}/p/nope").status_code == 404


def test_simulated_visitors_click_at_the_true_rate_of_what_they_were_shown(site: str) -> None:
    uids = [f"v{i}" for i in range(1200)]
    clicks = simulate_visitors(
        site, "e1", uids, seed=3, rates={"templated": 0.0, "market_facts": 0.5}
    )
    events = httpx.get(f"{site}/api/events", params={"experiment": "e1"}).json()
    clicked = {e["variant"] for e in events if e["kind"] == "click"}
    assert clicked == {"1-market_facts"}  # nobody clicks the 0 % strategy
    shown = sum(1 for e in events if e["kind"] == "exposure" and e["variant"] == "1-market_facts")
    assert clicks == sum(1 for e in events if e["kind"] == "click")
    assert abs(clicks / shown - 0.5) < 0.06  # the known true rate, within sampling error
