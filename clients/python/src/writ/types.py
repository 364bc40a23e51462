"""The shapes of Writ's HTTP API (``GET /v1/openapi.json``), as TypedDicts: plain JSON, typed.

Answers are returned as the gateway sent them; fields the API may add later are kept (a TypedDict
does not drop keys), so a newer gateway never breaks an older client.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "TERMINAL_STATUSES",
    "Action",
    "ActionStatus",
    "Approval",
    "ApprovalAccepted",
    "ApprovalRequest",
    "ApprovalRequirement",
    "Control",
    "ControlKind",
    "ModelProvenance",
    "Proposed",
    "Provenance",
    "ReconciliationItem",
    "Rejection",
    "ResolutionAccepted",
    "RetrievedDocument",
    "Run",
    "RunCreated",
    "RunLimits",
    "RunMode",
    "Verdict",
    "is_terminal",
]

RunMode = Literal["live", "shadow"]
"""live (default): allowed actions execute; shadow: decided, budgeted and recorded, never executed."""

ActionStatus = Literal[
    "proposed",
    "admitted",
    "awaiting_approval",
    "allowed",
    "completed",
    "failed",
    "denied",
    "rejected",
    "refused",
    "expired",
]

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "denied", "rejected", "refused", "expired"})


def is_terminal(status: str) -> bool:
    """Whether an action in this status has ended (ActionCompleted)."""
    return status in TERMINAL_STATUSES


Verdict = Literal["approve", "deny"]
ControlKind = Literal["kill-switch", "safe-mode"]


class RunLimits(TypedDict, total=False):
    """A run's own caps; ``max_cost_micros`` needs ``currency`` (ISO 4217, e.g. ``USD``)."""

    max_steps: int
    max_cost_micros: int
    max_tool_calls: int
    wall_clock_ms: int
    currency: str


class RunCreated(TypedDict):
    run_id: str


class _RunRequired(TypedDict):
    run_id: str
    tenant_id: str
    agent_id: str
    goal: str
    limits: RunLimits
    mode: RunMode
    status: Literal["open", "completed", "failed", "killed", "expired"]


class Run(_RunRequired, total=False):
    reason: str | None
    started_at: str | None
    ended_at: str | None


class _ModelRequired(TypedDict):
    name: str


class ModelProvenance(_ModelRequired, total=False):
    provider: str
    version: str


class _DocumentRequired(TypedDict):
    id: str
    sha256: str
    """64 lowercase hex digits of the exact content read (never the content itself)."""


class RetrievedDocument(_DocumentRequired, total=False):
    version: str


class Provenance(TypedDict, total=False):
    """Where a proposal came from: metadata only (ids, versions, digests); at least one field, at most 32 documents."""

    model: ModelProvenance
    prompt_version: str
    retrieved_documents: list[RetrievedDocument]


class Proposed(TypedDict):
    """The answer to a proposal: the same idempotency key in the same run answers the same ``action_id``."""

    action_id: str
    status: ActionStatus


class ApprovalRequirement(TypedDict, total=False):
    policy_id: str
    count: int
    roles: list[str]
    expires_in_ms: int | None
    reason: str | None


class _ApprovalRequired(TypedDict):
    approver_id: str
    approver_role: str
    verdict: Verdict
    state: Literal["submitted", "accepted", "refused"]


class Approval(_ApprovalRequired, total=False):
    comment: str | None
    accepted: bool | None
    reason: str | None
    determining_policies: list[str]
    submitted_at: str | None
    recorded_at: str | None


class ApprovalRequest(TypedDict, total=False):
    """What an approver needs to decide in seconds (present while the action awaits approval)."""

    tool: str | None
    tool_version: str | None
    effect: Literal["read", "write", "destructive"] | None
    risk: Literal["low", "medium", "high"] | None
    policy: str
    reason: str | None
    needs: dict[str, Any]
    approved_by: list[str]
    requested_at: str | None
    expires_at: str | None
    proposal_reason: str | None
    run_spend: dict[str, Any] | None
    previous_similar: dict[str, Any] | None


class Rejection(TypedDict, total=False):
    code: str
    message: str
    field: str | None


class _ActionRequired(TypedDict):
    action_id: str
    run_id: str
    tenant_id: str
    status: ActionStatus
    terminal: bool
    shadow: bool
    approvals: list[Approval]
    submitted_approvals: list[Approval]
    determining_policies: list[str]


class Action(_ActionRequired, total=False):
    """An action as the gateway reports it (``GET /v1/actions/{id}``, the outcome, the approval queue)."""

    agent_id: str | None
    tool: str | None
    tool_version: str | None
    reason: str | None
    reason_code: str | None
    arguments: dict[str, Any] | None
    args_sha256: str | None
    proposal_reason: str | None
    idempotency_key: str | None
    decision: Literal["allow", "deny", "approval_required"] | None
    policy_set_version: str | None
    approval_requirement: ApprovalRequirement | None
    approval_request: ApprovalRequest | None
    denied_by: str | None
    rejection: Rejection | None
    result: Any
    cost_micros: int | None
    currency: str | None
    proposed_at: str | None
    updated_at: str | None
    completed_at: str | None
    unknown_outcome: dict[str, Any] | None
    reconciliation: dict[str, Any] | None


class ApprovalAccepted(TypedDict):
    """Submitted to the policy service, which judges whether it counts (see the action's ``approvals``)."""

    action_id: str
    status: Literal["submitted"]
    approver_id: str
    verdict: Verdict


class _ControlRequired(TypedDict):
    control_key: str
    scope: str
    control: Literal["kill_switch", "safe_mode"]
    subject: Literal["all", "tool", "agent"]
    kind: str
    target: str
    enabled: bool
    reason: str
    set_by: str
    set_at: str


class Control(_ControlRequired, total=False):
    """A kill switch or safe mode: ``control_key`` is ``<scope>/<kind>:<target>``, e.g. ``acme/tool:refunds.issue``."""

    tool: str
    agent: str


class _ReconciliationRequired(TypedDict):
    action_id: str
    run_id: str
    tenant_id: str
    message: str
    unknown_since: str


class ReconciliationItem(_ReconciliationRequired, total=False):
    """An action whose outcome is unknown: look the call up by ``tool_idempotency_key`` in the system of record."""

    agent_id: str | None
    tool: str | None
    tool_version: str | None
    idempotency_key: str | None
    tool_idempotency_key: str | None
    args_sha256: str | None
    error_code: str | None
    attempts: int | None
    cost_micros: int | None
    currency: str | None
    proposed_at: str | None


class ResolutionAccepted(TypedDict):
    action_id: str
    status: Literal["reconciled"]
    outcome: Literal["succeeded", "failed"]
    resolved_by: str
