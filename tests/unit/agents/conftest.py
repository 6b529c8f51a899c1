"""Fixtures for the agents tests: tiny local models and a token-level scripted sampler."""

from collections.abc import Callable, Sequence

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from assay.agents.tiny import ARITHMETIC_ALPHABET, init_tiny
from assay.verifiers.sampler import Sample

ADD_KWARGS = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny model with the printable-ASCII tokenizer."""
    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def arith_dir(tmp_path_factory):
    """A tiny model with the small arithmetic alphabet."""
    return init_tiny(tmp_path_factory.mktemp("arith") / "model", alphabet=ARITHMETIC_ALPHABET, seed=0)


class TokenScript:
    """A policy that replies ``reply(prompt_text, call_index)`` with real tokenizer ids + EOS.

    Records each call's prompts (text or token ids) in ``calls``.
    """

    accepts_token_ids = True

    def __init__(self, tokenizer, reply: Callable[[str, int], str], *, logprob: float = -0.5) -> None:
        self.tokenizer = tokenizer
        self.reply = reply
        self.logprob = logprob
        self.calls: list[list] = []
        self.count = 0

    def sample(self, prompts: Sequence, *, n: int, max_new_tokens: int, temperature: float, seed: int):
        self.calls.append([p if isinstance(p, str) else list(p) for p in prompts])
        out = []
        for p in prompts:
            text_prompt = p if isinstance(p, str) else self.tokenizer.decode(list(p))
            group = []
            for _ in range(n):
                text = self.reply(text_prompt, self.count)
                self.count += 1
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][:max_new_tokens]
                stop = len(ids) < max_new_tokens
                if stop:
                    ids = [*ids, self.tokenizer.eos_token_id]
                group.append(Sample(text, ids, [self.logprob] * len(ids), "stop" if stop else "length"))
            out.append(group)
        return out


@pytest.fixture(scope="session")
def flexible_add_env():
    """The id of an Arithmetic env judged with the opt-in last-number extraction
    (`FLEXIBLE_EXTRACT`). An untrained tiny model's random text earns some reward there (the
    strict default gives it almost none), which the trainer-mechanics tests need for non-zero
    advantages in their first steps."""
    import gymnasium as gym

    from assay.verifiers.match import FLEXIBLE_EXTRACT, NumberMatch

    env_id = "assay-test/FlexibleArithmetic-v0"
    gym.register(
        env_id,
        entry_point="assay.envs.math.arithmetic:ArithmeticEnv",
        kwargs={"verifier": NumberMatch(extract=FLEXIBLE_EXTRACT)},
    )
    yield env_id
    del gym.registry[env_id]


@pytest.fixture
def add_kwargs():
    """Env kwargs of the tiny-model addition task (a, b in [0, 5), prompt "a + b=")."""
    return dict(ADD_KWARGS)


@pytest.fixture
def token_script():
    return TokenScript
