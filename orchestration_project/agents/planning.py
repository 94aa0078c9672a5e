"""Task decomposition: a planner turns a goal into a graph of subtasks, which fan out to agents
and whose results an aggregator collects.

The graph is plain data (``TaskGraph``), so it can be shown (``to_mermaid``), stored and
executed either inside one op (``execute``, a thread pool honouring dependencies) or as Dagster
dynamic outputs (one mapped op per subtask).
"""

from __future__ import annotations

import graphlib
import hashlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Task:
    """One subtask: what to do (``kind``), with what (``params``), after what (``depends_on``)."""

    task_id: str
    kind: str
    role: str
    params: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass
class TaskGraph:
    """A goal decomposed into tasks with dependencies."""

    goal: str
    tasks: dict[str, Task] = field(default_factory=dict)

    def add(self, task: Task) -> Task:
        """Add a task; its dependencies must already be in the graph."""
        missing = [d for d in task.depends_on if d not in self.tasks]
        if missing:
            raise ValueError(f"task {task.task_id} depends on unknown tasks {missing}")
        if task.task_id in self.tasks:
            raise ValueError(f"duplicate task id {task.task_id}")
        self.tasks[task.task_id] = task
        return task

    def of_kind(self, kind: str) -> list[Task]:
        """The tasks of one kind, in insertion order."""
        return [t for t in self.tasks.values() if t.kind == kind]

    def order(self) -> list[str]:
        """A topological order of the task ids."""
        ts = graphlib.TopologicalSorter({t.task_id: t.depends_on for t in self.tasks.values()})
        return list(ts.static_order())

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart (shown in the Dagster UI as Markdown)."""
        lines = ["graph LR"]
        for t in self.tasks.values():
            label = f"{t.kind}<br/>{t.params.get('label', '')}".rstrip("<br/>")
            lines.append(f'    {_mid(t.task_id)}["{label}"]')
            for d in t.depends_on:
                lines.append(f"    {_mid(d)} --> {_mid(t.task_id)}")
        return "\n".join(lines)

    def execute(
        self,
        handlers: Mapping[str, Callable[[Task, dict[str, Any]], Any]],
        *,
        max_workers: int = 4,
    ) -> dict[str, Any]:
        """Run every task with the handler for its kind, in parallel where dependencies allow.

        Each handler receives the task and the results of its dependencies. A failing task
        fails the graph (its dependants do not run) and the error names the task.
        """
        ts = graphlib.TopologicalSorter({t.task_id: t.depends_on for t in self.tasks.values()})
        ts.prepare()
        results: dict[str, Any] = {}
        running: dict[Future[Any], str] = {}
        with ThreadPoolExecutor(max_workers=max_workers) as pool:
            while ts.is_active():
                for tid in ts.get_ready():
                    task = self.tasks[tid]
                    if task.kind not in handlers:
                        raise KeyError(f"no handler for task kind {task.kind!r}")
                    deps = {d: results[d] for d in task.depends_on}
                    running[pool.submit(handlers[task.kind], task, deps)] = tid
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    tid = running.pop(fut)
                    try:
                        results[tid] = fut.result()
                    except Exception as exc:
                        for other in running:
                            other.cancel()
                        raise TaskFailedError(f"task {tid} failed: {exc}") from exc
                    ts.done(tid)
        return results


class TaskFailedError(RuntimeError):
    """A task in a graph failed."""


def _mid(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", task_id)


def site_of(url: str) -> str:
    """The site a URL belongs to: scheme://host[:port]."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def plan_market_research(
    topic: str, seed_urls: list[str], *, max_pages_per_site: int, max_depth: int
) -> TaskGraph:
    """Decompose "research the market for TOPIC from these seeds" into subtasks.

    One crawl-and-extract branch per competitor site (fan-out), then one aggregation chain:
    resolve conflicting facts → build the competitor matrix → write the report.
    """
    graph = TaskGraph(goal=f"Research the market for {topic!r} from {len(seed_urls)} seed sites")
    sites: dict[str, list[str]] = {}
    for url in seed_urls:
        sites.setdefault(site_of(url), []).append(url)
    extract_ids = []
    for site, seeds in sites.items():
        sid = "site_" + hashlib.sha1(site.encode()).hexdigest()[:8]
        crawl = graph.add(
            Task(
                task_id=f"crawl:{sid}",
                kind="crawl_site",
                role="crawler",
                params={
                    "site": site,
                    "seeds": tuple(seeds),
                    "max_pages": max_pages_per_site,
                    "max_depth": max_depth,
                    "label": urlsplit(site).netloc,
                },
            )
        )
        ext = graph.add(
            Task(
                task_id=f"extract:{sid}",
                kind="extract_site",
                role="extractor",
                params={"site": site, "label": urlsplit(site).netloc},
                depends_on=(crawl.task_id,),
            )
        )
        extract_ids.append(ext.task_id)
    resolve = graph.add(
        Task("resolve", "resolve_facts", "resolver", {"label": "all sites"}, tuple(extract_ids))
    )
    matrix = graph.add(Task("matrix", "competitor_matrix", "analyst", {}, (resolve.task_id,)))
    graph.add(Task("report", "market_report", "writer", {}, (matrix.task_id,)))
    return graph
