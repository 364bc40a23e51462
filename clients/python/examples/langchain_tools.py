"""Writ-governed LangChain tools (`pip install langchain-core`; not needed by the SDK or its tests).

`@tool` reads the name, the docstring and the annotated parameters that governed_tool keeps, so the
model sees an ordinary tool; each call is proposed to Writ in the agent's current run and answers
the tool's result. A call that does not complete comes back to the model as the tool's answer
("customers.delete denied by customer-delete-forbidden: ..."), so it can change course.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from langchain_core.tools import BaseTool, tool

from writ import WritClient, governed_tool

# The run the agent is working in: set when a task starts (writ.open_run), read at each call.
current_run: ContextVar[str] = ContextVar("writ_run")


def governed_langchain_tools(writ: WritClient) -> list[BaseTool]:
    @tool
    @governed_tool(writ, "tickets.get", run=current_run.get, on_not_completed=str)
    def get_ticket(ticket_id: str) -> dict[str, Any]:
        """Read a helpdesk ticket by its id, e.g. T-1001."""
        raise NotImplementedError

    @tool
    @governed_tool(writ, "customers.delete", run=current_run.get, on_not_completed=str)
    def delete_customer(customer_id: str, reason: str) -> dict[str, Any]:
        """Delete a customer's record."""
        raise NotImplementedError

    return [get_ticket, delete_customer]


# With an agent (langchain, langgraph...):
#   writ = WritClient(url, agent_key)
#   current_run.set(writ.open_run("triage the queue")["run_id"])
#   agent = create_react_agent(model, governed_langchain_tools(writ))
