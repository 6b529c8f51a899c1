"""The reward-model floor: a Bradley-Terry reward model trained on verifier-built pairs reaches
>= 90% pairwise accuracy on held-out prompts, and best-of-8 under it beats best-of-1 in
``assay eval``.

The toy task: the first letter of a four-letter word (``dcab>`` -> ``<answer>d</answer>``), with
a train/test split of the words. A tiny model from scratch is SFT'd briefly; pairs are built from its samples on training words (correct over
incorrect, by the env's verifier); the reward model is that SFT checkpoint with a scalar head.
The accuracy on held-out pairs where both completions are well formed (the reward model must
check the letter, not the format) is asserted too, and best-of-8 must close at least half of the
gap between best-of-1 and pass@8 (the oracle selector). Measured: policy pass rate 0.81;
held-out accuracy 0.97 (well-formed pairs 0.97); best@1 0.80, best@8 0.94, pass@8 1.0.
"""

import hashlib
import json
import re
import time

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner

import assay
from assay.agents.policy import load_policy
from assay.agents.preference.config import RMConfig, SFTConfig
from assay.agents.preference.data import SFTRecord, correct_vs_incorrect, generate_groups
from assay.agents.preference.offline import split_indices
from assay.agents.preference.rm import RewardModel, RewardModelTrainer
from assay.agents.preference.sft import SFT
from assay.agents.sampler import HFSampler
from assay.agents.tiny import init_tiny
from assay.cli import app
from assay.envs import SingleTurnEnv, Task
from assay.verifiers.match import ExactMatch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV = "preftest/FirstLetter-v0"
LETTERS = "abcdefgh"
WELL_FORMED = re.compile(rf"^<answer>[{LETTERS}]</answer>$")


class FirstLetterEnv(SingleTurnEnv):
    """The first letter of a four-letter word; a fifth of the words (by hash) are the test split."""

    def __init__(self, split: str = "train", **kwargs):
        super().__init__(verifier=ExactMatch(), **kwargs)
        self.split = split

    def task_at(self, index: int) -> Task:
        rng = np.random.default_rng([7, index])
        while True:
            word = "".join(rng.choice(list(LETTERS), size=4))
            if (hashlib.sha256(word.encode()).digest()[0] % 5 == 0) == (self.split == "test"):
                break
        return Task(id=f"first/{self.split}/{index}", prompt=f"{word}>", answer=word[0])

    def gold(self, task: Task) -> str:
        return f"<answer>{task.answer}</answer>"


if ENV not in gym.registry:
    gym.register(ENV, entry_point=FirstLetterEnv)


@pytest.mark.timeout(400)
def test_reward_model_accuracy_and_best_of_8_in_assay_eval(tmp_path, monkeypatch):
    env = assay.make(ENV)
    base = env.unwrapped
    model, tok = load_policy(init_tiny(tmp_path / "init", alphabet=LETTERS + "<>/nswr", seed=0))
    start = time.perf_counter()
    records = [SFTRecord(t.prompt, base.gold(t)) for t in (base.task_at(i) for i in range(2000))]
    sft = SFTConfig(
        out_dir=str(tmp_path / "sft"),
        lr=3e-3,
        batch_size=32,
        max_steps=200,
        epochs=100,
        warmup_steps=10,
        num_threads=1,
        progress=False,
    )
    SFT(sft, records, model=model, tokenizer=tok).train()
    policy_dir = tmp_path / "sft" / "model"

    groups = generate_groups(
        env,
        HFSampler(model, tok),
        [base.task_at(10_000 + i) for i in range(512)],
        n=8,
        max_new_tokens=24,
        temperature=1.0,
        seed=11,
        batch_size=64,
    )
    env.close()
    pairs = correct_vs_incorrect(groups, max_pairs=4)
    cfg = RMConfig(
        model=str(policy_dir),
        out_dir=str(tmp_path / "rm"),
        lr=1e-3,
        epochs=8,
        batch_size=32,
        eval_fraction=0.2,
        warmup_steps=10,
        num_threads=1,
        progress=False,
    )
    rows = RewardModelTrainer(cfg, pairs).train()
    accuracy = rows[-1]["eval/accuracy"]

    rm = RewardModel.load(tmp_path / "rm" / "model")
    _, held = split_indices([p.prompt for p in pairs], 0.2, cfg.seed)
    formed = [
        pairs[i] for i in held if WELL_FORMED.match(pairs[i].chosen) and WELL_FORMED.match(pairs[i].rejected)
    ]
    scores = rm.score(
        [p.prompt for p in formed] * 2, [p.chosen for p in formed] + [p.rejected for p in formed]
    )
    formed_acc = sum(scores[i] > scores[len(formed) + i] for i in range(len(formed))) / max(len(formed), 1)

    monkeypatch.setenv("ASSAY_REWARD_MODEL", str(tmp_path / "rm" / "model"))
    out = tmp_path / "eval.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "eval", "--env", ENV, "--model", str(policy_dir), "--split", "test", "--limit", "64",
            "-n", "8", "--k", "1,8", "--temperature", "1.0", "--max-new-tokens", "24", "--seed", "5",
            "--select", "import:assay.agents.preference.rm:env_selector",
            "--out", str(out), "--no-plots", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.with_suffix(".summary.json").read_text())["metrics"]
    best1, best8 = metrics["best@1"]["mean"], metrics["best@8"]["mean"]
    print(
        f"reward model: {len(pairs)} pairs from {len(groups)} train prompts (policy pass rate "
        f"{sum(g.pass_rate for g in groups) / len(groups):.3f}); held-out pairwise accuracy "
        f"{accuracy:.3f} ({len(formed)} well-formed held-out pairs: {formed_acc:.3f}); assay eval on "
        f"64 test prompts: best@1 {best1:.3f}, best@8 {best8:.3f}, pass@8 {metrics['pass@8']['mean']:.3f}; "
        f"{time.perf_counter() - start:.1f} s"
    )
    assert accuracy >= 0.90
    assert len(formed) >= 50 and formed_acc >= 0.85
    assert best8 >= best1 + 0.05
    assert best8 - best1 >= 0.5 * (metrics["pass@8"]["mean"] - best1)
