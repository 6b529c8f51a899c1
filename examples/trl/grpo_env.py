"""GRPO with TRL on an assay tool env: TRL drives generation and the tool loop, assay the env.

One GPU:    python examples/trl/grpo_env.py --model Qwen/Qwen3-0.6B
Many GPUs:  accelerate launch --config_file examples/trl/deepspeed_zero2.yaml examples/trl/grpo_env.py ...
vLLM server mode (generation on its own GPU):
            CUDA_VISIBLE_DEVICES=0 trl vllm-serve --model Qwen/Qwen3-0.6B
            CUDA_VISIBLE_DEVICES=1,2,3 accelerate launch --config_file examples/trl/deepspeed_zero2.yaml \\
                --num_processes 3 examples/trl/grpo_env.py --model Qwen/Qwen3-0.6B --vllm-server
"""

from __future__ import annotations

import argparse

from trl import GRPOConfig, GRPOTrainer

from assay.envs import to_trl_environment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B")
    parser.add_argument("--env", default="assay/Almanac-v0")
    parser.add_argument("--tasks", type=int, default=512)
    parser.add_argument("--vllm-server", action="store_true", help="generate with `trl vllm-serve`")
    parser.add_argument("--output-dir", default="runs/trl-grpo-env")
    args = parser.parse_args()

    factory = to_trl_environment(args.env)  # tools -> methods, final_answer -> get_reward
    config = GRPOConfig(
        output_dir=args.output_dir,
        per_device_train_batch_size=8,
        num_generations=8,
        max_completion_length=1024,
        max_tool_calling_iterations=8,
        bf16=True,
        use_vllm=args.vllm_server,
        vllm_mode="server",
        logging_steps=1,
    )
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=factory.reward_funcs,  # [] here: the env owns the reward
        environment_factory=factory,
        train_dataset=factory.dataset(args.tasks),
        args=config,
    )
    trainer.train()


if __name__ == "__main__":
    main()
