"""The fast paths behave exactly as Gymnasium's: `TextSyncVectorEnv` vs `SyncVectorEnv`, and the
recurring-seed shortcut of `TextEnv.reset` (`assay.envs.seed_cache`) vs `gymnasium.Env.reset` (``seeding.np_random``)."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import assay
import assay.envs.seed_cache as seed_cache
from assay.envs import TextEnv
from assay.envs.vector.sync import TextSyncVectorEnv

ARITH = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}
ENVS = [
    ("assay/Arithmetic-v0", ARITH),  # single-turn math
    ("assay/KnightsKnaves-v0", {}),  # logic puzzle
    ("assay/Almanac-v0", {}),  # multi-turn tool env (tool_calls/tool_results infos on some steps)
    ("assay/GuessNumber-v0", {}),  # multi-turn, int rewards on non-final turns
]


def same(a: Any, b: Any) -> bool:
    """Equal values, types, dtypes, shapes and dict key order, all the way down."""
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and all(same(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True))
        )
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (a != a and b != b))


class Pair:
    """The same calls on Gymnasium's SyncVectorEnv (shortcut off) and ours (shortcut on)."""

    def __init__(self, env_id: str, kwargs: dict[str, Any], n: int, mode: AutoresetMode) -> None:
        fns = [lambda: gym.make(env_id, **kwargs) for _ in range(n)]
        self.ref = SyncVectorEnv(fns, autoreset_mode=mode)
        self.ours = TextSyncVectorEnv(fns, autoreset_mode=mode)

    def __call__(self, method: str, *args: Any, check: bool = True, **kwargs: Any) -> Any:
        out = []
        for envs, shortcut in ((self.ref, False), (self.ours, True)):
            seed_cache.ENABLED = shortcut
            try:
                call_kwargs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kwargs.items()}
                out.append(("ok", getattr(envs, method)(*args, **call_kwargs)))
            except Exception as e:
                out.append(("raised", type(e), str(e)))
            finally:
                seed_cache.ENABLED = True
        assert same(out[0], out[1]), f"{method}: {out[0]!r}\n!=\n{out[1]!r}"
        if check:  # reading the generators builds any that are deferred
            self.check_rngs()
        return out[1][1] if out[1][0] == "ok" else None

    def check_rngs(self) -> None:
        for a, b in zip(self.ref.envs, self.ours.envs, strict=True):
            ra, rb = a.unwrapped._np_random, b.unwrapped._np_random
            assert (ra is None) == (rb is None)
            if ra is not None:
                assert ra.bit_generator.state == rb.bit_generator.state
                assert a.unwrapped._np_random_seed == b.unwrapped._np_random_seed

    def actions(self, step: int) -> tuple[str, ...]:
        """Gold actions for some sub-envs, junk or a wrong answer for the others."""
        out = []
        for i, env in enumerate(self.ours.envs):
            u = env.unwrapped
            if u.task is None or (i + step) % 3 == 0:
                out.append(["junk", "<answer>1</answer>", "\\boxed{3}"][(i + step) % 3])
                continue
            gold = u.gold_actions(u.task)
            out.append(gold[min(getattr(u, "turn", 0), len(gold) - 1)])
        return tuple(out)

    def close(self) -> None:
        self.ref.close()
        self.ours.close()


@pytest.mark.parametrize(("env_id", "kwargs"), ENVS, ids=[e for e, _ in ENVS])
@pytest.mark.parametrize("mode", list(AutoresetMode), ids=[m.value for m in AutoresetMode])
def test_text_sync_vector_env_matches_gymnasium(env_id, kwargs, mode):
    n = 8
    pair = Pair(env_id, kwargs, n, mode)
    try:
        for r, seed in enumerate(
            [assay.group_seeds(3, 2, 4), 7, list(range(100, 108)), assay.group_seeds(3, 2, 4)]
        ):
            pair("reset", seed=seed)
            for t in range(4):
                if mode is AutoresetMode.DISABLED:
                    ended = np.logical_or(pair.ours._terminations, pair.ours._truncations)
                    if ended.any():
                        mask = ended.copy()
                        mask[(r + t) % n] = True
                        pair("reset", options={"reset_mask": mask})
                pair("step", pair.actions(r + t))
            pair("reset", options={"reset_mask": np.arange(n) % 2 == r % 2})  # unseeded: each env's own rng
            pair("step", pair.actions(r))
        # reset(seed) with options that pin a task, then seed None
        task_id = pair.ours.envs[0].unwrapped.task.id
        pair("reset", seed=5, options={"task_id": task_id})
        pair("reset")
        assert [float(g.random()) for g in pair.ref.np_random] == [
            float(g.random()) for g in pair.ours.np_random
        ]
        assert pair.ref.np_random_seed == pair.ours.np_random_seed
    finally:
        pair.close()


