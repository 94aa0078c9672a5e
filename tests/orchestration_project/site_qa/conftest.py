"""One demo world and one Playwright MCP session (a real Node.js server driving Debian's
Chromium) shared by the site QA tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from orchestration_project.agents.mcp_loop import McpResponse, Snapshot
from orchestration_project.demo_world import DemoWorld, start_demo_world
from orchestration_project.site_qa.links import HttpLinkChecker
from resources.playwright_mcp import PlaywrightMcp, caller_for
from resources.url_policy import BlockedUrlError


@dataclass
class Qa:
    """The world, a tool caller on one browser page, and a link checker behind the policy."""

    world: DemoWorld
    call: Any
    links: HttpLinkChecker

    def snapshot_of(self, url: str) -> str:
        """The accessibility YAML of ``url`` as the server shows it."""
        self.call("browser_navigate", url=url)
        answer: McpResponse = self.call("browser_snapshot")
        assert answer.snapshot, answer.text[:300]
        return answer.snapshot

    def click(self, role: str, name: str) -> None:
        """Click the control with this role and exact name on the current page."""
        snap = Snapshot(self.call("browser_snapshot"))
        [node] = [n for n in snap.nodes() if n.role == role and n.name == name and n.ref]
        self.call("browser_click", target=node.ref, element=name)


@pytest.fixture(scope="session")
def qa() -> Iterator[Qa]:
    """A healthy demo world and an MCP session allowed on its five sites only."""
    world = start_demo_world(slow_seconds=2)
    mcp = PlaywrightMcp(
        allowed_domains=world.allowed_hosts, allow_private_hosts=["127.0.0.1"], settle_ms=150
    )
    policy = mcp.policy()

    def refused(url: str) -> str | None:
        try:
            policy.check(url)
        except BlockedUrlError as exc:
            return str(exc)
        return None

    links = HttpLinkChecker(refused, timeout_s=3.0)
    try:
        with mcp.session() as session:
            agent = mcp.agent(session, name="site_qa_test", role="QA tester", goal="tests")
            yield Qa(world, caller_for(agent), links)
    finally:
        links.close()
        world.stop()


@pytest.fixture
def healthy(qa: Qa) -> Iterator[Qa]:
    """The shared world, with every page repaired after the test."""
    qa.world.clear_faults()
    try:
        yield qa
    finally:
        qa.world.clear_faults()
