"""WritClient: Writ's HTTP API over the standard library (urllib), one API key per client."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

from ._version import __version__
from .errors import (
    ActionDenied,
    ActionExpired,
    ActionFailed,
    ActionNotCompleted,
    ActionRefused,
    ActionRejected,
    ConnectionFailed,
    OutcomeTimeout,
    WritError,
    error_from_response,
)
from .types import (
    Action,
    ApprovalAccepted,
    Control,
    ControlKind,
    Proposed,
    Provenance,
    ReconciliationItem,
    ResolutionAccepted,
    Run,
    RunCreated,
    RunLimits,
    RunMode,
    Verdict,
    is_terminal,
)

__all__ = ["WritClient", "raise_for_outcome"]

_USER_AGENT = f"writ-sdk-python/{__version__}"

# The gateway's longest long poll (GET /v1/actions/{id}/outcome?timeout_ms= allows 30000); each poll waits at most this.
_POLL_MS = 10_000

_NOT_COMPLETED: dict[str, type[ActionNotCompleted]] = {
    "denied": ActionDenied,
    "refused": ActionRefused,
    "rejected": ActionRejected,
    "failed": ActionFailed,
    "expired": ActionExpired,
}


def raise_for_outcome(action: Action) -> Action:
    """The action when it completed; otherwise its typed error (ActionDenied naming the policy...)."""
    status = action["status"]
    if status == "completed":
        return action
    kind = _NOT_COMPLETED.get(status)
    if kind is None:
        raise OutcomeTimeout(action)
    raise kind(action, status.upper())


def _segment(value: str) -> str:
    return quote(value, safe="")


class WritClient:
    """A client of the Writ gateway, authenticated with one API key (an agent's, an approver's or an operator's).

    Every non-2xx answer raises a :class:`writ.WritError` subclass carrying the gateway's ``code``,
    ``field`` and ``rule``. Calls that are safe to repeat (reads, proposals, which carry their
    idempotency key, and controls) are retried ``retries`` times on a retriable error (503, 429,
    the gateway unreachable), waiting ``backoff`` seconds, then twice as long each time.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, retries: int = 2, backoff: float = 0.2) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL, got {base_url!r}")
        if api_key == "":
            raise ValueError("api_key: must not be empty")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        # Never the key: a repr ends up in logs and tracebacks.
        return f"WritClient({self._base_url!r})"

    # -- transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        query: Mapping[str, str | int] | None = None,
        timeout: float | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One call of the API: the parsed JSON answer, or a typed WritError."""
        url = self._base_url + path + ("" if not query else "?" + urlencode(query))
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"authorization": f"Bearer {self._api_key}", "accept": "application/json", "user-agent": _USER_AGENT}
        if data is not None:
            headers["content-type"] = "application/json"
        repeat = idempotent if idempotent is not None else method in ("GET", "PUT")
        attempt = 0
        while True:
            try:
                return self._send(urllib.request.Request(url, data=data, headers=headers, method=method), method, path, timeout)
            except WritError as error:
                if not (repeat and error.retriable and attempt < self._retries):
                    raise
                attempt += 1
                time.sleep(self._backoff * 2 ** (attempt - 1))

    def _send(self, request: urllib.request.Request, method: str, path: str, timeout: float | None) -> Any:
        what = f"{method} {path}"
        try:
            with urllib.request.urlopen(request, timeout=timeout if timeout is not None else self._timeout) as response:
                return _parse(response.read(), what)
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            try:
                body: object = json.loads(raw) if raw else None
            except ValueError:
                body = None
            raise error_from_response(error.code, body, what) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            raise ConnectionFailed("UNREACHABLE", f"{what}: {reason}", retriable=True) from error

    # -- runs --------------------------------------------------------------------------------

    def open_run(self, goal: str, limits: RunLimits | None = None, mode: RunMode | None = None) -> RunCreated:
        """Opens a run for the calling agent; ``mode="shadow"``: its actions are decided, budgeted and recorded, never executed."""
        body: dict[str, object] = {"goal": goal}
        if mode is not None:
            body["mode"] = mode
        if limits is not None:
            body["limits"] = limits
        return cast(RunCreated, self.request("POST", "/v1/runs", body))

    def run(self, run_id: str) -> Run:
        return cast(Run, self.request("GET", f"/v1/runs/{_segment(run_id)}"))

    # -- actions -----------------------------------------------------------------------------

    def propose(
        self,
        run_id: str,
        tool: str,
        arguments: Mapping[str, object],
        *,
        reason: str,
        idempotency_key: str,
        provenance: Provenance | None = None,
        tool_version: str | None = None,
    ) -> Proposed:
        """Proposes a tool call in a run. The same ``idempotency_key`` in the same run is the same action, run once
        (so this call is retried on a retriable error); reused for another tool or other arguments it is a ConflictError."""
        body: dict[str, object] = {"tool": tool, "arguments": arguments, "reason": reason, "idempotency_key": idempotency_key}
        if provenance is not None:
            body["provenance"] = provenance
        if tool_version is not None:
            body["tool_version"] = tool_version
        return cast(Proposed, self.request("POST", f"/v1/runs/{_segment(run_id)}/actions", body, idempotent=True))

    def action(self, action_id: str) -> Action:
        return cast(Action, self.request("GET", f"/v1/actions/{_segment(action_id)}"))

    def outcome(self, action_id: str, timeout: float = 30.0) -> Action:
        """Long-polls until the action is terminal (completed, failed, denied, rejected, refused, expired) or
        ``timeout`` seconds pass; then returns its state as it is (check ``terminal``). Never raises for
        how the action ended: see :meth:`execute` and :func:`raise_for_outcome` for that."""
        deadline = time.monotonic() + timeout
        while True:
            wait_ms = max(0, min(_POLL_MS, int((deadline - time.monotonic()) * 1000)))
            view = cast(
                Action,
                self.request(
                    "GET",
                    f"/v1/actions/{_segment(action_id)}/outcome",
                    query={"timeout_ms": wait_ms},
                    timeout=wait_ms / 1000 + self._timeout,
                ),
            )
            if is_terminal(view["status"]) or time.monotonic() >= deadline:
                return view

    def execute(
        self,
        run_id: str,
        tool: str,
        arguments: Mapping[str, object],
        *,
        reason: str,
        idempotency_key: str,
        provenance: Provenance | None = None,
        timeout: float = 60.0,
    ) -> Action:
        """Proposes and waits: the completed action (its ``result`` is the tool's), or raises ActionDenied,
        ActionRefused, ActionRejected, ActionFailed, ActionExpired, or OutcomeTimeout if still pending."""
        proposed = self.propose(run_id, tool, arguments, reason=reason, idempotency_key=idempotency_key, provenance=provenance)
        return raise_for_outcome(self.outcome(proposed["action_id"], timeout))

    # -- approvals ---------------------------------------------------------------------------

    def pending_approvals(self) -> list[Action]:
        """The caller's tenant's actions awaiting approval, oldest first, each with its ``approval_request``."""
        answer = cast(dict[str, list[Action]], self.request("GET", "/v1/approvals", query={"status": "pending"}))
        return answer["approvals"]

    def decide(self, action_id: str, verdict: Verdict, comment: str | None = None) -> ApprovalAccepted:
        """Submits a verdict; whether it counts is the policy service's decision (it shows in the action's ``approvals``)."""
        body: dict[str, object] = {"verdict": verdict}
        if comment is not None:
            body["comment"] = comment
        return cast(ApprovalAccepted, self.request("POST", f"/v1/approvals/{_segment(action_id)}", body))

    def approve(self, action_id: str, comment: str | None = None) -> ApprovalAccepted:
        return self.decide(action_id, "approve", comment)

    def deny(self, action_id: str, comment: str | None = None) -> ApprovalAccepted:
        return self.decide(action_id, "deny", comment)

    # -- controls ----------------------------------------------------------------------------

    def controls(self) -> list[Control]:
        """The kill switches and safe modes switched on that reach the caller's tenant (its own and the platform's)."""
        return cast(dict[str, list[Control]], self.request("GET", "/v1/controls"))["controls"]

    def set_control(
        self,
        kind: ControlKind,
        enabled: bool,
        reason: str,
        *,
        tool: str | None = None,
        agent: str | None = None,
        platform: bool = False,
    ) -> Control:
        """Pulls or releases a kill switch, or turns safe mode on or off: for the caller's tenant as a whole,
        one ``tool`` or one ``agent`` (an operator's key); ``platform=True``: every tenant (a platform admin's key)."""
        if tool is not None and agent is not None:
            raise ValueError("tool, agent: give one of them, or neither for the whole tenant")
        if platform and agent is not None:
            raise ValueError("agent: a platform control applies to every tool or one tool, not to an agent")
        subject = f"/tools/{_segment(tool)}" if tool is not None else f"/agents/{_segment(agent)}" if agent is not None else ""
        path = f"/v1/controls{'/platform' if platform else ''}{subject}/{kind}"
        return cast(Control, self.request("PUT", path, {"enabled": enabled, "reason": reason}))

    def set_kill_switch(
        self, enabled: bool, reason: str, *, tool: str | None = None, agent: str | None = None, platform: bool = False
    ) -> Control:
        return self.set_control("kill-switch", enabled, reason, tool=tool, agent=agent, platform=platform)

    def set_safe_mode(
        self, enabled: bool, reason: str, *, tool: str | None = None, agent: str | None = None, platform: bool = False
    ) -> Control:
        return self.set_control("safe-mode", enabled, reason, tool=tool, agent=agent, platform=platform)

    # -- reconciliation ----------------------------------------------------------------------

    def reconciliation(self) -> list[ReconciliationItem]:
        """Actions of the caller's tenant whose outcome is unknown and unresolved (operators)."""
        return cast(dict[str, list[ReconciliationItem]], self.request("GET", "/v1/reconciliation"))["reconciliation"]

    def resolve(self, action_id: str, outcome: Literal["succeeded", "failed"], note: str) -> ResolutionAccepted:
        """Resolves an unknown outcome with the evidence (``note``: what was looked up and found, never a secret)."""
        return cast(
            ResolutionAccepted,
            self.request("POST", f"/v1/reconciliation/{_segment(action_id)}", {"outcome": outcome, "note": note}),
        )


def _parse(raw: bytes, what: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise WritError("RESPONSE_INVALID", f"{what}: the answer is not JSON ({error})") from None
