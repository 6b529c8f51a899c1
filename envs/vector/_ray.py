"""Import Ray on demand, and refuse to start it implicitly."""

from __future__ import annotations

from typing import Any

__all__ = ["require_ray"]


def require_ray() -> Any:
    """The ``ray`` module, once the caller has connected to a cluster (never ``ray.init`` here)."""
    try:
        import ray
    except ImportError as e:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled('Ray is not installed: pip install "assay[ray]"') from e
    if not ray.is_initialized():
        raise RuntimeError(
            "Ray is not initialised: call ray.init(...) first (e.g. ray.init(address='auto') to join "
            "a cluster, ray.init(num_cpus=2) for a local one); assay never starts Ray implicitly"
        )
    return ray
