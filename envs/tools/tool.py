"""`Tool`: a plain typed Python function with a docstring, plus its JSON schema.

The schema comes from the signature (types, defaults) and the docstring (the summary describes
the tool, the ``Args:`` section describes each parameter; Google, NumPy and reST styles are read
by ``docstring-parser``). Arguments a model sends are validated against that schema with
``jsonschema`` before the function runs, and are passed on as the JSON values they are, so
parameters are annotated with JSON types: ``str``, ``int``, ``float``, ``bool``, ``None``,
``list[...]``, ``dict[str, ...]``, ``Literal[...]`` and unions of those (``int | None``).
Anything else is refused when the tool is defined, not when a model calls it.

How a call runs (``isolation``):

- ``"process"`` (default): in the env's tool worker process, with a hard timeout (the worker is
  killed and replaced when a call overruns) and a memory cap. For pure functions: state the
  function mutates lives in the worker, not in the env.
- ``"thread"``: in a fresh thread of the env's process, abandoned on timeout (the episode goes
  on; a thread stuck in pure Python keeps running until it returns). For stateful tools.
- ``"inline"``: called directly, no timeout. For built-in tools whose cost is bounded by
  construction (memory, search) or that enforce their own (``python`` runs in a sandbox).
"""

from __future__ import annotations

import importlib
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from assay.errors import AssayError

__all__ = ["Isolation", "Stateful", "Tool", "ToolError", "json_schema_of", "tool"]

Isolation = Literal["process", "thread", "inline"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class ToolError(AssayError):
    """Raise it from a tool to show the model its message as is (no exception type prefix)."""


@runtime_checkable
class Stateful(Protocol):
    """Per-episode tool state: `reset` at the start of each episode, `close` with the env."""

    def reset(self) -> None: ...

    def close(self) -> None: ...


def json_schema_of(annotation: Any, where: str = "value") -> dict[str, Any]:
    """The JSON schema of a JSON-typed annotation; `TypeError` for anything else."""
    if annotation is Any:
        return {}
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is None or annotation is type(None):
        return {"type": "null"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is list or origin is list:
        return {"type": "array", "items": json_schema_of(args[0], where)} if args else {"type": "array"}
    if annotation is dict or origin is dict:
        if args and args[0] is not str:
            raise TypeError(f"{where}: JSON object keys are strings, got dict[{args[0]!r}, ...]")
        if args:
            return {"type": "object", "additionalProperties": json_schema_of(args[1], where)}
        return {"type": "object"}
    if origin is Literal:
        if not all(isinstance(a, str | int | float | bool) or a is None for a in args):
            raise TypeError(f"{where}: Literal values must be JSON scalars, got {args!r}")
        return {"enum": list(args)}
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [json_schema_of(a, where) for a in args]}
    raise TypeError(
        f"{where}: {annotation!r} is not a JSON type (use str, int, float, bool, None, list, "
        "dict[str, ...], Literal or unions of them)"
    )


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(f'tools need {module}: pip install "assay[tools]"') from None


def _docs(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    parse = _require("docstring_parser").parse

    doc = parse(inspect.getdoc(fn) or "")
    summary = "\n\n".join(p for p in (doc.short_description, doc.long_description) if p)
    return summary.strip(), {p.arg_name: (p.description or "").strip() for p in doc.params}


@dataclass(frozen=True, eq=False)
class Tool:
    """A callable the policy can invoke by name.

    Build one with `tool` (or `Tool.from_function`); the fields are derived, not hand-written.

    Attributes:
        name: What the policy calls it.
        fn: The function (called with keyword arguments).
        description: For the model (from the docstring's summary).
        parameters: The JSON schema of the arguments (an ``object`` schema).
        isolation: ``"process"``, ``"thread"`` or ``"inline"`` (module docstring).
        timeout_s: Wall-clock budget of one call (``process`` and ``thread``).
        state: Per-episode state to reset and close, if the tool has any.
        preload: Modules the tool worker imports before its first call (outside the timeout).
    """

    name: str
    fn: Callable[..., Any]
    description: str
    parameters: Mapping[str, Any]
    isolation: Isolation = "process"
    timeout_s: float = 5.0
    state: Stateful | None = None
    preload: tuple[str, ...] = ()
    _validator: Any = field(default=None, repr=False)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        isolation: Isolation = "process",
        timeout_s: float = 5.0,
        state: Stateful | None = None,
        preload: tuple[str, ...] = (),
    ) -> Tool:
        """Derive a `Tool` from ``fn``'s signature and docstring (see the module docstring)."""
        if not callable(fn):
            raise TypeError(f"a tool must be callable, got {type(fn).__name__}")
        name = name or getattr(fn, "__name__", "")
        if not name or not set(name) <= _NAME_CHARS or len(name) > 64:
            raise ValueError(f"tool name must match [A-Za-z0-9_-]{{1,64}}, got {name!r}")
        if isolation not in ("process", "thread", "inline"):
            raise ValueError(f"isolation must be process, thread or inline, got {isolation!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if state is not None and isolation == "process":
            raise ValueError(f"tool {name!r} has per-episode state: use isolation='thread' or 'inline'")
        summary, arg_docs = _docs(fn)
        hints = typing.get_type_hints(fn)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for p in inspect.signature(fn).parameters.values():
            where = f"tool {name!r}, parameter {p.name!r}"
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise TypeError(f"{where}: only named parameters (no *args, **kwargs, or /)")
            if p.name not in hints:
                raise TypeError(f"{where}: needs a type annotation")
            schema = json_schema_of(hints[p.name], where)
            if arg_docs.get(p.name):
                schema["description"] = arg_docs[p.name]
            if p.default is p.empty:
                required.append(p.name)
            else:
                schema["default"] = p.default
            properties[p.name] = schema
        parameters: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        try:
            json.dumps(parameters)
        except (TypeError, ValueError) as e:
            raise TypeError(f"tool {name!r}: a default is not JSON-serialisable ({e})") from None
        validator = _require("jsonschema").Draft202012Validator
        validator.check_schema(parameters)
        return cls(
            name=name,
            fn=fn,
            description=description if description is not None else summary,
            parameters=parameters,
            isolation=isolation,
            timeout_s=float(timeout_s),
            state=state,
            preload=preload,
            _validator=validator(parameters),
        )

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``tools=[...]`` entry: ``{"type": "function", "function": {...}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }

    def validate(self, arguments: Any) -> list[str]:
        """Every way ``arguments`` breaks the schema, as short messages (empty when valid)."""
        if not isinstance(arguments, dict):
            return [f"arguments must be a JSON object, got {type(arguments).__name__}"]
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.path))
        out = []
        for e in errors[:5]:
            where = "/".join(str(p) for p in e.path)
            out.append(f"{where}: {e.message}" if where else e.message)
        return [m if len(m) <= 300 else m[:300] + "..." for m in out]

    def __call__(self, **arguments: Any) -> Any:
        return self.fn(**arguments)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    isolation: Isolation = "process",
    timeout_s: float = 5.0,
) -> Any:
    """Turn a typed, documented function into a `Tool`; usable bare (``@tool``) or with options.

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.
        ...
        ...     Args:
        ...         a: The first addend.
        ...         b: The second addend.
        ...     '''
        ...     return a + b
        >>> add.parameters["required"]
        ['a', 'b']
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            f, name=name, description=description, isolation=isolation, timeout_s=timeout_s
        )

    return wrap if fn is None else wrap(fn)
