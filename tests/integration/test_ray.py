"""Ray: make_vec(backend="ray") and RayVerifierPool on a local cluster (ray.init(num_cpus=2))."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

pytestmark = pytest.mark.slow

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ray = pytest.importorskip("ray")

import assay  # noqa: E402
from assay.serve.ray_pool import RayVerifierPool  # noqa: E402
from assay.verifiers.base import Status, Task  # noqa: E402


def slow_number_match():
    """A verifier factory (pickled by value into the workers): NumberMatch, 10 ms an item."""
    import time

    from assay.verifiers.match import NumberMatch

    match = NumberMatch()

    def verify(completion, task):
        time.sleep(0.01)
        return match(completion, task)

    return verify


@pytest.fixture(scope="module")
def cluster():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(cluster):
    """One pool for the fault tests (starting Ray workers is the slow part): settings are reset
    before each use, and a killed worker is replaced by the pool itself."""
    with RayVerifierPool(slow_number_match, num_workers=2) as p:
        yield p


def configure(pool, **settings):
    pool.chunk_size, pool.prefetch, pool.max_retries = (
        settings["chunk_size"],
        settings["prefetch"],
        settings["max_retries"],
    )
    pool.stats = type(pool.stats)()


def items(count):
    """Item i asks for the number i; odd items answer it right, even ones wrong."""
    return [(f"\\boxed{{{i if i % 2 else i + 1}}}", Task(f"t/{i}", "?", str(i))) for i in range(count)]


def kill_one_worker_after(pool, seconds):
    victim = pool.worker_pids()[0]

    def kill():
        time.sleep(seconds)
        os.kill(victim, signal.SIGKILL)

    t = threading.Thread(target=kill)
    t.start()
    return t


def test_nothing_starts_ray_implicitly():
    code = textwrap.dedent(
        """
        import ray, assay
        from assay.serve.ray_pool import RayVerifierPool
        for make in (lambda: assay.make_vec("assay/Arithmetic-v0", 2, backend="ray"),
                     lambda: RayVerifierPool(env="assay/Arithmetic-v0")):
            try:
                make()
            except RuntimeError as e:
                assert "ray.init" in str(e), e
            else:
                raise SystemExit("no error")
        assert not ray.is_initialized()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_pool_with_a_worker_killed_mid_batch_returns_every_result_exactly_once(pool):
    work = items(240)
    configure(pool, chunk_size=8, prefetch=2, max_retries=3)
    killer = kill_one_worker_after(pool, 0.4)
    t0 = time.monotonic()
    verdicts = pool.verify(work)
    elapsed = time.monotonic() - t0
    killer.join()
    assert elapsed > 0.4, "the batch finished before the kill: not a mid-batch failure"
    assert pool.stats.replaced_workers == 1
    assert pool.stats.retries >= 1
    assert pool.stats.failed_chunks == 0
    assert len(verdicts) == len(work)
    for i, v in enumerate(verdicts):  # one verdict per item, in order, and the right one
        assert v.extracted == str(i if i % 2 else i + 1)
        assert v.status is (Status.CORRECT if i % 2 else Status.INCORRECT)


def test_pool_out_of_retries_gives_error_verdicts_not_gaps(pool):
    work = items(120)
    configure(pool, chunk_size=30, prefetch=1, max_retries=0)
    killer = kill_one_worker_after(pool, 0.1)
    verdicts = pool.verify(work)
    killer.join()
    assert pool.stats.failed_chunks >= 1
    assert len(verdicts) == 120
    errors = [v for v in verdicts if v.status is Status.ERROR]
    assert len(errors) % 30 == 0 and errors, "whole chunks fail, each item gets an ERROR verdict"
    assert all("failed 1 times" in v.reason for v in errors)
    ok = [(i, v) for i, v in enumerate(verdicts) if v.status is not Status.ERROR]
    assert all(v.extracted == str(i if i % 2 else i + 1) for i, v in ok)


