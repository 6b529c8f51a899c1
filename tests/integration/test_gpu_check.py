"""`benchmarks/gpu_check.py --dry-run`: the real-size GPU case runs end to end on the CPU with
tiny shapes (each HF engine, and TRL beside it where trl is installed)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_gpu_check_dry_run_prints_each_engine():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=590,
        env=dict(os.environ),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = "\n" + out.stdout
    figures = json.loads(text[text.rindex("\n{\n") + 1 :])  # the indented JSON the script prints last
    for engine in ("loop", "hf-loop"):
        assert figures[engine]["sample_tok_s"] > 0 and figures[engine]["train_tok_s"] > 0
    if figures["trl"] != "not installed":
        assert figures["trl"]["step_tok_s"] > 0
