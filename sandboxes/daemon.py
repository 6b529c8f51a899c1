"""The connection to the Docker daemon, shared by `DockerSandbox` and the image builder."""

from __future__ import annotations

from typing import Any

from assay.sandboxes.errors import SandboxUnavailable

__all__ = ["docker_client", "docker_sdk"]


def docker_sdk() -> Any:
    """The ``docker`` SDK module, or `DependencyNotInstalled` saying how to get it."""
    try:
        import docker
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('DockerSandbox needs the docker SDK: pip install "assay[docker]"') from e
    return docker


def docker_client(timeout_s: float = 30.0) -> Any:
    """A connected docker client, or `SandboxUnavailable` saying why not."""
    docker = docker_sdk()
    try:
        client = docker.from_env(timeout=int(max(1, timeout_s)))
        client.ping()
    except Exception as e:
        raise SandboxUnavailable(
            f"cannot reach the Docker daemon ({type(e).__name__}: {e}). Start it (e.g. "
            "`dockerd --bridge=none --iptables=false &`) or use LocalSandbox; `assay sandbox doctor` checks."
        ) from e
    return client
