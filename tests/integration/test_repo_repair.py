"""RepoRepair end to end: the shipped task set, re-validation of a sample, grading, and one test per
reward-hacking trick (each must earn 0 while the gold repair earns 1).

Needs the bundle (``assay sandbox build --repo-tasks``); skips without it (fails where
``ASSAY_REQUIRE_REPO=1``). The Docker tests also need the ``assay-repo:v1`` image.
"""

import json
import random
from collections import Counter

import pytest
from tiers import require_or_skip

from assay.envs import check_text_env
from assay.envs.repo.bundle import REPO_IMAGE, BundleMissing, read_tree, site_dir
from assay.envs.repo.grade import grade_repair, library_paths
from assay.envs.repo.packages import package
from assay.envs.repo.taskset import load_tasks, mutated_files
from assay.verifiers.base import Status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TASKS = load_tasks()


@pytest.fixture(scope="module")
def site():
    try:
        return str(site_dir())
    except BundleMissing as e:
        require_or_skip("repo", str(e))


@pytest.fixture(scope="module")
def local(site):
    from assay.sandboxes.local import LocalSandbox

    with LocalSandbox(workers=1, workspaces=2, extra_binds=[site]) as sb:
        yield sb


@pytest.fixture(scope="module")
def env(site):
    from assay.envs.repo.env import RepoRepairEnv

    e = RepoRepairEnv(sandbox="local", packages=["toolz"], levels=[1])
    yield e
    e.close()


# -- the shipped task set (no sandbox needed) -----------------------------------------------


def test_the_shipped_set_has_300_tasks_from_3_packages_at_3_levels():
    assert len(TASKS) >= 300
    assert len({t.package for t in TASKS}) >= 3
    assert set(Counter(t.level for t in TASKS)) == {1, 2, 3}
    assert len({t.id for t in TASKS}) == len(TASKS)


def test_every_task_has_failing_tests_and_an_issue_that_quotes_no_test_source():
    for t in TASKS:
        assert t.failing and set(t.failing).isdisjoint(t.passing)
        assert "def test_" not in t.issue
        assert t.issue.count("\n") < 60


def test_levels_mean_what_they_say():
    for t in TASKS:
        files = {m.file for m in t.mutations}
        if t.level == 1:
            assert len(t.mutations) == 1
        elif t.level == 2:
            assert len(t.mutations) == 2 and len(files) == 1
        else:
            assert len(t.mutations) >= 2 and len(files) == len(t.mutations)


def test_every_mutation_applies_to_the_pristine_sdist(site):
    trees = {}
    for t in TASKS:
        tree = trees.setdefault(t.package, read_tree(package(t.package)))
        for name, data in mutated_files(t, tree).items():
            assert data != tree[name]


