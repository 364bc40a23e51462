"""governed_tool on plain functions: the agent calls ordinary Python functions, and Writ decides,
budgets, executes and records each call. Run it against a stack (`./dev stack up`):

    WRIT_URL=http://127.0.0.1:26080 WRIT_AGENT_KEY=... python examples/plain_functions.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from writ import ActionNotCompleted, WritClient, governed_tool


def triage_tools(writ: WritClient, run_id: str) -> dict[str, Callable[..., Any]]:
    """The tools of one run, by name (what an agent loop dispatches on). Each function's signature is
    the tool's; its body never runs: Writ's executor calls the helpdesk once the call is allowed."""

    @governed_tool(writ, "tickets.get", run=run_id)
    def get_ticket(ticket_id: str) -> dict[str, Any]:
        """Read a helpdesk ticket."""
        raise NotImplementedError

    @governed_tool(writ, "refunds.issue", run=run_id, reason=lambda args: f"refund for {args['ticket_id']}: {args['reason']}")
    def issue_refund(
        ticket_id: str, customer_id: str, amount_cents: int, ticket_tags: list[str], reason: str, card_last4: str | None = None
    ) -> dict[str, Any]:
        """Refund a customer for a ticket."""
        raise NotImplementedError

    return {"tickets.get": get_ticket, "refunds.issue": issue_refund}


def main() -> None:
    writ = WritClient(os.environ.get("WRIT_URL", "http://127.0.0.1:26080"), os.environ["WRIT_AGENT_KEY"])
    run = writ.open_run("triage T-1001", {"max_cost_micros": 2_000_000, "currency": "USD"})
    tools = triage_tools(writ, run["run_id"])
    print(tools["tickets.get"]("T-1001"))
    try:
        print(tools["refunds.issue"]("T-1001", "C-501", 2500, ["refund_approved"], "damaged parcel"))
    except ActionNotCompleted as error:  # denied (naming the policy), refused by a budget or a kill switch...
        print(f"not done: {error}")


if __name__ == "__main__":
    main()
