"""Shared fixtures. Tiers (docker, vllm, e2e) skip on a laptop that lacks them and fail in CI
(``ASSAY_REQUIRE_<TIER>=1``, set by ``.ci/run``)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def require_or_skip(tier: str, reason: str) -> None:
    """Skip with ``reason``, or fail when ``ASSAY_REQUIRE_<TIER>=1``."""
    if os.environ.get(f"ASSAY_REQUIRE_{tier.upper()}") == "1":
        pytest.fail(f"{tier} tier is required here but unavailable: {reason}")
    pytest.skip(reason)
