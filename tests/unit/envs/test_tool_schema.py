"""Tool schemas come from the signature and the docstring; arguments are validated against them."""

from typing import Literal

import pytest

from assay.envs.tools import Tool, tool
from assay.envs.tools.memory import Memory


def scale(
    values: list[float], factor: float = 2.0, mode: Literal["up", "down"] = "up", note: str | None = None
) -> list[float]:
    """Scale numbers.

    Multiplies every value.

    Args:
        values: The numbers to scale.
        factor: The multiplier.
        mode: Direction.
        note: Optional remark.
    """
    return [v * factor for v in values]


def test_schema_from_signature_and_docstring():
    t = tool(scale)
    assert t.name == "scale"
    assert t.description == "Scale numbers.\n\nMultiplies every value."
    p = t.parameters
    assert p["type"] == "object" and p["required"] == ["values"] and p["additionalProperties"] is False
    assert p["properties"]["values"] == {
        "type": "array",
        "items": {"type": "number"},
        "description": "The numbers to scale.",
    }
    assert p["properties"]["factor"] == {"type": "number", "description": "The multiplier.", "default": 2.0}
    assert p["properties"]["mode"]["enum"] == ["up", "down"]
    assert p["properties"]["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_openai_form():
    spec = tool(scale).openai()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "scale" and spec["function"]["parameters"]["required"] == ["values"]


def test_decorator_with_options_and_call_through():
    @tool(name="add-ints", isolation="inline", timeout_s=1.0)
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert add.name == "add-ints" and add.isolation == "inline" and add(a=2, b=3) == 5


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"values": "1,2"}, "is not of type 'array'"),
        ({"values": [1, "x"]}, "'x' is not of type 'number'"),
        ({}, "'values' is a required property"),
        ({"values": [1], "extra": 1}, "Additional properties are not allowed"),
        ({"values": [1], "mode": "sideways"}, "is not one of"),
        ({"values": [1], "factor": True}, "is not of type 'number'"),
        ([1, 2], "arguments must be a JSON object"),
    ],
)
def test_validation_reports_each_problem(arguments, problem):
    problems = tool(scale).validate(arguments)
    assert problems and any(problem in p for p in problems), problems


def test_valid_arguments_pass():
    assert tool(scale).validate({"values": [1, 2.5], "factor": 3, "mode": "down", "note": None}) == []


def test_bool_is_not_an_integer():
    def f(n: int) -> int:
        """F."""
        return n

    assert tool(f).validate({"n": True})


@pytest.mark.parametrize(
    "fn",
    [
        lambda: None,  # no name that fits, no annotations: lambda has name "<lambda>"
    ],
)
def test_bad_name_is_refused(fn):
    with pytest.raises(ValueError, match="tool name"):
        Tool.from_function(fn)


def test_non_json_types_are_refused_at_definition():
    def f(x: complex) -> str:
        """F."""
        return ""

    with pytest.raises(TypeError, match="not a JSON type"):
        tool(f)


def test_missing_annotation_and_varargs_are_refused():
    def f(x) -> str:  # type: ignore[no-untyped-def]
        """F."""
        return ""

    def g(*xs: int) -> str:
        """G."""
        return ""

    with pytest.raises(TypeError, match="needs a type annotation"):
        tool(f)
    with pytest.raises(TypeError, match="only named parameters"):
        tool(g)


def test_non_json_default_is_refused():
    def f(x: list[int] = frozenset({1, 2})) -> str:  # type: ignore[assignment]
        """F."""
        return ""

    with pytest.raises(TypeError, match="not JSON-serialisable"):
        tool(f)


def test_stateful_tools_cannot_run_in_the_process_worker():
    m = Memory()
    with pytest.raises(ValueError, match="per-episode state"):
        Tool.from_function(m.remember, state=m)


def test_bound_method_schema_skips_self():
    remember = Memory().tools()[0]
    assert remember.parameters["required"] == ["key", "value"]
