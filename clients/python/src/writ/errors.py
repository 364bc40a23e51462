"""Errors of the Writ client, one class per kind of answer.

Every error carries the gateway's stable ``code`` (``ARGUMENTS_INVALID``, ``UNAUTHENTICATED``...),
the ``field`` and ``rule`` a bad request broke, the HTTP ``status`` and whether retrying may help
(``retriable``). Check them by ``code``; the classes are there to ``except`` a kind at once.

An action that ended without completing (denied by a policy, refused by a budget or a kill switch,
rejected, failed, expired) is not an HTTP error: :meth:`WritClient.outcome` returns it as it is.
:meth:`WritClient.execute` and :func:`writ.governed_tool` raise it as an :class:`ActionNotCompleted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Action

__all__ = [
    "ActionDenied",
    "ActionExpired",
    "ActionFailed",
    "ActionNotCompleted",
    "ActionRefused",
    "ActionRejected",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectionFailed",
    "NotFoundError",
    "OutcomeTimeout",
    "PermissionDeniedError",
    "ServerError",
    "UnavailableError",
    "WritError",
    "error_from_response",
]


class WritError(Exception):
    """An error of the gateway or of the client, with the gateway's code, field and rule."""

    code: str
    message: str
    field: str | None
    rule: str | None
    status: int | None
    retriable: bool
    details: Mapping[str, Any]

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        status: int | None = None,
        retriable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        self.status = status
        self.retriable = retriable
        self.details = details if details is not None else {}

    def __str__(self) -> str:
        where = "" if self.field is None else f" ({self.field}{'' if self.rule is None else ': ' + self.rule})"
        return f"{self.code}{where}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, field={self.field!r}, rule={self.rule!r}, status={self.status!r})"


class BadRequestError(WritError):
    """400, 413, 415: the request broke a rule (``field`` and ``rule`` say which); nothing happened."""


class AuthenticationError(WritError):
    """401 UNAUTHENTICATED: no key, an unknown key or a revoked one."""


class PermissionDeniedError(WritError):
    """403 FORBIDDEN: the key's role may not do this."""


class NotFoundError(WritError):
    """404: unknown, or another tenant's (the gateway answers both alike)."""


class ConflictError(WritError):
    """409: IDEMPOTENCY_CONFLICT (the key was used for another call), ACTION_NOT_AWAITING_APPROVAL..."""


class UnavailableError(WritError):
    """503 (the bus is unavailable) or 429 (TOO_MANY_WAITERS): retriable."""


class ServerError(WritError):
    """Another 5xx answer."""


class ConnectionFailed(WritError):
    """The gateway could not be reached or did not answer in time (code ``UNREACHABLE``); retriable."""


_BY_STATUS: dict[int, type[WritError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    415: BadRequestError,
    429: UnavailableError,
    503: UnavailableError,
}


def error_from_response(status: int, body: object, what: str) -> WritError:
    """The typed error of a non-2xx answer whose JSON body is ``body`` (``{"error": {...}}``)."""
    error: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else WritError)
    code = error.get("code")
    message = error.get("message")
    field = error.get("field")
    rule = error.get("rule")
    details = error.get("details")
    return kind(
        code if isinstance(code, str) else f"HTTP_{status}",
        message if isinstance(message, str) else f"{what}: HTTP {status}",
        field=field if isinstance(field, str) else None,
        rule=rule if isinstance(rule, str) else None,
        status=status,
        retriable=status in (429, 502, 503, 504),
        details=details if isinstance(details, Mapping) else None,
    )


class ActionNotCompleted(WritError):
    """An action that ended otherwise than ``completed``, or had not ended in time.

    ``action`` is the gateway's view of it; ``code`` its ``reason_code`` (``POLICY_DENIED``,
    ``BUDGET_REFUSED``...); ``policies`` the policies that decided.
    """

    action: Action

    def __init__(self, action: Action, default_code: str) -> None:
        reason_code = action.get("reason_code")
        code = reason_code if isinstance(reason_code, str) else default_code
        policies = action.get("determining_policies", [])
        reason = action.get("reason")
        by = f" by {', '.join(policies)}" if policies else ""
        message = f"{action.get('tool') or 'the action'} {action['status']}{by}" + (f": {reason}" if reason else "")
        rejection = action.get("rejection")
        field = rejection.get("field") if rejection else None
        super().__init__(code, message, field=field, details={"action_id": action["action_id"]})
        self.action = action

    @property
    def action_id(self) -> str:
        return self.action["action_id"]

    @property
    def status_name(self) -> str:
        """The action's terminal status (``denied``, ``refused``...), or its pending one on a timeout."""
        return self.action["status"]

    @property
    def policies(self) -> list[str]:
        """The determining policies (for a denial: the forbid that matched)."""
        return list(self.action.get("determining_policies", []))


class ActionDenied(ActionNotCompleted):
    """A policy denied it (``policies`` names which); the tool was never called."""


class ActionRefused(ActionNotCompleted):
    """Refused before running: a budget, a cap, a kill switch or safe mode."""


class ActionRejected(ActionNotCompleted):
    """Rejected before running: its arguments broke the tool's contract (``field`` names which), a stopped tool."""


class ActionFailed(ActionNotCompleted):
    """The tool ran and failed, or its outcome is unknown (code ``OUTCOME_UNKNOWN``: reconciliation)."""


class ActionExpired(ActionNotCompleted):
    """Nobody approved it in time, or its run ended first."""


class OutcomeTimeout(ActionNotCompleted):
    """Still pending (awaiting approval, say) when the wait ended; ask again with its ``action_id``."""

    def __init__(self, action: Action) -> None:
        super().__init__(action, "OUTCOME_TIMEOUT")
        self.code = "OUTCOME_TIMEOUT"
        self.retriable = True
