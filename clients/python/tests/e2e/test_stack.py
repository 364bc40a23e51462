"""The SDK against the real stack: gateway, bus, policy (Cedar), budgets, executor and the demo helpdesk.

test/e2e/python-sdk.e2e.spec.ts starts one and names it in the environment: WRIT_E2E_URL and the demo
directory's keys of acme's agent, manager and operator. Without them, these tests are skipped.
"""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from writ import (
    Action,
    ActionDenied,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    PermissionDeniedError,
    WritClient,
    governed_tool,
)

NEEDED = ("WRIT_E2E_URL", "WRIT_E2E_AGENT_KEY", "WRIT_E2E_MANAGER_KEY", "WRIT_E2E_OPERATOR_KEY")
MISSING = [name for name in NEEDED if not os.environ.get(name)]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"no running stack: {', '.join(MISSING)} not set")

T = TypeVar("T")
EXAMPLES = Path(__file__).parents[2] / "examples"
REFUND = {"ticket_id": "T-1001", "customer_id": "C-501", "ticket_tags": ["refund_approved"], "reason": "duplicate charge"}


@pytest.fixture
def url() -> str:
    return os.environ["WRIT_E2E_URL"]


@pytest.fixture
def agent(url: str) -> WritClient:
    return WritClient(url, os.environ["WRIT_E2E_AGENT_KEY"])


@pytest.fixture
def manager(url: str) -> WritClient:
    return WritClient(url, os.environ["WRIT_E2E_MANAGER_KEY"])


@pytest.fixture
def operator(url: str) -> WritClient:
    return WritClient(url, os.environ["WRIT_E2E_OPERATOR_KEY"])


def key() -> str:
    return str(uuid.uuid4())


