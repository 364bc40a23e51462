"""Writ-governed function tools for the OpenAI Agents SDK (`pip install openai-agents`; not needed by
the SDK or its tests).

`@function_tool` builds the tool's JSON schema from the signature and docstring that governed_tool
keeps. The SDK turns an exception raised by a tool into the tool's answer to the model, so a denial
(ActionDenied, naming the policy) or a refusal (ActionRefused: a budget, a kill switch) reaches the
model as it is. `async def` tools are awaited by the SDK; governed_tool waits for Writ in a thread.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from agents import Agent, function_tool

from writ import WritClient, governed_tool

current_run: ContextVar[str] = ContextVar("writ_run")


def triage_agent(writ: WritClient) -> Agent:
    @function_tool
    @governed_tool(writ, "tickets.get", run=current_run.get)
    async def get_ticket(ticket_id: str) -> dict[str, Any]:
        """Read a helpdesk ticket.

        Args:
            ticket_id: The ticket's id, e.g. T-1001.
        """
        raise NotImplementedError

    @function_tool
    @governed_tool(writ, "refunds.issue", run=current_run.get, timeout=300)
    async def issue_refund(ticket_id: str, customer_id: str, amount_cents: int, ticket_tags: list[str], reason: str) -> dict[str, Any]:
        """Refund a customer; refunds over $100 wait for a manager's approval."""
        raise NotImplementedError

    return Agent(name="triage", instructions="Triage the helpdesk queue.", tools=[get_ticket, issue_refund])


# writ = WritClient(url, agent_key)
# current_run.set(writ.open_run("triage the queue")["run_id"])
# result = await Runner.run(triage_agent(writ), "Refund T-1001, the parcel arrived damaged.")
