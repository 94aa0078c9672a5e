"""Accessibility-tree changes against the last good snapshot.

The Playwright MCP server shows a page as accessibility YAML (``- button "Add to cart"
[ref=e12] [cursor=pointer]``). Two snapshots of the same healthy page differ in what does not
matter to a user of assistive technology: element refs, focus and cursor hints, and volatile
text (prices, counts, order numbers, dates). :func:`normalise_snapshot` keeps what does — each
node's role and accessible name, heading levels, the nesting — with every number masked, and
:func:`diff_snapshots` compares two normalised trees line by line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from orchestration_project.agents.mcp_loop import AxNode, parse_snapshot

__all__ = ["A11yDiff", "diff_snapshots", "mask_volatile", "normalise_snapshot"]

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SKIPPED_ROLES = frozenset({"text"})  # bare text lines: page copy, not structure
_FLATTENED_ROLES = frozenset({"generic", "none", "presentation"})  # unnamed wrappers


def mask_volatile(text: str) -> str:
    """``text`` with white space collapsed and every number (prices, counts, order numbers,
    dates) replaced by ``#``."""
    return _NUMBER.sub("#", " ".join(text.split()))


def _lines(nodes: list[AxNode], depth: int, out: list[str]) -> None:
    for node in nodes:
        if node.role in _SKIPPED_ROLES:
            continue
        if node.role in _FLATTENED_ROLES and not node.name:
            _lines(node.children, depth, out)
            continue
        line = node.role
        if node.name:
            line += f' "{mask_volatile(node.name)}"'
        if "level" in node.attrs:
            line += f" [level={node.attrs['level']}]"
        out.append("  " * depth + line)
        _lines(node.children, depth + 1, out)


def normalise_snapshot(text: str) -> list[str]:
    """A page's accessibility tree as comparable lines.

    Args:
        text: the YAML of ``browser_snapshot`` (with or without its code fence).

    Returns:
        One line per node, indented by depth: role, accessible name (numbers masked) and
        heading level; refs, states, cursor hints, URLs, values and text lines are left out, and
        unnamed generic wrappers are flattened.
    """
    out: list[str] = []
    _lines(parse_snapshot(text), 0, out)
    return out


@dataclass(frozen=True)
class A11yDiff:
    """How a page's normalised tree changed.

    Attributes:
        added: lines present now and not in the baseline (indentation kept).
        removed: lines of the baseline that are gone.
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything changed."""
        return bool(self.added or self.removed)

    def summary(self, max_lines: int = 6) -> str:
        """``+2 -1: - button "Add to cart"; + link "Delivery information"`` (at most
        ``max_lines`` lines shown)."""
        shown = [f"- {x.strip()}" for x in self.removed] + [f"+ {x.strip()}" for x in self.added]
        more = len(shown) - max_lines
        text = "; ".join(shown[:max_lines]) + (f"; … {more} more" if more > 0 else "")
        return f"+{len(self.added)} -{len(self.removed)}: {text}"


def diff_snapshots(baseline: list[str], current: list[str]) -> A11yDiff:
    """The lines added and removed between two normalised trees (in document order)."""
    added: list[str] = []
    removed: list[str] = []
    matcher = difflib.SequenceMatcher(a=baseline, b=current, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            removed += baseline[a0:a1]
        if op in ("replace", "insert"):
            added += current[b0:b1]
    return A11yDiff(added=added, removed=removed)
