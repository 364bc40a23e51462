"""governed_tool: a plain function becomes a Writ-governed tool call, for any agent framework.

The decorated function is the tool's *signature*: its name, docstring and annotated parameters are
what a framework (LangChain's ``@tool``, the OpenAI Agents SDK's ``@function_tool``) shows the model.
Calling it proposes the call to Writ in the current run with the bound arguments, waits for the
outcome and returns the tool's result, which Writ's executor produced; the function's body never
runs. A call that does not complete raises the typed error (ActionDenied naming the policy,
ActionRefused for a budget or a kill switch...), which frameworks hand back to the model as the
tool's error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from .client import WritClient
from .errors import ActionNotCompleted
from .types import Provenance

__all__ = ["governed_tool", "default_idempotency_key"]

P = ParamSpec("P")
R = TypeVar("R")

RunSource = str | Callable[[], str]
"""The run a call belongs to: its id, or a function answering the current one (a context variable, the framework's state)."""


def default_idempotency_key(run_id: str, tool: str, arguments: Mapping[str, object]) -> str:
    """``<tool>:<sha256 of the canonical arguments>``: the same call with the same arguments in the same run is one
    action (a retry returns the first outcome, and a write runs once)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{tool}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def governed_tool(
    client: WritClient,
    tool: str,
    *,
    run: RunSource,
    reason: str | Callable[[Mapping[str, object]], str] | None = None,
    idempotency_key: Callable[[str, str, Mapping[str, object]], str] = default_idempotency_key,
    provenance: Provenance | Callable[[], Provenance | None] | None = None,
    timeout: float = 60.0,
    on_not_completed: Callable[[ActionNotCompleted], object] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Governs every call of the decorated function as the Writ tool ``tool``.

    ``run``: the run id, or a function answering it. ``reason``: why the agent makes the call, recorded with
    the proposal (a string, or a function of the arguments; default: the docstring's first line).
    ``idempotency_key``: from the run, tool and arguments (default :func:`default_idempotency_key`).
    ``timeout``: seconds to wait for the outcome (an action held for approval may take longer: OutcomeTimeout
    then carries its ``action_id``). ``on_not_completed``: instead of raising ActionDenied, ActionRefused...,
    return what it answers for the error (``str``: a sentence naming the status and the policy, for a framework
    that shows a tool's answer to the model rather than its exceptions). Works on ``async def`` functions too
    (the call runs in a thread).
    Parameters left at a default of ``None`` are not sent.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        summary = (inspect.getdoc(fn) or "").strip().splitlines()
        default_reason = summary[0] if summary else f"{fn.__name__} ({tool})"

        def arguments_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, object]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return {
                name: value
                for name, value in bound.arguments.items()
                if not (value is None and signature.parameters[name].default is None)
            }

        def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            arguments = arguments_of(args, kwargs)
            run_id = run() if callable(run) else run
            why = reason(arguments) if callable(reason) else reason if reason is not None else default_reason
            origin = provenance() if callable(provenance) else provenance
            try:
                action = client.execute(
                    run_id,
                    tool,
                    arguments,
                    reason=why,
                    idempotency_key=idempotency_key(run_id, tool, arguments),
                    provenance=origin,
                    timeout=timeout,
                )
            except ActionNotCompleted as error:
                if on_not_completed is None:
                    raise
                return on_not_completed(error)
            return action.get("result")

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def governed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await asyncio.to_thread(call, args, kwargs)

            return cast(Callable[P, R], governed_async)

        @functools.wraps(fn)
        def governed(*args: P.args, **kwargs: P.kwargs) -> R:
            return cast(R, call(args, kwargs))

        return governed

    return decorate
