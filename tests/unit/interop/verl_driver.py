"""Run inside the verl venv: verl's own config loader and ToolAgentLoop._call_tool drive assay tools.

Prints one JSON line: per episode, the tool texts verl got and the rewards, beside assay's own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from verl.experimental.agent_loop.tool_agent_loop import AgentData, ToolAgentLoop
from verl.experimental.agent_loop.tool_parser import FunctionCall
from verl.tools.base_tool import BaseTool
from verl.tools.tool_registry import initialize_tools_from_config

import assay
from assay.envs.verl_tools import AssayVerlTool, verl_dataset, write_verl_tool_config


async def main(env_id: str, n: int) -> dict:
    path = write_verl_tool_config(Path(tempfile.mkdtemp()) / "tools.yaml", env_id)
    tools = initialize_tools_from_config(str(path))
    loop = object.__new__(ToolAgentLoop)  # the agent loop's tool dispatch, without a model
    loop.tools = {t.name: t for t in tools}
    loop.max_tool_response_length = 100_000
    loop.tool_response_truncate_side = "middle"
    out = {
        "is_base_tool": all(isinstance(t, BaseTool) for t in tools),
        "names": sorted(loop.tools),
        "episodes": [],
    }
    ref = assay.make(env_id).unwrapped
    for i, row in enumerate(verl_dataset(env_id, n, seed=11)):
        task = ref.task_by_id(row["extra_info"]["task_id"])
        actions = ref.gold_actions(task)
        answer = "no idea" if i % 2 else str(task.answer)  # every other episode answers wrong
        actions[-1] = ref.call_format.render_calls([("final_answer", {"answer": answer})], turn=len(actions))
        tools_kwargs = row["extra_info"]["tools_kwargs"]
        data = AgentData([], [], [], None, None, {}, f"req-{i}", tools_kwargs)
        mine, theirs = {"texts": [], "rewards": []}, {"texts": [], "rewards": []}
        env = assay.make(env_id)
        env.reset(options={"task_id": task.id})
        for turn, action in enumerate(actions, start=1):
            _, r, term, trunc, info = env.step(action)
            theirs["texts"] += [res["content"] for res in info["tool_results"]]
            theirs["rewards"].append(float(r))
            parsed = ref.call_format.parse(action, turn)
            for call in parsed.calls:
                fc = FunctionCall(name=call.name, arguments=json.dumps(call.arguments))
                resp, reward, _ = await loop._call_tool(fc, tools_kwargs, data)
                if call.name != "final_answer":
                    mine["texts"].append(resp.text)
                mine["rewards"].append(float(reward))
        env.close()
        probe = loop.tools["final_answer"]
        iid, _ = await probe.create(create_kwargs=tools_kwargs["final_answer"]["create_kwargs"])
        mine["calc_reward"] = await probe.calc_reward(iid, agent_data=data)
        await probe.release(iid)
        out["episodes"].append({"verl": mine, "assay": theirs})
    AssayVerlTool.close_all()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
