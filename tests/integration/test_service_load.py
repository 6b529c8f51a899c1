"""200 concurrent loopback clients against `assay serve` verifying math answers (MathVerifier):
no errors, deliberate 429s, every verdict right, and p99 under 100 ms.

``ASSAY_SOAK_SECONDS=60`` runs the issue's 60-s soak (default 10 s, to keep the suite short;
``benchmarks/service.py --seconds 60`` prints the full table). The latency bound
(``ASSAY_SOAK_P99_MS``, default 100) is asserted only when the machine is not oversubscribed
(1-minute load average at most its CPU count when the test starts): on a machine whose cores are
busy with other work, client-side latency measures the scheduler, not the service. Otherwise the
measured p99 is reported as a warning. Errors, wrong verdicts and missing 429s fail regardless.
"""

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("service_benchmark", ROOT / "benchmarks" / "service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["service_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def test_200_clients_get_answers_or_429_never_errors():
    bench = load_benchmark()
    seconds = float(os.environ.get("ASSAY_SOAK_SECONDS", "10"))
    p99_ms = float(os.environ.get("ASSAY_SOAK_P99_MS", "100"))
    busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    port = bench.free_port()
    proc = bench.start_assay_serve(port, max_concurrency=8)
    try:
        reqs = [
            (bench.http_post("127.0.0.1", port, "/v1/verify", b), s)
            for b, s in bench.verify_bodies(bench.arithmetic_items())
        ]
        bench.run_load("127.0.0.1", port, reqs, clients=8, seconds=1.0)
        r = bench.run_load("127.0.0.1", port, reqs, clients=200, seconds=seconds, check=bench.check_verdict)
    finally:
        bench.stop(proc)
    load = os.getloadavg()[0]
    summary = (
        f"{r.ok} answered ({r.rps:.0f}/s), {r.rejected} x 429, {r.errors} errors, {r.wrong} wrong verdicts, "
        f"p50 {1000 * r.pct(0.5):.1f} ms, p99 {1000 * r.pct(0.99):.1f} ms, load average {load:.1f}"
    )
    print(summary)
    assert r.errors == 0, r.first_error
    assert r.wrong == 0
    assert r.rejected > 0, "200 clients against a limit of 8 must see back-pressure"
    assert r.ok > 0
    if busy:
        warnings.warn(f"machine oversubscribed at the start, p99 not asserted: {summary}", stacklevel=1)
    else:
        assert r.pct(0.99) * 1000 < p99_ms, summary
