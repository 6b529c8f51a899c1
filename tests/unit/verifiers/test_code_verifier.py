"""The code verifier: specs, extraction, scoring and per-case details (on the local sandbox)."""

import json
import subprocess
import sys
import time

import pytest

from assay.sandboxes import LocalSandbox
from assay.verifiers.base import Status, Task
from assay.verifiers.code import (
    AssertTests,
    CodeVerifier,
    FunctionTests,
    StdioTests,
    compose_program,
    extract_code,
    parse_tests,
    verify_program,
)


@pytest.fixture(scope="module")
def box():
    sandbox = LocalSandbox(workers=2)
    yield sandbox
    sandbox.close()


CALLS = {
    "entry_point": "f",
    "cases": [
        {"args": [1], "expected": 2},
        {"args": [2], "expected": 4},
        {"args": [3], "kwargs": {"k": 1}, "expected": 7},
    ],
}


def test_parse_tests_reads_the_three_forms():
    assert isinstance(parse_tests(CALLS), FunctionTests)
    assert isinstance(parse_tests([{"stdin": "1", "stdout": "2"}]), StdioTests)
    assert isinstance(
        parse_tests({"cases": [{"stdin": "", "stdout": "x"}], "tolerance": {"abs": 1e-3}}), StdioTests
    )
    a = parse_tests({"setup": "import math", "asserts": ["assert f(1) == 2"], "entry_point": "f"})
    assert isinstance(a, AssertTests) and a.names == ("f",)
    assert parse_tests({"setup": "", "check": "check", "entry_point": "g"}).cases == ("check(g)",)
    assert parse_tests(json.dumps(CALLS)).entry_point == "f"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"entry_point": "1x", "cases": [{"args": [], "expected": 1}]}, "identifier"),
        ({"entry_point": "f", "cases": []}, "at least one"),
        ({"entry_point": "f", "cases": [{"args": []}]}, "expected"),
        ([{"stdin": 1, "stdout": "x"}], "stdin"),
        ({"whatever": 1}, "unrecognised"),
        ({"cases": [], "tolerance": {"rel": 2}}, "tolerance"),
        ({"cases": [], "language": "cobol"}, "unknown language"),
        ({"entry_point": "f", "cases": [{"args": [1], "expected": 1, "args_after": []}]}, "args_after"),
        (
            {"entry_point": "f", "cases": [{"args": [], "expected": 1, "kwargs_after": {"k": 1}}]},
            "kwargs_after",
        ),
        ({"setup": "", "asserts": ["assert f()"], "entry_point": "f", "mutations": "maybe"}, "mutations"),
    ],
)
def test_parse_tests_rejects_malformed_specs(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_tests(bad)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Here:\n```python\ndef f(x):\n    return x\n```\nDone.", "def f(x):\n    return x"),
        ("```py\na = 1\n```\ntext\n```python\nb = 2\n```", "b = 2"),
        ("```\nprint(1)\n```", "print(1)"),
        ("```javascript\nconsole.log(1)\n```", None),
        ("truncated\n```python\ndef f():\n    return 1", "def f():\n    return 1"),
        ("def f(x):\n    return x + 1\n", "def f(x):\n    return x + 1\n"),
        ("The answer is 42, obviously.", None),
        ("", None),
        ("```python\n\n```", None),
    ],
)
def test_extract_code(text, code):
    assert extract_code(text) == code


def test_compose_program_appends_whole_solutions_and_continues_bodies():
    prompt = "import math\n\ndef f(x):\n    '''doc'''\n"
    assert compose_program(prompt, "def f(x):\n    return 1", ["f"]).endswith("def f(x):\n    return 1")
    assert compose_program(prompt, "    return math.pi", ["f"]) == prompt + "    return math.pi"
    assert compose_program("", "x = 1", ["f"]) == "x = 1"


def test_function_tests_report_each_case_and_fraction_scoring(box):
    program = "def f(x, k=0):\n    return 2 * x + k if x < 3 else -1\n"
    v = verify_program(program, CALLS, sandbox=box)
    assert v.status is Status.INCORRECT and v.score == 0.0
    assert [c["passed"] for c in v.details["cases"]] == [True, True, False]
    assert "wrong result: got -1" in v.details["cases"][2]["reason"]
    frac = verify_program(program, CALLS, sandbox=box, scoring="fraction")
    assert frac.status is Status.INCORRECT and frac.score == pytest.approx(2 / 3)
    good = verify_program("def f(x, k=0):\n    return 2 * x + k\n", CALLS, sandbox=box, scoring="fraction")
    assert good.status is Status.CORRECT and good.score == 1.0


def test_exceptions_syntax_errors_and_missing_functions_fail_cleanly(box):
    v = verify_program("def f(x, k=0):\n    raise KeyError('nope')\n", CALLS, sandbox=box)
    assert v.status is Status.INCORRECT and "raised KeyError" in v.details["cases"][0]["reason"]
    v = verify_program("def f(x:\n", CALLS, sandbox=box)
    assert v.status is Status.INCORRECT and "SyntaxError" in v.reason
    v = verify_program("def g(x):\n    return x\n", CALLS, sandbox=box)
    assert v.status is Status.INCORRECT and "no function 'f'" in v.details["cases"][0]["reason"]


def test_per_case_time_limit_from_outside(box):
    program = "def f(x, k=0):\n    while x == 2:\n        pass\n    return 2 * x + k\n"
    v = verify_program(program, CALLS, sandbox=box, timeout_s=0.5)
    assert v.status is Status.TIMEOUT
    assert [c["passed"] for c in v.details["cases"]] == [True, False, False]
    assert "timed out" in v.details["cases"][1]["reason"] and "not run" in v.details["cases"][2]["reason"]


