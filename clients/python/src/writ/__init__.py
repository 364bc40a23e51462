"""Writ's Python SDK: a typed client of the gateway's HTTP API and a decorator that governs tool calls.

    from writ import WritClient

    writ = WritClient("http://127.0.0.1:26080", api_key)
    run = writ.open_run("triage the queue", {"max_cost_micros": 2_000_000, "currency": "USD"})
    proposed = writ.propose(run["run_id"], "tickets.get", {"ticket_id": "T-1001"},
                            reason="read the ticket", idempotency_key="T-1001:read")
    outcome = writ.outcome(proposed["action_id"])  # long-polls until terminal
"""

from ._version import __version__
from .client import WritClient, raise_for_outcome
from .errors import (
    ActionDenied,
    ActionExpired,
    ActionFailed,
    ActionNotCompleted,
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
    WritError,
)
from .tools import default_idempotency_key, governed_tool
from .types import (
    TERMINAL_STATUSES,
    Action,
    ActionStatus,
    Approval,
    ApprovalAccepted,
    ApprovalRequest,
    ApprovalRequirement,
    Control,
    ControlKind,
    ModelProvenance,
    Proposed,
    Provenance,
    ReconciliationItem,
    Rejection,
    ResolutionAccepted,
    RetrievedDocument,
    Run,
    RunCreated,
    RunLimits,
    RunMode,
    Verdict,
    is_terminal,
)

__all__ = [
    "TERMINAL_STATUSES",
    "Action",
    "ActionDenied",
    "ActionExpired",
    "ActionFailed",
    "ActionNotCompleted",
    "ActionRefused",
    "ActionRejected",
    "ActionStatus",
    "Approval",
    "ApprovalAccepted",
    "ApprovalRequest",
    "ApprovalRequirement",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectionFailed",
    "Control",
    "ControlKind",
    "ModelProvenance",
    "NotFoundError",
    "OutcomeTimeout",
    "PermissionDeniedError",
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
    "ServerError",
    "UnavailableError",
    "Verdict",
    "WritClient",
    "WritError",
    "__version__",
    "default_idempotency_key",
    "governed_tool",
    "is_terminal",
    "raise_for_outcome",
]