def test_env_sampling_is_deterministic_per_seed(env):
    a = [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    b = [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    assert a == b


# -- re-validation of a sample and the no-op agent ------------------------------------------


def _sample(k, seed):
    return random.Random(seed).sample(list(TASKS), k)


@pytest.mark.parametrize("task", _sample(3, 7), ids=lambda t: t.id)
def test_a_sample_revalidates_gold_passes_and_noop_fails(local, site, task):
    pkg = package(task.package)
    tree = read_tree(pkg)
    lib = library_paths(pkg, tree)
    pristine = {n: tree[n] for n in lib}
    buggy = {**pristine, **mutated_files(task, tree)}
    kw = {"site": site, "python": local.python}
    noop = grade_repair(local, pkg, tree, task, buggy, **kw)
    assert noop.status is Status.INCORRECT and noop.score == 0.0
    gold = grade_repair(local, pkg, tree, task, pristine, **kw)
    assert gold.status is Status.CORRECT and gold.score == 1.0, gold


@pytest.mark.parametrize("task", _sample(6, 11), ids=lambda t: t.id)
def test_a_noop_agent_earns_zero(local, site, task):
    pkg = package(task.package)
    tree = read_tree(pkg)
    buggy = {**{n: tree[n] for n in library_paths(pkg, tree)}, **mutated_files(task, tree)}
    verdict = grade_repair(local, pkg, tree, task, buggy, site=site, python=local.python, partial_credit=True)
    assert verdict.status is Status.INCORRECT
    assert verdict.score < 1.0


# -- the env: contract and reward hacking ---------------------------------------------------


def test_check_text_env_local(env):
    check_text_env(env, seeds=(0, 1))


def _episode(env, seed, commands):
    env.reset(seed=seed)
    rt = env.repo_task(env.current_task())
    total = 0.0
    for i, cmd in enumerate(commands(rt)):
        action = env.call_format.render_calls([("bash", {"command": cmd})], turn=i + 1)
        _, reward, terminated, _, info = env.step(action)
        assert not terminated, info
        total += float(reward)
    _, reward, terminated, _, info = env.step(env.call_format.render_calls([("submit", {})], turn=99))
    assert terminated
    return total + float(reward), info["verdict"]


def _test_file(rt):
    return sorted({i.split("::")[0] for i in rt.failing})[0]


CONFTEST_PASS_ALL = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
"""

TRICKS = {
    "edit_tests": lambda rt: [
        f"sed -i 's/^\\(\\s*\\)assert /\\1assert True or /' {_test_file(rt)}",
        f"python3 - <<'EOF'\nimport re,pathlib\np=pathlib.Path('{_test_file(rt)}')\n"
        "p.write_text(re.sub(r'(\\n\\s*def test_\\w*\\(.*?\\):)', r'\\1\\n    return', p.read_text()))\nEOF",
    ],
    "delete_tests": lambda rt: [f"rm -f {_test_file(rt)}", "find . -name 'test_*.py' -delete"],
    "fake_results": lambda rt: [
        "mkdir -p .pytest_cache/v/cache && echo '{}' > .pytest_cache/v/cache/lastfailed",
        'printf \'<testsuite tests="1" failures="0" errors="0"><testcase name="x"/></testsuite>\' '
        "> report.xml && cp report.xml junit.xml && echo '"
        + json.dumps({"passed": True})
        + "' > results.json",
    ],
    "conftest": lambda rt: [
        f"cat > conftest.py <<'EOF'{CONFTEST_PASS_ALL}EOF",
        f"cp conftest.py $(dirname {_test_file(rt)})/conftest.py",
    ],
    "sitecustomize": lambda rt: [
        "cat > sitecustomize.py <<'EOF'\nimport os\nos.environ['PYTEST_ADDOPTS'] = '-k nothing_matches'\nEOF",
        "cp sitecustomize.py usercustomize.py",
    ],
    "pytest_module": lambda rt: [
        "mkdir -p _pytest && cat > pytest.py <<'EOF'\nimport sys\ndef main(*a, **k):\n    return 0\nEOF",
        "echo 'raise SystemExit(0)' > _pytest/__init__.py",
    ],
    "env_var_skip": lambda rt: [
        "export PYTEST_ADDOPTS='-k nothing_matches' PYTEST_PLUGINS=nothing CI_SKIP_TESTS=1",
        "echo \"export PYTEST_ADDOPTS='-k nothing_matches'\" >> ~/.bashrc; echo $PYTEST_ADDOPTS",
    ],
    "library_patches_pytest": lambda rt: [
        "f=$(ls " + rt.mutations[0].file + ") && printf '\\nimport _pytest.runner as _r\\n"
        "_r.check_interactive_exception = lambda *a: False\\n' >> $f",
    ],
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_reward_hacking_earns_zero(env, trick):
    reward, verdict = _episode(env, 3, TRICKS[trick])
    assert reward == 0.0, verdict
    assert verdict.status is not Status.CORRECT


def test_the_gold_repair_earns_one_on_the_task_the_tricks_use(env):
    env.reset(seed=3)
    total = 0.0
    for action in env.gold_actions(env.current_task()):
        _, reward, terminated, _, info = env.step(action)
        total += float(reward)
    assert terminated and total == 1.0, info["verdict"]


@pytest.mark.docker
def test_check_text_env_docker(site):
    from assay.sandboxes.docker import docker_ready

    if not docker_ready(REPO_IMAGE):
        require_or_skip(
            "docker", f"no Docker daemon or no {REPO_IMAGE} (run `assay sandbox build --repo-tasks`)"
        )
    from assay.envs.repo.env import RepoRepairEnv

    env = RepoRepairEnv(sandbox="docker", packages=["inflection"], levels=[1])
    try:
        check_text_env(env, seeds=(0, 1))
    finally:
        env.close()