def test_load_timeout_and_a_slow_module(box):
    v = verify_program("import time\ntime.sleep(30)\n", CALLS, sandbox=box, timeout_s=0.5)
    assert v.status is Status.TIMEOUT and "loading" in v.reason


def test_stdio_tests_stop_early_unless_fraction(box):
    tests = [{"stdin": f"{i}\n", "stdout": f"{i * i}\n"} for i in range(4)]
    program = "x = int(input())\nprint(x * x if x != 1 else 0)\n"
    v = verify_program(program, tests, sandbox=box)
    assert v.status is Status.INCORRECT and len(v.details["cases"]) == 4
    assert "not run" in v.details["cases"][2]["reason"]
    frac = verify_program(program, tests, sandbox=box, scoring="fraction")
    assert frac.score == 0.75


def test_assert_tests_run_each_assert_as_a_case(box):
    tests = {
        "setup": "import math",
        "asserts": [
            "assert f(4) == 2",
            "assert f(9) == 3",
            "assert math.isclose(f(2), 1.4142, rel_tol=1e-3)",
        ],
        "entry_point": "f",
    }
    v = verify_program("def f(x):\n    return int(x ** 0.5)\n", tests, sandbox=box, scoring="fraction")
    assert [c["passed"] for c in v.details["cases"]] == [True, True, False]
    assert "assertion failed" in v.details["cases"][2]["reason"]
    assert v.score == pytest.approx(2 / 3)


def test_tests_that_cannot_cross_the_boundary_are_a_harness_error(box):
    tests = {"setup": "", "asserts": ["assert f(lambda: 1) == 1"], "entry_point": "f"}
    v = verify_program("def f(g):\n    return g()\n", tests, sandbox=box)
    assert v.status is Status.ERROR and "cannot cross" in v.reason


def test_code_verifier_on_tasks(box):
    verifier = CodeVerifier(sandbox=box)
    task = Task("t/0", "write f", meta={"tests": CALLS})
    assert verifier("```python\ndef f(x, k=0):\n    return 2 * x + k\n```", task).correct
    assert verifier("no code here, sorry", task).status is Status.NO_ANSWER
    assert verifier("```python\nx = 1\n```", Task("t/1", "p")).status is Status.ERROR
    assert (
        verifier("```python\nx = 1\n```", Task("t/2", "p", meta={"tests": {"bogus": 1}})).status
        is Status.ERROR
    )
    prompt_task = Task(
        "t/3", "p", meta={"tests": CALLS, "preamble": "def helper(x):\n    return 2 * x\n\n\n"}
    )
    assert verifier("```python\ndef f(x, k=0):\n    return helper(x) + k\n```", prompt_task).correct


def verify_code_cli(tests, program, *options):
    """``assay verify code --tests TESTS --program PROGRAM OPTIONS`` in a subprocess."""
    run = [
        sys.executable,
        "-m",
        "assay.cli",
        "verify",
        "code",
        "--tests",
        str(tests),
        "--program",
        str(program),
    ]
    return subprocess.run([*run, *options], capture_output=True, text=True, check=False)


def test_cli_verify_code(tmp_path):
    tests = tmp_path / "T.json"
    tests.write_text(json.dumps(CALLS))
    program = tmp_path / "P.py"
    program.write_text("def f(x, k=0):\n    print('debug')\n    return 2 * x + k\n")
    out = verify_code_cli(tests, program, "--sandbox", "local", "--timeout", "2")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "correct" and result["score"] == 1.0 and result["details"]["passed"] == 3
    program.write_text("def f(x, k=0):\n    return 0\n")
    out = verify_code_cli(tests, program, "--sandbox", "local")
    assert json.loads(out.stdout)["status"] == "incorrect" and out.returncode == 1


def test_host_side_work_on_candidate_text_is_bounded():
    # 240 KB, 80k f-string fields: CPython 3.11's parser took 6.8 s on this (quadratic)
    body = "def f(x):\n    s = f'" + "{x}" * 80_000 + "'\n    return len(s)\n"
    t0 = time.monotonic()
    assert extract_code(body) is None  # unfenced and too long to parse here: not taken as code
    assert extract_code("```python\n" + body + "```") == body.rstrip("\n")
    assert compose_program("def f(x):\n", body, ["f"]).endswith(body)
    assert compose_program("def f(x):\n", "    return 1\n", ["f"]) == "def f(x):\n    return 1\n"
    verifier = CodeVerifier(sandbox="local")
    task = Task("t/0", "p", meta={"tests": CALLS, "preamble": "def f(x):\n"})
    assert verifier(body[len("def f(x):\n") :], task).status is Status.NO_ANSWER
    assert time.monotonic() - t0 < 1.0


def test_candidate_output_never_makes_the_verifier_raise(tmp_path):
    """Through the CLI: one JSON verdict on stdout, whatever the candidate returns."""
    tests = tmp_path / "T.json"
    program = tmp_path / "P.py"
    huge = {"$int": format(10**5000, "x")}
    for expected, returned in ((0.5, "10 ** 400"), (10**400, "1e308"), (huge, "10 ** 5000 + 1")):
        tests.write_text(json.dumps({"entry_point": "f", "cases": [{"args": [1], "expected": expected}]}))
        program.write_text(f"def f(x):\n    return {returned}\n")
        out = verify_code_cli(tests, program, "--sandbox", "local")
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        (line,) = out.stdout.splitlines()
        verdict = json.loads(line)
        assert verdict["status"] == "incorrect" and "wrong result" in verdict["reason"], verdict