def test_errors_and_side_effects_match():
    pair = Pair("assay/Arithmetic-v0", ARITH, 4, AutoresetMode.DISABLED)
    try:
        pair("reset", seed=[1, 2, 3])  # wrong length
        pair("reset", seed=[1, 2, 3, 4])
        pair("reset", options={"reset_mask": [True] * 4})  # not an array
        pair("reset", options={"reset_mask": np.ones(3, dtype=bool)})
        pair("reset", options={"reset_mask": np.ones(4, dtype=int)})
        pair("reset", options={"reset_mask": np.zeros(4, dtype=bool)})
        pair("reset", seed=[1, 2, 3, -4])  # gymnasium's seed error
        pair("reset", seed=[1, 2, 3, 4], options={"bogus": 1})  # the env's option error
        pair("reset", seed=[1, 2, 3, 4])
        pair("step", ("1", "2", "3"))  # too few actions
        pair("reset", seed=[1, 2, 3, 4])
        pair("step", ("1", "2", "3", "4"))
        pair("step", ("1", "2", "3", "4"))  # stepping ended envs with autoreset off: AssertionError
        # SyncVectorEnv pops reset_mask from the caller's options; so do we
        for envs in (pair.ref, pair.ours):
            options = {"reset_mask": np.ones(4, dtype=bool)}
            envs.reset(options=options)
            assert options == {}
    finally:
        pair.close()


def test_call_get_attr_set_attr_render_close():
    envs = assay.make_vec("assay/Arithmetic-v0", 3, vectorization_mode="sync", render_mode="ansi", **ARITH)
    assert isinstance(envs, SyncVectorEnv) and isinstance(envs, TextSyncVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert envs.get_attr("max_chars") == (32_768,) * 3
    envs.set_attr("system_prompt", ["a", "b", "c"])
    assert envs.call("messages", envs.get_attr("task")[0])[1][0] == {"role": "system", "content": "b"}
    assert all(obs[i] in frame for i, frame in enumerate(envs.render()))
    assert isinstance(obs, tuple) and envs.reset(seed=0)[0] == obs
    envs.close()
    assert envs.closed


def test_copy_false_returns_the_observation_tuple():
    fns = [lambda: gym.make("assay/Arithmetic-v0", **ARITH)] * 2
    envs = TextSyncVectorEnv(fns, copy=False)
    obs, _ = envs.reset(seed=1)
    assert obs is envs._observations
    envs.close()


INFO_SEQUENCES = [
    [{"a": 1, "b": 2.5, "c": True}, {"a": 3, "b": 1.0, "c": False}],
    [{"a": np.float32(1.5)}, {}, {"a": np.float32(2.0), "d": "x"}],
    [{"v": np.arange(3)}, {"v": np.ones(3, dtype=int)}],
    [{"n": {"x": 1, "y": {"z": "deep"}}}, {"n": {"y": {"z": "deeper"}, "w": None}}],
    [{"final_obs": "o", "final_info": {"t": 1}}, {"x": [1, 2]}, {"final_obs": ("tuple",), "final_info": {}}],
    [{"x": 1, "_x": 5}, {"_x": 7}],  # a key that collides with a mask name
    [{"k": {"a": 1}}, {"k": 3}],  # a dict then a scalar under one key
    [{1: "int key", "s": "t"}, {1: "again"}],
    [{"a": 1}, {"a": 2.7}],  # cast into the first value's dtype
    [{"a": 1}, {"a": "text"}],  # raises in both
    [{"a": np.zeros(2)}, {"a": np.zeros(3)}],  # raises in both
]


@pytest.mark.parametrize("infos", INFO_SEQUENCES)
def test_add_info_matches_gymnasium(infos):
    envs = TextSyncVectorEnv([lambda: gym.make("assay/Arithmetic-v0", **ARITH)] * 4)
    results = []
    for merge in (SyncVectorEnv._add_info, TextSyncVectorEnv._add_info):
        acc: dict[str, Any] = {}
        try:
            for i, info in enumerate(infos):
                acc = merge(envs, acc, info, (i * 3) % 4)
            results.append(("ok", acc))
        except Exception as e:
            results.append(("raised", type(e), str(e)))
    envs.close()
    assert same(results[0], results[1]), results


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 1, 2**32, 2**63 + 5, 10**30])
def test_seeded_reset_gives_gymnasiums_generator(seed):
    env = gym.make("assay/Arithmetic-v0", **ARITH)
    for _ in range(3):  # the first reset builds the seed's record, later ones reuse it
        _, info = env.reset(seed=seed)
        u = env.unwrapped
        ref = seeding.np_random(seed)[0]
        index = int(ref.integers(2**31))
        assert info["task_id"] == u.task_at(index).id
        rng = u.np_random
        assert u.np_random_seed == seed and rng is u._np_random
        assert type(rng.bit_generator) is type(ref.bit_generator)
        assert rng.bit_generator.state == ref.bit_generator.state
        ss, rss = rng.bit_generator.seed_seq, ref.bit_generator.seed_seq
        assert type(ss) is type(rss) and ss.entropy == rss.entropy and ss.spawn_key == rss.spawn_key
        assert np.array_equal(ss.pool, rss.pool) and ss.n_children_spawned == 0
        assert (
            rng.spawn(2)[1].integers(10**9, size=3).tolist()
            == ref.spawn(2)[1].integers(10**9, size=3).tolist()
        )
        assert rng.random(5).tolist() == ref.random(5).tolist()


