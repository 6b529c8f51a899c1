"""Shared settings. Tiers (docker, vllm, e2e) skip on a laptop that lacks them and fail in CI
(``ASSAY_REQUIRE_<TIER>=1``, set by ``.ci/run``): see ``tests/tiers.py``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
