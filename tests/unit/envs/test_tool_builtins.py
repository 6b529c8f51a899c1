"""Built-in tools: calculator (no eval), sympy tools on safely parsed input, units, dates, table,
memory, search."""

import contextlib
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.envs.tools import ToolCall, ToolRunner
from assay.envs.tools.calculator import calculate, calculator_tool
from assay.envs.tools.dates import add_days, days_between, weekday
from assay.envs.tools.memory import Memory
from assay.envs.tools.search import Corpus, Document, search_tool
from assay.envs.tools.symbolic import integrate, simplify, solve, sympy_tools, to_sympy
from assay.envs.tools.table import Table, lookup_tool
from assay.envs.tools.units import convert
from assay.verifiers.arithmetic import ExpressionError, evaluate, parse

# -- calculator ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2^10", "1024"),
        ("(2**64 - 1) // 3", "6148914691236517205"),
        ("7/3", "7/3 (≈ 2.33333333333333)"),
        ("0.1 + 0.2", "0.3"),
        ("sqrt(16/9)", "4/3 (≈ 1.33333333333333)"),
        ("sqrt(2)", "1.4142135623731"),
        ("-3 % 5", "2"),
        ("factorial(25)", "15511210043330985984000000"),
        ("gcd(84, 36) + lcm(4, 6)", "24"),
        ("round(2/3, 3)", "0.667"),
        ("2 × 3 − 1", "5"),
        ("2**-2", "0.25"),
        ("max(1, 5/2, 2)", "2.5"),
    ],
)
def test_calculator_values(expression, result):
    assert calculate(expression) == result


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("__import__('os').system('id')", "unknown function"),
        ("(1).__class__", "Attribute is not allowed"),
        ("[x for x in range(9)]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("open('/etc/passwd')", "unknown function"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "Constant is not allowed"),
        ("10**10**10", "power too large"),
        ("9**9**9**9", "power too large"),
        ("factorial(100000)", "factorial needs"),
        ("1/0", "division by zero"),
        ("1e308 * 10", "not a finite number"),
        ("(" * 200 + "1" + ")" * 200, "nested deeper"),
        ("1+" * 600 + "1", "longer than"),
        ("sqrt(-1)", "negative"),
        ("", "empty"),
        ("2 +", "invalid syntax"),
        ("round(1, keyword=2)", "no keyword arguments"),
    ],
)
def test_calculator_refuses_with_a_reason(expression, why):
    with pytest.raises(ValueError, match=why):
        calculate(expression)


@given(st.text(max_size=300))
def test_calculator_never_fails_other_than_with_value_error(text):
    with contextlib.suppress(ValueError):
        calculate(text)


@given(st.integers(-(10**30), 10**30), st.integers(-(10**30), 10**30), st.integers(1, 10**12))
def test_calculator_is_exact(a, b, c):
    assert evaluate(f"({a}) * ({b}) + ({a}) / {c}") == Fraction(a) * b + Fraction(a, c)


def test_calculator_runs_in_the_worker_with_a_timeout():
    runner = ToolRunner([calculator_tool(timeout_s=2.0)])
    try:
        assert runner.run(ToolCall("c", "calculator", {"expression": "6*7"})).content == "42"
        bad = runner.run(ToolCall("c", "calculator", {"expression": "os.system('id')"}))
        assert not bad.ok and "unknown function" in bad.content
    finally:
        runner.close()


# -- sympy tools --------------------------------------------------------------------------------


def test_solve_simplify_integrate():
    assert solve("x**2 = 4") == "x = -2; x = 2"
    assert solve("x + y = 3; x - y = 1") == "x = 2, y = 1"
    assert solve("x**2 + 1") == "x = -I; x = I"
    assert solve("x**2 = -1", "y") == "no solution"
    assert simplify("(x**2 - 1)/(x - 1)") == "x + 1"
    assert simplify("sin(x)**2 + cos(x)**2") == "1"
    assert integrate("x*exp(x)") == "(x - 1)*exp(x)"
    assert integrate("x^2", "x", "0", "3") == "9"
    assert integrate("1/x", "x", "1", "E") == "1"


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "x.__class__.__bases__",
        "eval('1')",
        "10**10**10",
        "factorial(10**9)",
        "[x for x in y]",
        "x if y else z",
        "f(x)",
        "Symbol('x')",
    ],
)
def test_sympy_input_is_parsed_not_executed(text):
    with pytest.raises(ExpressionError):
        to_sympy(parse(text))
    with pytest.raises(ValueError, match=r"."):
        simplify(text)