def until(what: str, probe: Callable[[], T | None], seconds: float = 30.0) -> T:
    """The first non-None answer of ``probe``, asked every 200 ms; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_open_a_live_run_and_a_shadow_run(agent: WritClient) -> None:
    live = agent.open_run("python e2e: live", {"max_cost_micros": 2_000_000, "currency": "USD"})
    run = agent.run(live["run_id"])
    assert (run["mode"], run["status"], run["goal"]) == ("live", "open", "python e2e: live")
    assert run["limits"].get("max_cost_micros") == 2_000_000

    shadow = agent.open_run("python e2e: rehearsal", mode="shadow")["run_id"]
    assert agent.run(shadow)["mode"] == "shadow"
    proposed = agent.propose(shadow, "refunds.issue", {**REFUND, "amount_cents": 2500}, reason="rehearse", idempotency_key=key())
    outcome = agent.outcome(proposed["action_id"])
    assert (outcome["status"], outcome["shadow"], outcome.get("cost_micros")) == ("completed", True, 0)
    result: dict[str, Any] = outcome.get("result") or {}
    assert result.get("would") == "execute"


def test_an_allowed_read_completes_with_the_tools_result(agent: WritClient) -> None:
    run = agent.open_run("python e2e: read a ticket")["run_id"]
    proposed = agent.propose(
        run,
        "tickets.get",
        {"ticket_id": "T-1001"},
        reason="read the ticket",
        idempotency_key=key(),
        provenance={"model": {"name": "claude-sonnet-4-5", "provider": "anthropic"}, "prompt_version": "triage-v3"},
    )
    outcome = agent.outcome(proposed["action_id"])
    assert outcome["status"] == "completed"
    assert outcome["terminal"]
    result: dict[str, Any] = outcome.get("result") or {}
    assert (result.get("id"), result.get("customer_id")) == ("T-1001", "C-501")

    # The same read through the plain-functions example: governed_tool answers the tool's result.
    spec = importlib.util.spec_from_file_location("plain_functions", EXAMPLES / "plain_functions.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    tools: dict[str, Callable[..., Any]] = example.triage_tools(agent, run)
    assert tools["tickets.get"]("T-1001")["id"] == "T-1001"


def test_a_denied_action_names_the_policy(agent: WritClient) -> None:
    run = agent.open_run("python e2e: a forbidden delete")["run_id"]
    proposed = agent.propose(run, "customers.delete", {"customer_id": "C-501", "reason": "asked to be forgotten"}, reason="gdpr", idempotency_key=key())
    outcome = agent.outcome(proposed["action_id"])
    assert outcome["status"] == "denied"
    assert "customer-delete-forbidden" in outcome["determining_policies"]

    @governed_tool(agent, "customers.delete", run=run)
    def delete_customer(customer_id: str, reason: str) -> None:
        raise AssertionError("never runs")

    with pytest.raises(ActionDenied) as raised:
        delete_customer("C-502", "asked to be forgotten")
    assert "customer-delete-forbidden" in raised.value.policies
    assert raised.value.code == outcome.get("reason_code")


def test_a_held_refund_approved_by_a_manager_completes(agent: WritClient, manager: WritClient) -> None:
    run = agent.open_run("python e2e: a large refund")["run_id"]
    refund = {**REFUND, "ticket_id": "T-1002", "customer_id": "C-502", "amount_cents": 25_000}
    proposed = agent.propose(run, "refunds.issue", refund, reason="refund of a cancelled annual plan", idempotency_key=key())
    action_id = proposed["action_id"]

    def held() -> Action | None:
        return next((a for a in manager.pending_approvals() if a["action_id"] == action_id), None)

    pending = until("the refund in the approval queue", held)
    request = pending.get("approval_request") or {}
    assert request.get("policy") == "refund-over-100-needs-manager-approval"
    assert request.get("needs") == {"count": 1, "roles": ["manager"]}
    assert agent.outcome(action_id, timeout=0)["status"] == "awaiting_approval"

    accepted = manager.approve(action_id, "checked the contract")
    assert (accepted["status"], accepted["approver_id"], accepted["verdict"]) == ("submitted", "maria", "approve")
    outcome = agent.outcome(action_id)
    assert outcome["status"] == "completed"
    assert [a["approver_id"] for a in outcome["approvals"] if a.get("accepted")] == ["maria"]


def test_a_held_refund_denied_by_a_manager_ends_denied_with_the_comment(agent: WritClient, manager: WritClient) -> None:
    run = agent.open_run("python e2e: a refund the manager refuses")["run_id"]
    refund = {**REFUND, "ticket_id": "T-1002", "customer_id": "C-502", "amount_cents": 26_000}
    action_id = agent.propose(run, "refunds.issue", refund, reason="goodwill refund", idempotency_key=key())["action_id"]
    until("the refund in the approval queue", lambda: next((a for a in manager.pending_approvals() if a["action_id"] == action_id), None))
    manager.deny(action_id, "not under contract")
    outcome = agent.outcome(action_id)
    assert outcome["status"] == "denied"
    decided = [a for a in outcome["approvals"] + outcome["submitted_approvals"] if a["approver_id"] == "maria"]
    assert [(a["verdict"], a.get("comment")) for a in decided] == [("deny", "not under contract")]


def test_an_idempotent_retry_is_the_same_action(agent: WritClient) -> None:
    run = agent.open_run("python e2e: a retried refund")["run_id"]
    idempotency_key = key()
    refund = {**REFUND, "amount_cents": 1500}
    first = agent.propose(run, "refunds.issue", refund, reason="damaged parcel", idempotency_key=idempotency_key)
    again = agent.propose(run, "refunds.issue", refund, reason="damaged parcel", idempotency_key=idempotency_key)
    assert again["action_id"] == first["action_id"]
    outcome = agent.outcome(first["action_id"])
    assert outcome["status"] == "completed"
    assert agent.outcome(again["action_id"])["result"] == outcome["result"]

    with pytest.raises(ConflictError) as raised:
        agent.propose(run, "refunds.issue", {**refund, "amount_cents": 1600}, reason="damaged parcel", idempotency_key=idempotency_key)
    assert raised.value.code == "IDEMPOTENCY_CONFLICT"


def test_a_kill_switch_refuses_the_next_call(agent: WritClient, operator: WritClient) -> None:
    pulled = operator.set_kill_switch(True, "python e2e", tool="tickets.get")
    assert (pulled["control_key"], pulled["enabled"]) == ("acme/tool:tickets.get", True)
    try:
        assert "acme/tool:tickets.get" in [c["control_key"] for c in operator.controls()]
        run = agent.open_run("python e2e: read while killed")["run_id"]

        def stopped() -> Action | None:
            # The services learn of the switch from the controls topic: a call just before it reached them may still run.
            proposed = agent.propose(run, "tickets.get", {"ticket_id": "T-1001"}, reason="read while killed", idempotency_key=key())
            outcome = agent.outcome(proposed["action_id"])
            return None if outcome["status"] == "completed" else outcome

        outcome = until("a call stopped by the kill switch", stopped)
        # Stopped by whichever service saw the switch first: the planner (rejected) or the executor.
        stop = (outcome["status"], outcome.get("reason_code"), outcome.get("reason"))
        assert stop[0] in ("rejected", "refused", "failed"), stop
        assert stop[1] in ("KILL_SWITCH", "TOOL_KILL_SWITCH"), stop
    finally:
        operator.set_kill_switch(False, "python e2e done", tool="tickets.get")
    assert "acme/tool:tickets.get" not in [c["control_key"] for c in operator.controls()]


def test_reconciliation_is_an_operators_queue(agent: WritClient, operator: WritClient) -> None:
    assert isinstance(operator.reconciliation(), list)
    with pytest.raises(PermissionDeniedError) as forbidden:
        agent.reconciliation()
    assert (forbidden.value.code, forbidden.value.status) == ("FORBIDDEN", 403)

    run = agent.open_run("python e2e: a known outcome")["run_id"]
    read = agent.propose(run, "tickets.get", {"ticket_id": "T-1001"}, reason="read", idempotency_key=key())
    assert agent.outcome(read["action_id"])["status"] == "completed"
    with pytest.raises(ConflictError) as known:
        operator.resolve(read["action_id"], "succeeded", "nothing to reconcile")
    assert known.value.code == "OUTCOME_NOT_UNKNOWN"


def test_a_bad_argument_names_the_field_and_the_rule(agent: WritClient) -> None:
    run = agent.open_run("python e2e: a bad amount")["run_id"]
    with pytest.raises(BadRequestError) as raised:
        agent.propose(run, "refunds.issue", {**REFUND, "amount_cents": "lots"}, reason="r", idempotency_key=key())
    assert (raised.value.code, raised.value.field, raised.value.rule, raised.value.status) == ("ARGUMENTS_INVALID", "arguments.amount_cents", "type", 400)


def test_a_wrong_key_is_an_authentication_error(url: str) -> None:
    with pytest.raises(AuthenticationError) as raised:
        WritClient(url, "wk_not_a_key_of_this_directory").open_run("python e2e: a stranger")
    assert (raised.value.code, raised.value.status) == ("UNAUTHENTICATED", 401)
