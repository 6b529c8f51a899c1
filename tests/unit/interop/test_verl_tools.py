"""`assay.envs.verl_tools` in a real verl: verl's config loader builds the tools and its
ToolAgentLoop's tool dispatch runs them (create/execute/release), in the verl venv
(``.venv-verl``, built by ``make interop-venvs``; the interop tier: skipped without it, required in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiers

import assay
from assay.envs.verl_tools import verl_dataset, verl_tool_config
from assay.errors import AssayError

DRIVER = Path(__file__).with_name("verl_driver.py")


def test_config_lists_every_tool_with_its_schema() -> None:
    config = verl_tool_config("assay/Almanac-v0")
    names = [t["tool_schema"]["function"]["name"] for t in config["tools"]]
    assert "final_answer" in names and "calculator" in names
    assert all(t["class_name"] == "assay.envs.verl_tools.AssayVerlTool" for t in config["tools"])
    assert all(
        t["config"] == {"type": "native", "env_id": "assay/Almanac-v0", "env_kwargs": {}}
        for t in config["tools"]
    )
    row = verl_dataset("assay/Almanac-v0", 1)[0]
    assert set(row["extra_info"]["tools_kwargs"]) == set(names)
    with pytest.raises(AssayError):
        verl_tool_config("assay/Arithmetic-v0")  # no tools


def test_verl_agent_loop_drives_assay_tools() -> None:
    verl_python = tiers.peer_python("verl")
    tree = str(Path(assay.__file__).parent.parent)  # the assay import root this test runs against
    env = {**os.environ, "PYTHONPATH": tree, "PYTHONSAFEPATH": "1"}
    proc = subprocess.run(
        [verl_python, str(DRIVER), "assay/Almanac-v0", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["is_base_tool"]
    finals = []
    for ep in out["episodes"]:
        assert ep["verl"]["texts"] == ep["assay"]["texts"]  # same tool results, call by call
        assert ep["verl"]["rewards"][-1] == ep["assay"]["rewards"][-1]  # final_answer = env.step's reward
        assert ep["verl"]["calc_reward"] == ep["assay"]["rewards"][-1]
        finals.append(ep["assay"]["rewards"][-1])
    assert finals == [1.0, 0.0, 1.0, 0.0], sys.version
