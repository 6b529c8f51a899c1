"""``assay train grpo|ppo`` and ``assay model init-tiny``: the trainer's command line.

Settings come from a YAML file (``--config``), then the common flags, then ``--set key=value``
overrides (values parsed as YAML), in that order. torch is imported only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["app", "eval_table", "model_app", "parse_env_kwargs", "settings"]

app = typer.Typer(help="Train a policy on an assay env (GRPO or PPO).", no_args_is_help=True)
model_app = typer.Typer(help="Build local models (no hub needed).", no_args_is_help=True)

_CONFIG = typer.Option(None, "--config", "-c", help="YAML file of settings (see GRPOConfig / PPOConfig).")
_ENV = typer.Option(None, "--env", help="Env id, e.g. assay/Arithmetic-v0.")
_MODEL = typer.Option(None, "--model", help="Local model directory.")
_ENV_KWARGS = typer.Option(
    None, "--env-kwargs", help='JSON object of env arguments, e.g. \'{"level": "easy"}\'.'
)
_OUT = typer.Option(None, "--out", help="Output directory (checkpoints, metrics.jsonl, metrics.png, model/).")
_STEPS = typer.Option(None, "--steps", help="Optimisation steps.")
_SEED = typer.Option(None, "--seed", help="Run seed.")
_SET = typer.Option(None, "--set", "-s", help="Override any setting: key=value (repeatable).")
_RESUME = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out.")
_EVAL = typer.Option(64, "--eval", help="Evaluate the trained policy on this many tasks (0: skip).")
_QUIET = typer.Option(False, "--quiet", help="No progress bar.")


def parse_env_kwargs(text: str | None) -> dict[str, Any] | None:
    """``--env-kwargs``: a JSON object, or None when not given (a clear error otherwise)."""
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"--env-kwargs is not JSON: {e}") from e
    if not isinstance(parsed, dict):
        raise typer.BadParameter("--env-kwargs must be a JSON object")
    return parsed


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
        raise typer.BadParameter(str(e)) from e
    return values


def _settings(
    env: str | None,
    model: str | None,
    env_kwargs: str | None,
    out: str | None,
    steps: int | None,
    seed: int | None,
    sets: list[str] | None,
    quiet: bool,
) -> dict[str, Any]:
    return settings(
        sets,
        quiet,
        env=env,
        model=model,
        env_kwargs=parse_env_kwargs(env_kwargs),
        out_dir=out,
        steps=steps,
        seed=seed,
    )


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


def _run(algo: str, config_path: Path | None, values: dict[str, Any], resume: bool, eval_tasks: int) -> None:
    from assay.agents import GRPO, PPO, GRPOConfig, HFSampler, PPOConfig, load_config, spot_check

    console = Console()
    cls = GRPOConfig if algo == "grpo" else PPOConfig
    try:
        config = load_config(cls, config_path, values)
    except (ValueError, TypeError, FileNotFoundError) as e:
        console.print(f"[red]bad configuration:[/red] {e}")
        raise typer.Exit(2) from e
    if not config.model or not Path(config.model).is_dir():
        console.print(
            f"[red]--model must be a local model directory, got {config.model!r}[/red] (try: assay model init-tiny PATH)"
        )
        raise typer.Exit(2)
    trainer = GRPO(config) if isinstance(config, GRPOConfig) else PPO(config)  # type: ignore[arg-type]
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


@app.command("grpo")
def grpo_cmd(
    config: Path | None = _CONFIG,
    env: str | None = _ENV,
    model: str | None = _MODEL,
    env_kwargs: str | None = _ENV_KWARGS,
    out: str | None = _OUT,
    steps: int | None = _STEPS,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    eval_tasks: int = _EVAL,
    quiet: bool = _QUIET,
) -> None:
    """Train with GRPO (group-relative advantages; DAPO / Dr. GRPO options via --set)."""
    _run("grpo", config, _settings(env, model, env_kwargs, out, steps, seed, set_, quiet), resume, eval_tasks)


@app.command("ppo")
def ppo_cmd(
    config: Path | None = _CONFIG,
    env: str | None = _ENV,
    model: str | None = _MODEL,
    env_kwargs: str | None = _ENV_KWARGS,
    out: str | None = _OUT,
    steps: int | None = _STEPS,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    eval_tasks: int = _EVAL,
    quiet: bool = _QUIET,
) -> None:
    """Train with PPO (value head, GAE, clipped losses; options via --set)."""
    _run("ppo", config, _settings(env, model, env_kwargs, out, steps, seed, set_, quiet), resume, eval_tasks)


@model_app.command("init-tiny")
def init_tiny_cmd(
    path: Annotated[Path, typer.Argument(help="Directory to write the model and tokenizer to.")],
    hidden_size: int = typer.Option(64, help="Hidden size."),
    layers: int = typer.Option(2, help="Transformer layers."),
    alphabet: str = typer.Option(
        "printable",
        help="'printable' (100 chars), 'arithmetic' (digits and + - * / = . space) or a literal string of characters.",
    ),
    seed: int = typer.Option(0, help="Initialisation seed."),
) -> None:
    """Write a tiny randomly initialised Qwen2 model and a char-level tokenizer to PATH."""
    from assay.agents.tiny import ALPHABET, ARITHMETIC_ALPHABET, init_tiny

    chars = {"printable": ALPHABET, "arithmetic": ARITHMETIC_ALPHABET}.get(alphabet, alphabet)
    try:
        out = init_tiny(path, hidden_size=hidden_size, num_layers=layers, alphabet=chars, seed=seed)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    from safetensors.torch import load_file

    params = sum(t.numel() for t in load_file(str(out / "model.safetensors")).values())
    Console().print(f"wrote {out} ({params:,} parameters, {len(chars) + 3} tokens)")