def test_seeded_generators_are_independent_objects():
    a, b = gym.make("assay/Arithmetic-v0", **ARITH), gym.make("assay/Arithmetic-v0", **ARITH)
    a.reset(seed=11)
    kept = a.unwrapped.np_random
    b.reset(seed=11)
    ra, rb = a.unwrapped.np_random, b.unwrapped.np_random
    assert ra is kept and ra is not rb and ra.bit_generator is not rb.bit_generator
    assert ra.bit_generator.seed_seq is not rb.bit_generator.seed_seq
    assert ra.bit_generator.seed_seq.pool is not rb.bit_generator.seed_seq.pool
    first = ra.random(3).tolist()
    assert rb.random(3).tolist() == first  # drawing from one left the other alone
    ra.spawn(3)
    assert rb.bit_generator.seed_seq.n_children_spawned == 0
    a.reset(seed=11)  # a new generator: the one kept from before is not rewound
    assert a.unwrapped.np_random is not kept and kept.random() != first[0]


def test_shortcut_respects_overridden_sample_task_and_reset_chain():
    from assay.envs.math.arithmetic import ArithmeticEnv

    class Custom(ArithmeticEnv):
        def sample_task(self, rng):
            return self.task_at(int(rng.integers(7)) + 1000)

    class Mixin(gym.Env):
        calls = 0

        def reset(self, *, seed=None, options=None):
            Mixin.calls += 1
            return super().reset(seed=seed, options=options)

    class Chained(ArithmeticEnv, Mixin):
        pass

    env = Custom(**ARITH)
    env.reset(seed=3)
    assert seed_cache._shortcuts(Custom, TextEnv) == (True, False)
    ref = seeding.np_random(3)[0]
    assert env.task.id == env.task_at(int(ref.integers(7)) + 1000).id
    chained = Chained(**ARITH)
    chained.reset(seed=3)
    assert Mixin.calls == 1 and seed_cache._shortcuts(Chained, TextEnv) == (False, False)
    plain = ArithmeticEnv(**ARITH)
    plain.reset(seed=3)
    assert chained.task == plain.task
    assert chained.np_random.bit_generator.state == plain.np_random.bit_generator.state


def test_deferred_generators_follow_unseeded_resets():
    """Seeded then unseeded resets with nothing reading the generators in between."""
    pair = Pair("assay/Arithmetic-v0", ARITH, 8, AutoresetMode.DISABLED)
    try:
        for r in range(3):
            pair("reset", seed=assay.group_seeds(r % 2, 2, 4), check=False)
            for t in range(6):  # more unseeded resets than a record remembers
                pair("step", pair.actions(t), check=False)
                pair("reset", options={"reset_mask": np.ones(8, dtype=bool)}, check=False)
            if r == 1:
                pair.check_rngs()
        pair("step", pair.actions(0), check=False)
        pair.check_rngs()
    finally:
        pair.close()


def test_copies_and_pickles_carry_a_deferred_generator():
    import copy
    import pickle

    def fresh(shortcut):
        seed_cache.ENABLED = shortcut
        try:
            env = gym.make("assay/Arithmetic-v0", **ARITH).unwrapped
            env.reset(seed=21)
            env.reset(seed=21)  # on record: the generator is deferred
        finally:
            seed_cache.ENABLED = True
        return env

    for make_copy in (copy.copy, copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))):
        ours, ref = fresh(True), fresh(False)
        assert ours._rng_pending is not None
        ours_copy, ref_copy = make_copy(ours), make_copy(ref)
        assert (ours_copy.np_random is ours.np_random) == (ref_copy.np_random is ref.np_random)
        for a, b in ((ours, ref), (ours_copy, ref_copy)):
            assert a.np_random.bit_generator.state == b.np_random.bit_generator.state
            assert a.np_random.bit_generator.seed_seq.entropy == b.np_random.bit_generator.seed_seq.entropy
            assert a.np_random_seed == b.np_random_seed == 21
            assert a.np_random.random() == b.np_random.random()


def test_setting_np_random_replaces_a_deferred_generator():
    env = gym.make("assay/Arithmetic-v0", **ARITH)
    env.reset(seed=4)
    env.reset(seed=4)
    mine = np.random.default_rng(0)
    env.unwrapped.np_random = mine
    assert env.unwrapped.np_random is mine and env.unwrapped.np_random_seed == -1
    env.reset()  # draws from the generator that was set
    assert mine.bit_generator.state != np.random.default_rng(0).bit_generator.state


def test_fast_path_is_on_for_the_builtin_envs():
    """Otherwise every comparison above would compare the plain path with itself."""
    from assay.envs.logic.guess_number import GuessNumberEnv
    from assay.envs.math.arithmetic import ArithmeticEnv

    assert seed_cache._fast_seeding()
    for cls in (ArithmeticEnv, GuessNumberEnv):
        assert seed_cache._shortcuts(cls, TextEnv) == (True, True)
