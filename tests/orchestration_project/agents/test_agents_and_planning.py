"""The agent runtime records every action; the planner decomposes goals and runs task graphs."""

from __future__ import annotations

import threading
import time

import pytest

from orchestration_project.agents.planning import TaskFailedError, plan_market_research
from orchestration_project.agents.runtime import (
    ActionRecorder,
    Agent,
    FunctionTool,
    ToolArgumentError,
    ToolResult,
)


def _agent(log: list[str] | None = None) -> Agent:
    recorder = ActionRecorder("run-1", log.append if log is not None else None)
    add = FunctionTool(
        "add",
        lambda a, b: ToolResult(value=a + b, cost_usd=0.01, route="math"),
        description="Add two numbers.",
        input_schema={"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", "b"]},
    )

    def explode() -> None:
        raise OSError("disk on fire")

    return Agent(
        "calc",
        "analyst",
        "compute",
        tools={"add": add, "explode": FunctionTool("explode", explode)},
        recorder=recorder,
    )


def test_tool_calls_are_recorded_with_inputs_outputs_timing_and_cost() -> None:
    log: list[str] = []
    agent = _agent(log)
    assert agent.use("add", a=2, b=3).value == 5
    (action,) = agent.recorder.actions
    assert (action.kind, action.name, action.outcome, action.route) == (
        "tool_call",
        "add",
        "ok",
        "math",
    )
    assert '"a": 2' in action.inputs and action.output == "5"
    assert action.cost_usd == 0.01 and action.duration_s >= 0 and action.run_id == "run-1"
    assert "[calc/analyst] tool_call add -> ok" in log[0]


def test_a_failing_tool_is_recorded_then_raised() -> None:
    agent = _agent()
    with pytest.raises(OSError, match="disk on fire"):
        agent.use("explode")
    (action,) = agent.recorder.actions
    assert action.outcome == "error" and "disk on fire" in action.error


def test_arguments_are_checked_against_the_tool_schema() -> None:
    agent = _agent()
    with pytest.raises(ToolArgumentError, match="missing arguments \\['b'\\]"):
        agent.use("add", a=1)
    with pytest.raises(ToolArgumentError, match="unknown arguments \\['c'\\]"):
        agent.use("add", a=1, b=2, c=3)
    with pytest.raises(ToolArgumentError, match="no tool"):
        agent.use("browse")


def test_decisions_and_messages_are_recorded_and_summarised() -> None:
    agent = _agent()
    agent.record_decision(
        "route", "http", inputs={"options": ["http", "browser"]}, rationale="cheap"
    )
    agent.record_message("crawl.x", "site", {"links": 3}, count=3)
    agent.use("add", a=1, b=1)
    s = agent.recorder.summary()
    assert (s["actions"], s["decisions"], s["messages"], s["tool_calls"]) == (3, 1, 1, 1)
    df = agent.recorder.to_frame()
    assert list(df["kind"]) == ["decision", "message", "tool_call"]
    assert "cheap" in df.loc[0, "output"]


def test_the_planner_fans_out_one_branch_per_site_and_aggregates() -> None:
    g = plan_market_research(
        "thermostats",
        ["http://a:1/", "http://a:1/shop", "http://b:2/"],
        max_pages_per_site=10,
        max_depth=2,
    )
    crawls = g.of_kind("crawl_site")
    assert [t.params["site"] for t in crawls] == ["http://a:1", "http://b:2"]
    assert crawls[0].params["seeds"] == ("http://a:1/", "http://a:1/shop")
    resolve = g.tasks["resolve"]
    assert set(resolve.depends_on) == {t.task_id for t in g.of_kind("extract_site")}
    order = g.order()
    assert order.index("resolve") > max(order.index(t.task_id) for t in crawls)
    assert order[-1] == "report"
    assert "graph LR" in g.to_mermaid() and "-->" in g.to_mermaid()


def test_a_task_graph_runs_independent_tasks_in_parallel_and_passes_results_on() -> None:
    g = plan_market_research(
        "x", ["http://a:1/", "http://b:2/", "http://c:3/"], max_pages_per_site=1, max_depth=1
    )
    running, peak, lock = [0], [0], threading.Lock()

    def crawl(task, deps):  # noqa: ANN001, ANN202
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return task.params["site"]

    results = g.execute(
        {
            "crawl_site": crawl,
            "extract_site": lambda t, d: list(d.values())[0] + "/facts",
            "resolve_facts": lambda t, d: sorted(d.values()),
            "competitor_matrix": lambda t, d: len(d["resolve"]),
            "market_report": lambda t, d: f"report on {d['matrix']} sites",
        },
        max_workers=3,
    )
    assert peak[0] >= 2
    assert results["resolve"] == ["http://a:1/facts", "http://b:2/facts", "http://c:3/facts"]
    assert results["report"] == "report on 3 sites"


def test_a_failing_task_fails_the_graph_naming_the_task() -> None:
    g = plan_market_research("x", ["http://a:1/"], max_pages_per_site=1, max_depth=1)

    def boom(task, deps):  # noqa: ANN001, ANN202
        raise RuntimeError("site down")

    with pytest.raises(TaskFailedError, match="crawl:site_.* failed: site down"):
        g.execute({"crawl_site": boom})
