"""Run in the verifiers 0.4 venv (assay on PYTHONPATH): an assay env over verifiers tasks.

The tasks are verifiers' own ``Task``/``Taskset`` classes with a ``@vf.reward`` that uses
verifiers' ``extract_boxed_answer``; prints one JSON line of what the assay env saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import verifiers.v1 as vf
from gymnasium.utils.env_checker import check_env

from assay.envs.verifiers_env import from_verifiers


class SumData(vf.TaskData):
    answer: str = ""


class SumTask(vf.Task[SumData, vf.State, vf.TaskConfig]):
    @vf.reward
    async def boxed_match(self, task, trace) -> float:
        said = vf.extract_boxed_answer(str(trace.last_message.content))
        return float(said.strip() == task.answer)


class SumTaskset(vf.Taskset[SumTask, vf.TasksetConfig]):
    def load(self) -> Iterable[SumTask]:
        for a in range(5):
            yield SumTask(
                SumData(prompt=f"What is {a} + {a + 1}? Answer in \\boxed{{}}.", answer=str(2 * a + 1))
            )


env = from_verifiers(SumTaskset(vf.TasksetConfig()), name="sums")
out = {"num_tasks": env.num_tasks}
prompt, info = env.reset(options={"index": 2})
out["prompt"], out["task_id"] = prompt, info["task_id"]
_, out["right"], term, _, info = env.step("so \\boxed{5}")
out["right_status"], out["rewards"] = info["verdict"].status.value, info["verdict"].details["rewards"]
env.reset(options={"index": 2})
_, out["wrong"], _, _, info = env.step("\\boxed{6}")
out["wrong_status"] = info["verdict"].status.value
check_env(env, skip_render_check=True)

out["check_env"] = True
print(json.dumps(out))