def test_sympy_tools_are_killed_when_they_take_too_long():
    runner = ToolRunner(sympy_tools(timeout_s=1.0))
    try:
        assert runner.run(ToolCall("c", "simplify", {"expression": "2*x + x"})).content == "3*x"
        slow = runner.run(
            ToolCall("c", "integrate", {"expression": "exp(sin(x)**7 * tan(x)**5 / (1 + x**9))"})
        )
        assert not slow.ok and "timed out after 1 s" in slow.content
        assert runner.run(ToolCall("c", "solve", {"equations": "2*x = 6"})).content == "x = 3"
    finally:
        runner.close()


# -- units, dates, table ------------------------------------------------------------------------


def test_units_are_exact():
    assert convert(17.5, "mi", "km") == "28.16352"
    assert convert(1, "lb", "oz") == "16"
    assert convert(212, "fahrenheit", "celsius") == "100"
    assert convert(0, "c", "k") == "273.15"
    assert convert(100, "km", "mi") == "62.1371192237334 (rounded)"
    assert convert(0.1, "l", "ml") == "100"
    with pytest.raises(ValueError, match="cannot convert mass"):
        convert(1, "kg", "m")
    with pytest.raises(ValueError, match="unknown unit"):
        convert(1, "parsec", "m")


def test_dates():
    assert days_between("2020-01-01", "2021-01-01") == 366
    assert days_between("2021-01-01", "2020-01-01") == -366
    assert add_days("2000-02-28", 1) == "2000-02-29"
    assert add_days("1900-02-28", 1) == "1900-03-01"
    assert weekday("2000-01-01") == "Saturday"
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        weekday("01/02/2000")
    with pytest.raises(ValueError, match="outside years"):
        add_days("9999-12-31", 1)


def test_table_lookup(tmp_path):
    path = tmp_path / "elements.csv"
    path.write_text("symbol,name,number\nH,Hydrogen,1\nHe,Helium,2\n")
    table = Table.from_file(path, key="name")
    assert table.get("helium", "number") == "2" and table.get("Hydrogen") == {
        "symbol": "H",
        "name": "Hydrogen",
        "number": "1",
    }
    with pytest.raises(KeyError, match="did you mean Helium"):
        table.get("Helum")
    with pytest.raises(KeyError, match="the columns are: symbol, name, number"):
        table.get("Helium", "mass")
    spec = lookup_tool(table)
    assert "Columns: symbol, name, number" in spec.description and spec.parameters["required"] == ["item"]


# -- memory and search --------------------------------------------------------------------------


def test_memory_store_and_limits():
    m = Memory(max_keys=2)
    assert m.remember("a", "1") == "stored 'a'" and m.recall("a") == "1"
    m.remember("b", "2")
    with pytest.raises(ValueError, match="memory is full"):
        m.remember("c", "3")
    assert m.recall("") == "a, b"
    m.reset()
    with pytest.raises(KeyError, match="nothing stored"):
        m.recall("a")


def test_search_ranks_with_bm25_and_reads_files(tmp_path):
    (tmp_path / "otters.txt").write_text("Otters are semiaquatic mammals that eat fish and shellfish.")
    (tmp_path / "owls.md").write_text("Owls are nocturnal birds of prey with silent flight.")
    (tmp_path / "oak.txt").write_text("The oak is a tree; its fruit is the acorn.")
    corpus = Corpus.from_dir(tmp_path)
    assert [d.title for d, _ in corpus.search("nocturnal birds", 3)] == ["owls"]
    assert corpus.search("zzzz qqqq", 3) == []
    fn = search_tool(corpus).fn
    assert fn("acorn tree").startswith("[1] oak\nThe oak is a tree")
    assert fn("nothing matches xyzzy") == "no matching documents"


def test_corpus_from_jsonl_and_bad_corpora(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"id": "a", "title": "Alpha", "text": "first letter"}\n\n{"title": "Beta", "text": "second letter"}\n'
    )
    corpus = Corpus.from_jsonl(path)
    assert [d.id for d in corpus.documents] == ["a", "2"]
    with pytest.raises(ValueError, match="at least one"):
        Corpus([])
    with pytest.raises(ValueError, match="unique"):
        Corpus([Document("x", "a", "b"), Document("x", "c", "d")])
