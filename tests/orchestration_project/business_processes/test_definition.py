"""Process definitions: the bundled ones load, and a malformed one fails with a message that
says where and what."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestration_project.business_processes.definition import (
    Condition,
    ConditionError,
    ProcessDefinitionError,
    bundled_processes,
    load_process,
    parse_duration,
    parse_process,
)

GOOD = """
name: tiny
roles:
  approvers: [alice]
steps:
  - id: check
    kind: task
    assignee: approvers
    sla: 4h
    next:
      - when: outcome == 'reject'
        goto: stop
      - goto: stop
  - id: stop
    kind: end
    outcome: done
"""


def test_the_bundled_processes_load() -> None:
    processes = bundled_processes()
    assert set(processes) == {"invoice_approval", "onboarding_exception"}
    invoice = processes["invoice_approval"]
    assert invoice.first_step == "route"
    assert invoice.step("approval").sla == timedelta(days=1)
    assert invoice.step("second_approval").distinct_from == ["approval"]
    assert invoice.params["auto_approve_below"] == 1000
    assert invoice.people("finance_leads") == ["erin"]


def test_a_minimal_process_parses() -> None:
    d = parse_process(GOOD)
    assert [s.id for s in d.steps] == ["check", "stop"]
    assert d.step("check").outcomes == ["approve", "reject"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping"),
        (
            GOOD.replace("    assignee: approvers\n", ""),
            "steps[0] (check): a task needs an assignee",
        ),
        (
            GOOD.replace("goto: stop\n  - id", "goto: nowhere\n  - id"),
            "next[1].goto: no step 'nowhere'",
        ),
        (
            GOOD.replace("      - goto: stop\n", ""),
            "the last transition of next must have no `when`",
        ),
        (GOOD.replace("sla: 4h", "sla: soon"), "'soon' is not a duration"),
        (GOOD.replace("outcome == 'reject'", "__import__('os')"), "Call is not allowed"),
        (GOOD.replace("outcome == 'reject'", "outcome ==="), "is not valid"),
        (GOOD.replace("kind: task", "kind: tsk"), "steps[0] (check).kind: Input should be"),
        (GOOD.replace("    sla: 4h\n", "    sla: 4h\n    asignee: bob\n"), "asignee: Extra inputs"),
        (GOOD.replace("    outcome: done\n", ""), "an end step needs an outcome"),
        (GOOD + "  - id: orphan\n    kind: end\n    outcome: x\n", "['orphan'] cannot be reached"),
        (GOOD.replace("name: tiny", "name: Tiny Process"), "name: String should match pattern"),
    ],
)
def test_a_malformed_process_gives_a_clear_error(text: str, expected: str) -> None:
    with pytest.raises(ProcessDefinitionError) as err:
        parse_process(text, source="proc.yaml")
    message = str(err.value)
    assert "proc.yaml" in message
    assert expected in message


def test_yaml_1_1_booleans_stay_strings() -> None:
    # Regression: YAML 1.1 reads NO (Norway), no, on, off as booleans. Here they stay text.
    d = parse_process(
        GOOD.replace("outcome == 'reject'", "country == 'NO'")
        .replace("    sla: 4h\n", "    sla: 4h\n    outcomes: [yes, no]\n")
        .replace("roles:\n", "params:\n  country: NO\n  flag: true\nroles:\n")
    )
    assert d.step("check").outcomes == ["yes", "no"]
    assert d.params["country"] == "NO"
    assert d.params["flag"] is True
    assert Condition("country == 'NO'").evaluate({**d.params})


def test_a_boolean_where_text_belongs_says_to_quote_it() -> None:
    with pytest.raises(ProcessDefinitionError, match="quote the value"):
        parse_process(GOOD.replace("assignee: approvers", "assignee: false"))


def test_a_file_that_is_missing_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ProcessDefinitionError, match="cannot be read"):
        load_process(tmp_path / "missing.yaml")


def test_conditions_compare_without_eval() -> None:
    c = Condition("amount >= limit and currency in ['EUR', 'USD'] and not blocked")
    assert c.evaluate({"amount": 10, "limit": 5, "currency": "EUR", "blocked": False})
    assert not c.evaluate({"amount": 1, "limit": 5, "currency": "EUR", "blocked": False})
    with pytest.raises(ConditionError, match="unknown name 'limit'"):
        c.evaluate({"amount": 1})
    with pytest.raises(ConditionError, match="Attribute is not allowed"):
        Condition("amount.__class__ == 1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(90, timedelta(minutes=90)), ("30m", timedelta(minutes=30)), ("1d 4h", timedelta(hours=28))],
)
def test_durations(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected
