"""``assay train grpo|ppo|sft|dpo|rm|data``: the trainers' command line.

- ``assay train grpo|ppo --env ID --model DIR``: RL on an env's verifier.
- ``assay train sft --model DIR --data SFT.jsonl``: supervised fine-tuning (completion-only loss).
- ``assay train dpo --model DIR --data PAIRS.jsonl --loss dpo|ipo|simpo|kto|orpo``: offline.
- ``assay train dpo --online --env ID --model DIR``: iterative DPO on an env's verifier.
- ``assay train rm --model DIR --data PAIRS.jsonl``: a Bradley-Terry reward model; prints the
  held-out pairwise accuracy.
- ``assay train data --env ID --model DIR --out FILE``: preference pairs, KTO records or
  rejection-sampled SFT data from an env.

Settings come from a YAML file (``--config``), then the flags, then ``--set key=value`` overrides
(values parsed as YAML), in that order. The env id, env arguments, model directory and data file
are checked before torch is imported or a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from assay.cli.errors import BadInput, CliError, UsageError
from assay.cli.options import (
    ENV,
    ENV_ARGS,
    ENV_KWARGS_DEPRECATED,
    MODEL,
    check_env,
    env_args,
    input_file,
    model_dir,
)

__all__ = ["app", "eval_table", "settings"]

app = typer.Typer(
    help="Train a policy: GRPO, PPO, SFT, DPO-family, reward models, preference data.", no_args_is_help=True
)

_CONFIG = typer.Option(None, "--config", "-c", help="YAML file of settings (see the run's config class).")
_DATA = typer.Option(None, "--data", help="Training records (JSONL).")
_OUT = typer.Option(None, "--out", help="Output directory (checkpoints, metrics.jsonl, metrics.png, model/).")
_STEPS = typer.Option(None, "--steps", help="Optimisation steps.")
_SEED = typer.Option(None, "--seed", help="Run seed.")
_SET = typer.Option(None, "--set", "-s", help="Override any setting: key=value (repeatable).")
_RESUME = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out.")
_EVAL = typer.Option(64, "--eval", help="Evaluate the trained policy on this many tasks (0: skip).")
_QUIET = typer.Option(False, "--quiet", help="No progress bar.")
_SYSTEM = typer.Option(
    None,
    "--system-prompt",
    help="The system message of every prompt (chat format), in place of the env's or data's.",
)
_FORMAT = typer.Option(
    None,
    "--prompt-format",
    help="chat (the tokenizer's template), text (base models) or auto (default: chat "
    "when the tokenizer has a template).",
)
_INIT_HINT = " (try: assay model init-tiny PATH)"


def settings(sets: list[str] | None, quiet: bool, **flags: Any) -> dict[str, Any]:
    """A trainer's settings from its command line: the flags given (None: not given), then the
    ``--set key=value`` overrides; ``quiet`` turns the progress bar off."""
    from assay.agents.config import parse_overrides

    values = {key: value for key, value in flags.items() if value is not None}
    if quiet:
        values["progress"] = False
    try:
        values.update(parse_overrides(sets or []))
    except ValueError as e:
        raise UsageError(str(e)) from e
    return values


def _config(cls: Any, path: Path | None, values: dict[str, Any]) -> Any:
    """The run's config from ``--config``, flags and ``--set``; a bad value is a `UsageError`."""
    import yaml

    from assay.agents.config import load_config

    if path is not None:
        input_file(path, option="--config", what="YAML file of settings")
    try:
        return load_config(cls, path, values)
    except yaml.YAMLError as e:
        raise BadInput(f"--config {str(path)!r} is not valid YAML: {e}") from e
    except (ValueError, TypeError) as e:
        raise UsageError(f"bad configuration: {e}") from e


def eval_table(title: str, results: dict[str, Any]) -> Table:
    """A rich table of `EvalResult`s, one row per named policy."""
    table = Table(title=title)
    for col in ("policy", "tasks", "mean reward", "correct", "incorrect", "no_answer", "other"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, r in results.items():
        known = sum(r.counts.get(k, 0) for k in ("correct", "incorrect", "no_answer"))
        table.add_row(
            name,
            str(len(r.episodes)),
            f"{r.mean_reward:.3f}",
            str(r.counts.get("correct", 0)),
            str(r.counts.get("incorrect", 0)),
            str(r.counts.get("no_answer", 0)),
            str(len(r.episodes) - known),
        )
    return table


# -- grpo, ppo -----------------------------------------------------------------------------------


def _rl(algo: str, config_path: Path | None, values: dict[str, Any], resume: bool, eval_tasks: int) -> None:
    from assay.agents.config import GRPOConfig, PPOConfig

    config = _config(GRPOConfig if algo == "grpo" else PPOConfig, config_path, values)
    check_env(config.env, config.env_kwargs)
    model_dir(config.model, hint=_INIT_HINT)
    from assay.agents import GRPO, PPO, HFSampler, spot_check

    console = Console()
    trainer = GRPO(config) if isinstance(config, GRPOConfig) else PPO(config)
    try:
        rows = trainer.train(resume=resume)
        exported = trainer.export(Path(config.out_dir) / "model")
    finally:
        trainer.close()
    last = rows[-50:]
    if last:
        console.print(
            f"{algo.upper()} {config.env}: {len(rows)} steps, mean reward over the last {len(last)} steps "
            f"{sum(r['reward/mean'] for r in last) / len(last):.3f}"
        )
    console.print(f"model: {exported}\nmetrics: {Path(config.out_dir) / 'metrics.jsonl'}")
    if config.plot:
        console.print(f"plot: {Path(config.out_dir) / 'metrics.png'}")
    if eval_tasks > 0:
        result = spot_check(
            config.env,
            HFSampler(trainer.model, trainer.tokenizer),
            trainer.tokenizer,
            env_kwargs=config.env_kwargs,
            num_tasks=eval_tasks,
            seed=config.seed + 1,
            max_new_tokens=config.max_new_tokens,
            max_turns=config.max_turns,
        )
        console.print(eval_table(f"{config.env}: greedy evaluation", {"trained": result}))


def _rl_values(
    env: str | None,
    model: str | None,
    args: list[str] | None,
    env_kwargs: str | None,
    out: str | None,
    steps: int | None,
    seed: int | None,
    sets: list[str] | None,
    quiet: bool,
    system_prompt: str | None = None,
    prompt_format: str | None = None,
) -> dict[str, Any]:
    return settings(
        sets,
        quiet,
        system_prompt=system_prompt,
        prompt_format=prompt_format,
        env=env,
        model=model,
        env_kwargs=env_args(args, env_kwargs=env_kwargs),
        out_dir=out,
        steps=steps,
        seed=seed,
    )


@app.command("grpo")
def grpo_cmd(
    config: Path | None = _CONFIG,
    env: str | None = ENV,
    model: str | None = MODEL,
    args: list[str] | None = ENV_ARGS,
    env_kwargs: str | None = ENV_KWARGS_DEPRECATED,
    out: str | None = _OUT,
    steps: int | None = _STEPS,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    eval_tasks: int = _EVAL,
    quiet: bool = _QUIET,
    system_prompt: str | None = _SYSTEM,
    prompt_format: str | None = _FORMAT,
) -> None:
    """Train with GRPO (group-relative advantages; DAPO / Dr. GRPO options via --set)."""
    values = _rl_values(
        env, model, args, env_kwargs, out, steps, seed, set_, quiet, system_prompt, prompt_format
    )
    _rl("grpo", config, values, resume, eval_tasks)


@app.command("ppo")
def ppo_cmd(
    config: Path | None = _CONFIG,
    env: str | None = ENV,
    model: str | None = MODEL,
    args: list[str] | None = ENV_ARGS,
    env_kwargs: str | None = ENV_KWARGS_DEPRECATED,
    out: str | None = _OUT,
    steps: int | None = _STEPS,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    eval_tasks: int = _EVAL,
    quiet: bool = _QUIET,
    system_prompt: str | None = _SYSTEM,
    prompt_format: str | None = _FORMAT,
) -> None:
    """Train with PPO (value head, GAE, clipped losses; options via --set)."""
    values = _rl_values(
        env, model, args, env_kwargs, out, steps, seed, set_, quiet, system_prompt, prompt_format
    )
    _rl("ppo", config, values, resume, eval_tasks)


# -- sft, dpo, rm --------------------------------------------------------------------------------


def _values(
    model: str | None,
    data: str | None,
    out: str | None,
    seed: int | None,
    sets: list[str] | None,
    quiet: bool,
    **extra: Any,
) -> dict[str, Any]:
    return settings(sets, quiet, model=model, data=data, out_dir=out, seed=seed, **extra)


def _need(config: Any, *, data: bool = True) -> None:
    model_dir(config.model)
    if data:
        input_file(config.data or None, option="--data", what="JSONL file")


def _summary(title: str, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> Table:
    table = Table(title=title)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    train = [r for r in rows if "loss" in r]
    if train:
        table.add_row("steps", str(train[-1]["step"]))
        tail = train[-10:]
        table.add_row("train loss (last 10 steps)", f"{sum(r['loss'] for r in tail) / len(tail):.4f}")
    final = rows[-1] if rows else {}
    for key in keys:
        value = final.get(key)
        if isinstance(value, int | float):
            table.add_row(key, f"{value:.4f}")
    return table


def _train(make: Callable[[], Any], resume: bool, title: str, keys: tuple[str, ...]) -> None:
    from assay.errors import AssayError

    try:
        trainer = make()
        rows = trainer.train(resume=resume)
    except (AssayError, ValueError, TypeError) as e:
        raise CliError(str(e)) from e
    console = Console()
    console.print(_summary(title, rows, keys))
    out = Path(trainer.config.out_dir)
    console.print(f"model: {out / 'model'}\nmetrics: {out / 'metrics.jsonl'}")


@app.command("sft")
def sft_cmd(
    config: Path | None = _CONFIG,
    model: str | None = MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
    system_prompt: str | None = _SYSTEM,
    prompt_format: str | None = _FORMAT,
) -> None:
    """Supervised fine-tuning on prompt/completion records (completion-only loss)."""
    from assay.agents.preference.config import SFTConfig

    cfg = _config(
        SFTConfig,
        config,
        _values(
            model, data, out, seed, set_, quiet, system_prompt=system_prompt, prompt_format=prompt_format
        ),
    )
    _need(cfg)
    from assay.agents.preference.sft import SFT

    _train(lambda: SFT(cfg), resume, "SFT", ("eval/loss",))


@app.command("dpo")
def dpo_cmd(
    config: Path | None = _CONFIG,
    model: str | None = MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    loss: str | None = typer.Option(None, "--loss", help="dpo (default), ipo, simpo, kto or orpo."),
    online: bool = typer.Option(
        False, "--online", help="Iterative DPO on --env instead of a preference file."
    ),
    env: str | None = ENV,
    args: list[str] | None = ENV_ARGS,
    env_kwargs: str | None = ENV_KWARGS_DEPRECATED,
    rounds: int | None = typer.Option(None, "--rounds", help="Online rounds."),
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
    system_prompt: str | None = _SYSTEM,
    prompt_format: str | None = _FORMAT,
) -> None:
    """DPO, IPO, SimPO, KTO or ORPO: offline on --data, or iterative DPO with --online --env ID.

    Online, each round samples from the policy, scores the samples with the env's verifier (or
    --set reward_model=DIR), builds pairs and optimises; the held-out pass rate is printed per round.
    """
    from assay.agents.preference.config import DPOConfig, OnlineDPOConfig

    if not online:
        if env is not None or rounds is not None or args or env_kwargs is not None:
            raise UsageError("--env, --env-args and --rounds go with --online")
        cfg = _config(
            DPOConfig,
            config,
            _values(
                model, data, out, seed, set_, quiet, loss=loss, system_prompt=system_prompt,
                prompt_format=prompt_format,
            ),
        )  # fmt: skip
        _need(cfg)
        from assay.agents.preference.dpo import DPO

        _train(
            lambda: DPO(cfg),
            resume,
            f"offline {cfg.loss.upper()}",
            ("eval/loss", "eval/rewards/accuracy", "eval/rewards/margin"),
        )
        return
    if resume:
        raise UsageError("--resume is for offline runs; an online run restarts from --model")
    values = _values(
        model, None, out, seed, set_, quiet, loss=loss, env=env, rounds=rounds,
        system_prompt=system_prompt, prompt_format=prompt_format,
    )  # fmt: skip
    kwargs = env_args(args, env_kwargs=env_kwargs)
    if kwargs is not None:
        values["env_kwargs"] = kwargs
    cfg = _config(OnlineDPOConfig, config, values)
    check_env(cfg.env, cfg.env_kwargs)
    _need(cfg, data=False)
    from assay.agents.preference.dpo import OnlineDPO
    from assay.errors import AssayError

    try:
        trainer = OnlineDPO(cfg)
        try:
            rows = trainer.train()
        finally:
            trainer.close()
    except (AssayError, ValueError, TypeError) as e:
        raise CliError(str(e)) from e
    table = Table(title=f"online {cfg.loss.upper()} on {cfg.env}")
    for col in ("round", "pairs", "train pass rate", "held-out pass rate", "held-out reward"):
        table.add_column(col, justify="right")
    for r in rows:
        train_pass = r.get("train/pass_rate")
        table.add_row(
            str(r["round"]),
            str(r.get("pairs", "-")),
            "-" if train_pass is None else f"{train_pass:.3f}",
            f"{r.get('eval/pass_rate', float('nan')):.3f}",
            f"{r.get('eval/reward', float('nan')):.3f}",
        )
    console = Console()
    console.print(table)
    console.print(f"model: {Path(cfg.out_dir) / 'model'}\nmetrics: {Path(cfg.out_dir) / 'metrics.jsonl'}")


@app.command("rm")
def rm_cmd(
    config: Path | None = _CONFIG,
    model: str | None = MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
    system_prompt: str | None = _SYSTEM,
    prompt_format: str | None = _FORMAT,
) -> None:
    """A Bradley-Terry reward model on preference pairs; reports held-out pairwise accuracy.

    The model is a scalar head on the causal LM in --model, saved to OUT/model.
    """
    from assay.agents.preference.config import RMConfig

    cfg = _config(
        RMConfig,
        config,
        _values(
            model, data, out, seed, set_, quiet, system_prompt=system_prompt, prompt_format=prompt_format
        ),
    )
    _need(cfg)
    from assay.agents.preference.rm import RewardModelTrainer

    _train(
        lambda: RewardModelTrainer(cfg),
        resume,
        "reward model",
        ("eval/accuracy", "eval/loss", "eval/rewards/margin"),
    )


# -- data ----------------------------------------------------------------------------------------


@app.command("data")
def data_cmd(
    env: str | None = ENV,
    model: str | None = MODEL,
    out: str = typer.Option(..., "--out", help="The JSONL file to write."),
    kind: str = typer.Option("pairs", "--kind", help="pairs, binary (KTO records) or sft (best of N)."),
    pairs: str = typer.Option(
        "correct_vs_incorrect", "--pairs", help="correct_vs_incorrect, best_vs_worst or margin."
    ),
    min_margin: float = typer.Option(0.0, help="Score margin for best_vs_worst (>) and margin (>=)."),
    max_pairs: int = typer.Option(1, help="Pairs per prompt (correct_vs_incorrect, margin)."),
    tasks: int = typer.Option(64, "--tasks", help="Tasks to sample."),
    start: int = typer.Option(0, "--start", help="First task index."),
    n: int = typer.Option(8, "-n", help="Completions per task."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    max_new_tokens: int = typer.Option(64, help="Tokens per completion."),
    reward_model: str | None = typer.Option(
        None, help="Rank by this reward model instead of the env's reward."
    ),
    args: list[str] | None = ENV_ARGS,
    env_kwargs: str | None = ENV_KWARGS_DEPRECATED,
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Preference pairs, KTO records or best-of-N SFT data sampled from a single-turn env (JSONL).

    Each task gets N completions, verified and scored by the env (or --reward-model).
    """
    if kind not in ("pairs", "binary", "sft"):
        raise UsageError("--kind is pairs, binary or sft")
    if pairs not in ("correct_vs_incorrect", "best_vs_worst", "margin"):
        raise UsageError("--pairs is correct_vs_incorrect, best_vs_worst or margin")
    kwargs = env_args(args, env_kwargs=env_kwargs) or {}
    env = check_env(env, kwargs)
    policy_dir = model_dir(model)
    if reward_model is not None:
        model_dir(reward_model, option="--reward-model")
    from assay.agents.policy import load_policy
    from assay.agents.preference import data as prefdata
    from assay.agents.sampler import HFSampler
    from assay.registry import make

    policy, tokenizer = load_policy(str(policy_dir))
    scorer = None
    if reward_model is not None:
        from assay.agents.preference.rm import RewardModel

        scorer = RewardModel.load(reward_model)
    environment = make(env, **kwargs)
    try:
        base: Any = environment.unwrapped
        chosen = range(start, start + tasks)
        if base.num_tasks is not None:
            chosen = range(min(start, base.num_tasks), min(start + tasks, base.num_tasks))
        groups = prefdata.generate_groups(
            environment,
            HFSampler(policy, tokenizer),
            [base.task_at(i) for i in chosen],
            n=n,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            scorer=scorer,
        )
    finally:
        environment.close()
    records: list[Any]
    if kind == "binary":
        records = prefdata.binary_records(groups)
    elif kind == "sft":
        records = prefdata.rejection_sample(groups)
    elif pairs == "correct_vs_incorrect":
        records = prefdata.correct_vs_incorrect(groups, max_pairs=max_pairs, seed=seed)
    elif pairs == "best_vs_worst":
        records = prefdata.best_vs_worst(groups, min_margin=min_margin)
    else:
        records = prefdata.margin_pairs(groups, min_margin=min_margin, max_pairs=max_pairs)
    prefdata.save_jsonl(records, out)
    rate = sum(g.pass_rate for g in groups) / max(len(groups), 1)
    Console().print(
        f"{len(groups)} tasks x {n} samples (pass rate {rate:.3f}) -> {len(records)} {kind} records in {out}"
    )
