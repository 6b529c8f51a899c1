"""The HTML report in a real headless browser (Debian's chromium): the summary table and a
trajectory with a tool call are in the rendered page, the status filter works, and a screenshot
comes out. Skips without chromium (``apt-get install -y chromium``); ``ASSAY_REQUIRE_BROWSER=1``
makes that a failure."""

import shutil
import subprocess

import pytest
import tiers

import assay
from assay.agents.evaluation import EvalConfig
from assay.agents.evaluation.episodes import evaluate_episodes
from assay.agents.evaluation.policies import EndpointPolicy
from assay.agents.evaluation.records import read_log
from assay.agents.evaluation.report import RunView, write_report
from assay.testing import GoldAgent, OpenAIStub
from assay.verifiers.chat_client import ChatClient


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    tiers.require_or_skip("browser", "no chromium on PATH (apt-get install -y chromium)")
    raise AssertionError("unreachable")


def browse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *extra, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    env = assay.make("assay/MultiHopQA-v0")
    agent = GoldAgent(env, range(4), wrong=[1])
    env.close()
    with OpenAIStub(agent) as stub:
        config = EvalConfig(env="assay/MultiHopQA-v0", model=stub.url, n=1, limit=4)
        policy = EndpointPolicy(ChatClient(stub.url, "stub"))
        summary = evaluate_episodes(config, policy, tmp / "run.jsonl", concurrency=2)
    view = RunView.from_log(read_log(tmp / "run.jsonl"), summary=summary, source="run.jsonl")
    return write_report([view], tmp / "report.html", title="assay eval <script>alert(1)</script>")


@pytest.mark.slow
def test_summary_table_and_a_tool_call_trajectory_are_rendered(report):
    dom = browse(report.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert '<table id="summary">' in page and "pass@1" in page and "0.750" in page
    assert "tool call: search" in page and "result of search" in page
    assert '<details class="traj" data-status="correct" data-run="0" open="">' in page
    assert "<script>alert(1)</script>" not in page  # text from the run is escaped


@pytest.mark.slow
def test_status_filter_in_the_url_hides_the_other_trajectories(report):
    page = browse(report.as_uri() + "#status=incorrect", "--dump-dom").stdout
    assert (
        page.count('data-status="correct" data-run="0" style="display: none;"')
        + page.count('data-status="correct" data-run="0" open="" style="display: none;"')
        == 3
    )
    assert '<span id="shown">1</span>' in page


@pytest.mark.slow
def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    r = browse(report.as_uri(), f"--screenshot={shot}", "--window-size=1280,1200")
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
