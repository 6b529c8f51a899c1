"""examples/recipe.py runs end to end (SFT cold start -> GRPO -> iterative DPO), in miniature."""

import runpy
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = [pytest.mark.e2e]

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "recipe.py"


@pytest.mark.timeout(300)
def test_recipe_runs_in_miniature(tmp_path, monkeypatch, capsys):
    args = ["--out", str(tmp_path), "--sft-steps", "20", "--grpo-steps", "2", "--dpo-rounds", "1"]
    monkeypatch.setattr(sys, "argv", [str(RECIPE), *args, "--eval-samples", "1", "--quiet"])
    runpy.run_path(str(RECIPE), run_name="__main__")
    out = capsys.readouterr().out
    for stage in ("untrained", "SFT cold start", "+ GRPO", "+ iterative DPO"):
        assert stage in out
    for stage in ("sft", "grpo", "dpo"):
        assert (tmp_path / stage / "model" / "config.json").exists()
