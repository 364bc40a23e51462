"""governed_tool and the framework examples against a scripted gateway (the frameworks are stand-ins)."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_gateway import FakeGateway

from writ import ActionDenied, WritClient, default_idempotency_key, governed_tool

RUN = "run-1"
ACTION = "action-1"
EXAMPLES = Path(__file__).parents[2] / "examples"


def script(gateway: FakeGateway, status: str = "completed", **more: Any) -> None:
    gateway.on("POST", f"/v1/runs/{RUN}/actions", (202, {"action_id": ACTION, "status": "proposed"}))
    view = {"action_id": ACTION, "run_id": RUN, "tenant_id": "acme", "status": status, "terminal": True, "shadow": False}
    gateway.on("GET", f"/v1/actions/{ACTION}/outcome", (200, {**view, "approvals": [], "submitted_approvals": [], **more}))


def proposals(gateway: FakeGateway) -> list[Any]:
    return [r.body for r in gateway.calls("POST", f"/v1/runs/{RUN}/actions")]


def test_a_call_is_proposed_with_its_bound_arguments_and_answers_the_tools_result(gateway: FakeGateway, client: WritClient) -> None:
    script(gateway, result={"ticket_id": "T-1", "subject": "parcel damaged"}, determining_policies=["read-tools"])

    @governed_tool(client, "tickets.get", run=RUN)
    def get_ticket(ticket_id: str, include_notes: bool = False, locale: str | None = None) -> dict[str, Any]:
        """Read a helpdesk ticket.

        More words the reason leaves out.
        """
        raise AssertionError("the body never runs")

    assert get_ticket("T-1") == {"ticket_id": "T-1", "subject": "parcel damaged"}
    [sent] = proposals(gateway)
    # Defaults are sent, except those left at None; the reason is the docstring's first line.
    assert sent["arguments"] == {"ticket_id": "T-1", "include_notes": False}
    assert sent["tool"] == "tickets.get"
    assert sent["reason"] == "Read a helpdesk ticket."
    assert sent["idempotency_key"] == default_idempotency_key(RUN, "tickets.get", {"ticket_id": "T-1", "include_notes": False})


def test_the_same_call_has_the_same_key_and_another_call_another(gateway: FakeGateway, client: WritClient) -> None:
    script(gateway, result=None)

    @governed_tool(client, "tickets.get", run=lambda: RUN, reason=lambda args: f"read {args['ticket_id']}")
    def get_ticket(ticket_id: str) -> None:
        raise AssertionError

    get_ticket("T-1")
    get_ticket(ticket_id="T-1")
    get_ticket("T-2")
    keys = [p["idempotency_key"] for p in proposals(gateway)]
    assert keys[0] == keys[1] != keys[2]
    assert [p["reason"] for p in proposals(gateway)] == ["read T-1", "read T-1", "read T-2"]


def test_the_signature_and_docstring_stay_for_the_frameworks(client: WritClient) -> None:
    def issue_refund(ticket_id: str, amount_cents: int) -> dict[str, Any]:
        """Refund a customer."""
        raise AssertionError

    governed = governed_tool(client, "refunds.issue", run=RUN)(issue_refund)
    assert governed.__name__ == "issue_refund"
    assert governed.__doc__ == "Refund a customer."
    assert inspect.signature(governed) == inspect.signature(issue_refund)


def test_a_denial_raises_naming_the_policy_or_is_answered_as_text(gateway: FakeGateway, client: WritClient) -> None:
    script(gateway, "denied", tool="customers.delete", reason_code="POLICY_DENIED", determining_policies=["customer-delete-forbidden"])

    def delete_customer(customer_id: str) -> str:
        raise AssertionError

    with pytest.raises(ActionDenied) as raised:
        governed_tool(client, "customers.delete", run=RUN)(delete_customer)("C-1")
    assert raised.value.policies == ["customer-delete-forbidden"]
    answer = governed_tool(client, "customers.delete", run=RUN, on_not_completed=str)(delete_customer)("C-1")
    assert answer == "POLICY_DENIED: customers.delete denied by customer-delete-forbidden"


def test_an_async_function_is_awaited(gateway: FakeGateway, client: WritClient) -> None:
    script(gateway, result={"ok": True})
    provenance = {"prompt_version": "triage-v3"}

    @governed_tool(client, "tickets.get", run=RUN, provenance=lambda: provenance)  # type: ignore[arg-type, return-value]
    async def get_ticket(ticket_id: str) -> dict[str, Any]:
        raise AssertionError

    assert inspect.iscoroutinefunction(get_ticket)
    assert asyncio.run(get_ticket("T-1")) == {"ok": True}
    assert proposals(gateway)[0]["provenance"] == provenance


# -- the examples, with stand-ins of the frameworks' decorators ---------------------------------


def load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def frameworks() -> Iterator[None]:
    """`langchain_core.tools` and `agents` as identity decorators and a record of the agent: what the examples need of them."""

    def identity(fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    class Agent:
        def __init__(self, name: str, instructions: str, tools: list[Any]) -> None:
            self.name, self.tools = name, tools

    fakes = {
        "langchain_core": types.ModuleType("langchain_core"),
        "langchain_core.tools": types.ModuleType("langchain_core.tools"),
        "agents": types.ModuleType("agents"),
    }
    fakes["langchain_core.tools"].tool = identity  # type: ignore[attr-defined]
    fakes["langchain_core.tools"].BaseTool = object  # type: ignore[attr-defined]
    fakes["agents"].function_tool = identity  # type: ignore[attr-defined]
    fakes["agents"].Agent = Agent  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_the_plain_functions_example_governs_each_call(gateway: FakeGateway, client: WritClient) -> None:
    script(gateway, result={"refund_id": "R-1"})
    tools = load("plain_functions").triage_tools(client, RUN)
    assert tools["refunds.issue"]("T-1", "C-1", 2500, ["refund_approved"], "damaged") == {"refund_id": "R-1"}
    [sent] = proposals(gateway)
    assert sent["reason"] == "refund for T-1: damaged"
    assert "card_last4" not in sent["arguments"]


def test_the_langchain_example_answers_a_denial_as_the_tools_text(gateway: FakeGateway, client: WritClient, frameworks: None) -> None:
    script(gateway, "denied", tool="customers.delete", reason_code="POLICY_DENIED", determining_policies=["customer-delete-forbidden"])
    example = load("langchain_tools")
    get_ticket, delete_customer = example.governed_langchain_tools(client)
    example.current_run.set(RUN)
    assert "denied by customer-delete-forbidden" in delete_customer(customer_id="C-1", reason="gdpr")
    assert proposals(gateway)[0]["arguments"] == {"customer_id": "C-1", "reason": "gdpr"}


def test_the_openai_agents_example_builds_an_agent_of_governed_async_tools(gateway: FakeGateway, client: WritClient, frameworks: None) -> None:
    script(gateway, result={"ticket_id": "T-1"})
    example = load("openai_agents_tools")
    agent = example.triage_agent(client)
    get_ticket = agent.tools[0]

    async def call() -> Any:
        example.current_run.set(RUN)
        return await get_ticket(ticket_id="T-1")

    assert asyncio.run(call()) == {"ticket_id": "T-1"}
    assert proposals(gateway)[0]["tool"] == "tickets.get"