def test_pool_with_an_env_returns_rewards(cluster):
    opts = {"num_cpus": 0}  # the module pool holds both CPUs of the cluster
    with RayVerifierPool(
        env="assay/Arithmetic-v0", num_workers=1, chunk_size=2, actor_options=opts
    ) as env_pool:
        out = env_pool.score(
            [
                ("\\boxed{1/2}", Task("a", "?", "0.5")),
                ("\\boxed{2}", Task("b", "?", "3")),
                ("", Task("c", "?", "1")),
            ]
        )
    assert [(v.status, r.total) for v, r in out] == [
        (Status.CORRECT, 1.0),
        (Status.INCORRECT, 0.0),
        (Status.NO_ANSWER, 0.0),
    ]


def test_ray_vector_env_matches_the_sync_one(cluster):
    seeds = assay.group_seeds(0, num_prompts=2, group_size=2)
    a = assay.make_vec("assay/Arithmetic-v0", 4, backend="ray", level="easy")
    b = assay.make_vec("assay/Arithmetic-v0", 4, vectorization_mode="sync", level="easy")
    try:
        obs_a, info_a = a.reset(seed=seeds)
        obs_b, info_b = b.reset(seed=seeds)
        assert isinstance(obs_a, tuple) and obs_a == obs_b
        assert list(info_a["task_id"]) == list(info_b["task_id"])
        env = assay.make("assay/Arithmetic-v0", level="easy").unwrapped
        actions = tuple(
            env.gold(env.task_by_id(t)) if k % 2 else "no idea" for k, t in enumerate(info_a["task_id"])
        )
        out_a, out_b = a.step(actions), b.step(actions)
        assert list(out_a[1]) == list(out_b[1]) == [0.0, 1.0] * 2
        assert list(out_a[2]) == list(out_b[2]) == [True] * 4
        assert [v.status for v in out_a[4]["verdict"]] == [v.status for v in out_b[4]["verdict"]]
        assert a.get_attr("max_chars") == (32_768,) * 4
    finally:
        a.close()
        b.close()


def test_ray_vector_env_replaces_a_dead_worker_and_replays_its_episode(cluster):
    """A multi-turn episode survives its actor being killed mid-episode."""
    a = assay.make_vec("assay/GuessNumber-v0", 2, backend="ray")
    b = assay.make_vec("assay/GuessNumber-v0", 2, vectorization_mode="sync")
    try:
        a.reset(seed=[5, 6])
        b.reset(seed=[5, 6])
        for guess in ("50", "25"):
            out_a, out_b = a.step((guess, guess)), b.step((guess, guess))
            assert out_a[0] == out_b[0]
        os.kill(a.worker_pids()[1], signal.SIGKILL)
        for guess in ("12", "37"):
            out_a, out_b = a.step((guess, guess)), b.step((guess, guess))
            assert out_a[0] == out_b[0] and list(out_a[1]) == list(out_b[1])
        assert a.restarts == [0, 1]
    finally:
        a.close()
        b.close()


def test_pool_spreads_sandboxed_code_verification(cluster):
    """Code verification (programs run in the env's sandbox) through the pool's workers."""
    env = assay.make("assay/HumanEval-v0").unwrapped
    tasks = [env.task_at(i) for i in range(4)]
    work = [(env.gold(t), t) for t in tasks] + [("def nope(:\n    pass", t) for t in tasks]
    opts = {"num_cpus": 0}  # the module pool holds both CPUs of the cluster
    with RayVerifierPool(
        env="assay/HumanEval-v0", num_workers=2, chunk_size=2, actor_options=opts
    ) as code_pool:
        out = code_pool.score(work)
    assert [v.status for v, _ in out[:4]] == [Status.CORRECT] * 4
    assert all(v.status is not Status.CORRECT and r.total == 0.0 for v, r in out[4:])
