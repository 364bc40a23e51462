"""WritClient against a scripted gateway: what it sends, how it reads the answers, its typed errors."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from fake_gateway import FakeGateway

import writ
from writ import (
    ActionDenied,
    ActionRefused,
    ActionRejected,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    OutcomeTimeout,
    PermissionDeniedError,
    ServerError,
    UnavailableError,
    WritClient,
)

RUN = "0190d4f0-0000-7000-8000-000000000001"
ACTION = "0190d4f0-0000-7000-8000-0000000000a1"


def action(status: str, **more: Any) -> dict[str, Any]:
    return {
        "action_id": ACTION,
        "run_id": RUN,
        "tenant_id": "acme",
        "status": status,
        "terminal": writ.is_terminal(status),
        "shadow": False,
        "approvals": [],
        "submitted_approvals": [],
        "determining_policies": [],
        **more,
    }


def test_open_run_sends_the_goal_limits_and_mode_with_the_key(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("POST", "/v1/runs", (201, {"run_id": RUN}))
    created = client.open_run("triage", {"max_cost_micros": 2_000_000, "currency": "USD"}, "shadow")
    assert created == {"run_id": RUN}
    [sent] = gateway.calls("POST", "/v1/runs")
    assert sent.body == {"goal": "triage", "mode": "shadow", "limits": {"max_cost_micros": 2_000_000, "currency": "USD"}}
    assert sent.headers["authorization"] == "Bearer wk_test_key"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("writ-sdk-python/")


def test_open_run_leaves_out_what_is_not_given(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("POST", "/v1/runs", (201, {"run_id": RUN}))
    client.open_run("triage")
    assert gateway.calls("POST", "/v1/runs")[0].body == {"goal": "triage"}


def test_propose_sends_the_idempotency_key_and_provenance_to_the_run(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("POST", f"/v1/runs/{RUN}/actions", (202, {"action_id": ACTION, "status": "proposed"}))
    provenance: writ.Provenance = {
        "model": {"name": "claude-sonnet-4-5", "provider": "anthropic"},
        "retrieved_documents": [{"id": "kb/refunds", "sha256": "a" * 64}],
    }
    proposed = client.propose(
        RUN, "refunds.issue", {"amount_cents": 2500}, reason="damaged", idempotency_key="T-1:refund", provenance=provenance
    )
    assert proposed == {"action_id": ACTION, "status": "proposed"}
    assert gateway.calls("POST", f"/v1/runs/{RUN}/actions")[0].body == {
        "tool": "refunds.issue",
        "arguments": {"amount_cents": 2500},
        "reason": "damaged",
        "idempotency_key": "T-1:refund",
        "provenance": provenance,
    }


def test_ids_are_one_path_segment(gateway: FakeGateway, client: WritClient) -> None:
    with pytest.raises(NotFoundError):
        client.action("../runs/x?y")
    assert gateway.requests[0].path == "/v1/actions/..%2Fruns%2Fx%3Fy"


def test_outcome_long_polls_until_the_action_is_terminal(gateway: FakeGateway, client: WritClient) -> None:
    path = f"/v1/actions/{ACTION}/outcome"
    gateway.on("GET", path, (200, action("awaiting_approval")), (200, action("allowed")), (200, action("completed", result={"ok": True})))
    outcome = client.outcome(ACTION, timeout=30)
    assert outcome["status"] == "completed"
    assert outcome.get("result") == {"ok": True}
    polls = gateway.calls("GET", path)
    assert len(polls) == 3
    assert all(0 < int(p.query["timeout_ms"]) <= 10_000 for p in polls)


def test_outcome_answers_the_pending_state_when_the_wait_ends(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("GET", f"/v1/actions/{ACTION}/outcome", (200, action("awaiting_approval")))
    assert client.outcome(ACTION, timeout=0)["status"] == "awaiting_approval"
    assert gateway.requests[0].query == {"timeout_ms": "0"}


def test_execute_returns_the_completed_action(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("POST", f"/v1/runs/{RUN}/actions", (202, {"action_id": ACTION, "status": "proposed"}))
    gateway.on("GET", f"/v1/actions/{ACTION}/outcome", (200, action("completed", result={"ticket_id": "T-1"})))
    done = client.execute(RUN, "tickets.get", {"ticket_id": "T-1"}, reason="read", idempotency_key="k")
    assert done.get("result") == {"ticket_id": "T-1"}


def test_execute_raises_a_denial_naming_the_policy(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("POST", f"/v1/runs/{RUN}/actions", (202, {"action_id": ACTION, "status": "proposed"}))
    denied = action(
        "denied", tool="customers.delete", reason_code="POLICY_DENIED", reason="forbidden", determining_policies=["customer-delete-forbidden"]
    )
    gateway.on("GET", f"/v1/actions/{ACTION}/outcome", (200, denied))
    with pytest.raises(ActionDenied) as raised:
        client.execute(RUN, "customers.delete", {"customer_id": "C-1"}, reason="gdpr", idempotency_key="k")
    assert raised.value.code == "POLICY_DENIED"
    assert raised.value.policies == ["customer-delete-forbidden"]
    assert raised.value.action_id == ACTION
    assert "customer-delete-forbidden" in str(raised.value)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [("refused", ActionRefused, "KILL_SWITCH"), ("rejected", ActionRejected, "ARGUMENTS_INVALID"), ("awaiting_approval", OutcomeTimeout, "OUTCOME_TIMEOUT")],
)
def test_raise_for_outcome_types_every_other_end(status: str, kind: type[writ.ActionNotCompleted], code: str) -> None:
    reason_code = None if status == "awaiting_approval" else code
    with pytest.raises(kind) as raised:
        writ.raise_for_outcome(action(status, reason_code=reason_code))  # type: ignore[arg-type]
    assert raised.value.code == code
    assert raised.value.status_name == status


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError), (409, ConflictError)],
)
def test_errors_are_typed_and_carry_the_code_field_and_rule(
    gateway: FakeGateway, client: WritClient, status: int, kind: type[writ.WritError]
) -> None:
    body = {"error": {"code": "CODE", "message": "the message", "field": "arguments.amount_cents", "rule": "type", "details": {"tool": "refunds.issue"}}}
    gateway.on("POST", f"/v1/runs/{RUN}/actions", (status, body))
    with pytest.raises(kind) as raised:
        client.propose(RUN, "refunds.issue", {"amount_cents": "x"}, reason="r", idempotency_key="k")
    error = raised.value
    assert (error.code, error.field, error.rule, error.status, error.message) == ("CODE", "arguments.amount_cents", "type", status, "the message")
    assert error.details == {"tool": "refunds.issue"}
    assert not error.retriable
    assert str(error) == "CODE (arguments.amount_cents: type): the message"


def test_an_answer_without_an_error_body_still_has_a_code(gateway: FakeGateway, client: WritClient) -> None:
    gateway.on("GET", "/v1/controls", (500, b"<html>oops</html>"))
    with pytest.raises(ServerError) as raised:
        client.controls()
    assert raised.value.code == "HTTP_500"
    assert raised.value.status == 500


def test_reads_and_proposals_are_retried_on_a_retriable_answer(gateway: FakeGateway) -> None:
    client = WritClient(gateway.url, "k", retries=2, backoff=0.001)
    busy = (503, {"error": {"code": "BUS_UNAVAILABLE", "message": "try again"}})
    gateway.on("GET", f"/v1/runs/{RUN}", busy, (200, {"run_id": RUN}))
    assert client.run(RUN)["run_id"] == RUN
    gateway.on("POST", f"/v1/runs/{RUN}/actions", busy, busy, (202, {"action_id": ACTION, "status": "proposed"}))
    assert client.propose(RUN, "tickets.get", {}, reason="r", idempotency_key="k")["action_id"] == ACTION
    assert len(gateway.calls("POST", f"/v1/runs/{RUN}/actions")) == 3


def test_opening_a_run_is_not_retried_and_the_last_error_is_raised(gateway: FakeGateway) -> None:
    client = WritClient(gateway.url, "k", retries=2, backoff=0.001)
    gateway.on("POST", "/v1/runs", (503, {"error": {"code": "BUS_UNAVAILABLE", "message": "try again"}}))
    with pytest.raises(UnavailableError) as raised:
        client.open_run("g")
    assert raised.value.retriable
    assert len(gateway.calls("POST", "/v1/runs")) == 1


def test_an_unreachable_gateway_is_a_retriable_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WritClient(f"http://127.0.0.1:{port}", "k", retries=0)
    with pytest.raises(ConnectionFailed) as raised:
        client.controls()
    assert raised.value.code == "UNREACHABLE"
    assert raised.value.retriable


def test_approvals_list_the_pending_queue_and_decide_with_a_comment(gateway: FakeGateway, client: WritClient) -> None:
    request = {"tool": "refunds.issue", "policy": "refund-over-100-needs-manager-approval", "needs": {"count": 1, "roles": ["manager"]}}
    gateway.on("GET", "/v1/approvals", (200, {"approvals": [action("awaiting_approval", approval_request=request)]}))
    [pending] = client.pending_approvals()
    assert pending.get("approval_request") == request
    assert gateway.requests[0].query == {"status": "pending"}
    accepted = {"action_id": ACTION, "status": "submitted", "approver_id": "maria", "verdict": "approve"}
    gateway.on("POST", f"/v1/approvals/{ACTION}", (202, accepted))
    assert client.approve(ACTION, "checked the contract") == accepted
    client.deny(ACTION, "not under contract")
    client.approve(ACTION)
    assert [c.body for c in gateway.calls("POST", f"/v1/approvals/{ACTION}")] == [
        {"verdict": "approve", "comment": "checked the contract"},
        {"verdict": "deny", "comment": "not under contract"},
        {"verdict": "approve"},
    ]


def test_controls_reach_the_tenant_a_tool_an_agent_or_the_platform(gateway: FakeGateway, client: WritClient) -> None:
    paths = [
        "/v1/controls/kill-switch",
        "/v1/controls/tools/refunds.issue/kill-switch",
        "/v1/controls/agents/triage-bot/safe-mode",
        "/v1/controls/platform/tools/refunds.issue/safe-mode",
        "/v1/controls/platform/kill-switch",
    ]
    for path in paths:
        gateway.on("PUT", path, (200, {"control_key": path}))
    client.set_kill_switch(True, "incident")
    client.set_kill_switch(True, "incident", tool="refunds.issue")
    client.set_safe_mode(True, "incident", agent="triage-bot")
    client.set_safe_mode(False, "over", tool="refunds.issue", platform=True)
    client.set_control("kill-switch", True, "incident", platform=True)
    assert [r.path for r in gateway.requests] == paths
    assert gateway.requests[3].body == {"enabled": False, "reason": "over"}
    gateway.on("GET", "/v1/controls", (200, {"controls": [{"control_key": "acme/tool:refunds.issue"}]}))
    assert [c["control_key"] for c in client.controls()] == ["acme/tool:refunds.issue"]


def test_a_control_names_one_subject() -> None:
    client = WritClient("http://127.0.0.1:9", "k")
    with pytest.raises(ValueError, match="tool, agent"):
        client.set_kill_switch(True, "x", tool="t.a", agent="a")
    with pytest.raises(ValueError, match="agent"):
        client.set_safe_mode(True, "x", agent="a", platform=True)


def test_reconciliation_lists_and_resolves_unknown_outcomes(gateway: FakeGateway, client: WritClient) -> None:
    item = {"action_id": ACTION, "run_id": RUN, "tenant_id": "acme", "message": "timeout after sending", "unknown_since": "2026-01-01T00:00:00Z"}
    gateway.on("GET", "/v1/reconciliation", (200, {"reconciliation": [item]}))
    assert client.reconciliation() == [item]
    resolved = {"action_id": ACTION, "status": "reconciled", "outcome": "succeeded", "resolved_by": "oscar"}
    gateway.on("POST", f"/v1/reconciliation/{ACTION}", (202, resolved))
    assert client.resolve(ACTION, "succeeded", "refund R-1 found") == resolved
    assert gateway.calls("POST", f"/v1/reconciliation/{ACTION}")[0].body == {"outcome": "succeeded", "note": "refund R-1 found"}


def test_the_key_never_shows_in_the_client_repr() -> None:
    assert "secret" not in repr(WritClient("http://127.0.0.1:9", "wk_secret"))


def test_bad_settings_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="base_url"):
        WritClient("127.0.0.1:26080", "k")
    with pytest.raises(ValueError, match="api_key"):
        WritClient("http://127.0.0.1:26080", "")
