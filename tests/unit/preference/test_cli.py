"""``assay train sft|dpo|rm|data`` end to end on a tiny model (a few steps each)."""

import json

import gymnasium as gym
from typer.testing import CliRunner

from assay.agents.preference.data import PreferencePair, SFTRecord, load_pairs, save_jsonl
from assay.cli import app
from assay.envs import SingleTurnEnv, Task
from assay.verifiers.match import NumberMatch

ENV = "preftest/CliAdd-v0"


class AddEnv(SingleTurnEnv):
    def __init__(self, **kwargs):
        super().__init__(verifier=NumberMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        a, b = index % 3, (index // 3) % 3
        return Task(id=f"cliadd/{index}", prompt=f"{a}+{b}=", answer=str(a + b))


if ENV not in gym.registry:
    gym.register(ENV, entry_point=AddEnv)

runner = CliRunner()
QUICK = ["--quiet", "--set", "num_threads=1", "--set", "lr=0.003"]


def run(*args):
    result = runner.invoke(app, ["train", *args])
    return result.exit_code, result.output


def test_data_then_sft_dpo_and_rm(tiny_dir, tmp_path):
    common = ["--env", ENV, "--model", str(tiny_dir), "--tasks", "6", "-n", "4", "--max-new-tokens", "3"]
    code, out = run("data", *common, "--out", str(tmp_path / "p.jsonl"), "--pairs", "best_vs_worst")
    assert code == 0, out
    assert "6 tasks x 4 samples" in out
    for row in (json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()):
        assert set(row) >= {"prompt", "chosen", "rejected"}
    code, out = run("data", *common, "--out", str(tmp_path / "k.jsonl"), "--kind", "binary")
    assert code == 0, out
    assert all("label" in json.loads(x) for x in (tmp_path / "k.jsonl").read_text().splitlines())

    save_jsonl([SFTRecord(f"{a}+{b}=", str(a + b)) for a in range(3) for b in range(3)], tmp_path / "s.jsonl")
    code, out = run(
        "sft",
        "--model",
        str(tiny_dir),
        "--data",
        str(tmp_path / "s.jsonl"),
        "--out",
        str(tmp_path / "sft"),
        *QUICK,
    )
    assert code == 0, out
    assert (tmp_path / "sft" / "model" / "config.json").exists()

    pairs = [PreferencePair(f"{a}+{b}=", str(a + b), "?") for a in range(3) for b in range(3)]
    save_jsonl(pairs, tmp_path / "pairs.jsonl")
    sft_model = str(tmp_path / "sft" / "model")
    for loss in ("ipo", "kto"):
        code, out = run(
            "dpo",
            "--model",
            sft_model,
            "--data",
            str(tmp_path / "pairs.jsonl"),
            "--loss",
            loss,
            "--out",
            str(tmp_path / loss),
            *QUICK,
        )
        assert code == 0, out
        assert f"offline {loss.upper()}" in out
    code, out = run(
        "rm",
        "--model",
        sft_model,
        "--data",
        str(tmp_path / "pairs.jsonl"),
        "--out",
        str(tmp_path / "rm"),
        *QUICK,
        "--set",
        "epochs=2",
    )
    assert code == 0, out
    assert "eval/accuracy" in out
    assert load_pairs(tmp_path / "pairs.jsonl") == pairs


def test_online_dpo(tiny_dir, tmp_path):
    code, out = run(
        "dpo",
        "--online",
        "--env",
        ENV,
        "--model",
        str(tiny_dir),
        "--rounds",
        "1",
        "--out",
        str(tmp_path),
        *QUICK,
        "--set",
        "prompts_per_round=4",
        "--set",
        "max_new_tokens=3",
        "--set",
        "eval_prompts=3",
        "--set",
        "eval_samples=2",
        "--set",
        "pairs=best_vs_worst",
    )
    assert code == 0, out
    assert "held-out pass rate" in out
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [0, 1]


def test_bad_invocations_fail_cleanly(tiny_dir, tmp_path):
    code, out = run("sft", "--model", str(tmp_path / "missing"), "--data", "x.jsonl")
    assert code == 4 and "--model must be a local model directory" in out
    code, out = run("sft", "--model", str(tiny_dir), "--data", str(tmp_path / "none.jsonl"))
    assert code == 4 and "--data must be a JSONL file" in out
    code, out = run("dpo", "--model", str(tiny_dir), "--data", "x", "--set", "loss=nope")
    assert code == 2 and "loss must be one of" in out
    code, out = run("dpo", "--model", str(tiny_dir), "--env", ENV)
    assert code == 2 and "go with --online" in out
    code, out = run("data", "--env", ENV, "--model", str(tiny_dir), "--out", "x", "--kind", "odd")
    assert code == 2 and "--kind" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p"}\n')
    code, out = run(
        "rm", "--model", str(tiny_dir), "--data", str(bad), "--out", str(tmp_path / "r"), "--quiet"
    )
    assert code != 0
