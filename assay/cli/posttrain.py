"""``assay train sft|dpo|rm|data``: the post-training stages' command line.

- ``assay train sft --model DIR --data SFT.jsonl``: supervised fine-tuning (completion-only loss).
- ``assay train dpo --model DIR --data PAIRS.jsonl --loss dpo|ipo|simpo|kto|orpo``: offline.
- ``assay train dpo --online --env ID --model DIR``: iterative DPO on an env's verifier.
- ``assay train rm --model DIR --data PAIRS.jsonl``: a Bradley-Terry reward model; prints the
  held-out pairwise accuracy.
- ``assay train data --env ID --model DIR --out FILE``: preference pairs, KTO records or
  rejection-sampled SFT data from an env.

Settings come from a YAML file (``--config``), then the flags, then ``--set key=value`` overrides
(values parsed as YAML), as in ``assay train grpo``. The commands are added to the ``train``
sub-app of `assay.cli.train` by `register`; torch is imported only when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from assay.cli.train import parse_env_kwargs, settings

__all__ = ["app", "register"]

app = typer.Typer(
    help="Post-training: SFT, DPO-family, reward models, preference data.", no_args_is_help=True
)

_CONFIG = typer.Option(None, "--config", "-c", help="YAML file of settings.")
_MODEL = typer.Option(None, "--model", help="Local model directory to start from.")
_DATA = typer.Option(None, "--data", help="Training records (JSONL).")
_OUT = typer.Option(None, "--out", help="Output directory (metrics.jsonl, checkpoints, model/).")
_SEED = typer.Option(None, "--seed", help="Run seed.")
_SET = typer.Option(None, "--set", "-s", help="Override any setting: key=value (repeatable).")
_RESUME = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out.")
_QUIET = typer.Option(False, "--quiet", help="No progress bar.")
_ENV_KWARGS = typer.Option(
    None, "--env-kwargs", help='JSON object of env arguments, e.g. \'{"level": "easy"}\'.'
)


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


def _config(cls: Any, path: Path | None, values: dict[str, Any]) -> Any:
    from assay.agents.preference.config import load_train_config

    try:
        return load_train_config(cls, path, values)
    except (ValueError, TypeError, FileNotFoundError) as e:
        Console(stderr=True).print(f"[red]bad configuration:[/red] {e}")
        raise typer.Exit(2) from e


def _need(config: Any, *, data: bool = True) -> None:
    err = Console(stderr=True)
    if not config.model or not Path(config.model).is_dir():
        err.print(f"[red]--model must be a local model directory, got {config.model!r}[/red]")
        raise typer.Exit(2)
    if data and (not config.data or not Path(config.data).is_file()):
        err.print(f"[red]--data must be a JSONL file, got {config.data!r}[/red]")
        raise typer.Exit(2)


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
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    console = Console()
    console.print(_summary(title, rows, keys))
    out = Path(trainer.config.out_dir)
    console.print(f"model: {out / 'model'}\nmetrics: {out / 'metrics.jsonl'}")


def sft_cmd(
    config: Path | None = _CONFIG,
    model: str | None = _MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
) -> None:
    """Supervised fine-tuning on prompt/completion records (completion-only loss)."""
    from assay.agents.preference.config import SFTConfig
    from assay.agents.preference.sft import SFT

    cfg = _config(SFTConfig, config, _values(model, data, out, seed, set_, quiet))
    _need(cfg)
    _train(lambda: SFT(cfg), resume, "SFT", ("eval/loss",))


def dpo_cmd(
    config: Path | None = _CONFIG,
    model: str | None = _MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    loss: str | None = typer.Option(None, "--loss", help="dpo (default), ipo, simpo, kto or orpo."),
    online: bool = typer.Option(
        False, "--online", help="Iterative DPO on --env instead of a preference file."
    ),
    env: str | None = typer.Option(None, "--env", help="Env id (with --online)."),
    env_kwargs: str | None = _ENV_KWARGS,
    rounds: int | None = typer.Option(None, "--rounds", help="Online rounds."),
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
) -> None:
    """DPO, IPO, SimPO, KTO or ORPO: offline on --data, or iterative DPO with --online --env ID.

    Online, each round samples from the policy, scores the samples with the env's verifier (or
    --set reward_model=DIR), builds pairs and optimises; the held-out pass rate is printed per round.
    """
    from assay.agents.preference.config import DPOConfig, OnlineDPOConfig

    if not online:
        if env is not None or rounds is not None or env_kwargs is not None:
            raise typer.BadParameter("--env, --env-kwargs and --rounds go with --online")
        from assay.agents.preference.dpo import DPO

        cfg = _config(DPOConfig, config, _values(model, data, out, seed, set_, quiet, loss=loss))
        _need(cfg)
        _train(
            lambda: DPO(cfg),
            resume,
            f"offline {cfg.loss.upper()}",
            ("eval/loss", "eval/rewards/accuracy", "eval/rewards/margin"),
        )
        return
    from assay.agents.preference.dpo import OnlineDPO

    if resume:
        raise typer.BadParameter("--resume is for offline runs; an online run restarts from --model")
    values = _values(model, None, out, seed, set_, quiet, loss=loss, env=env, rounds=rounds)
    kwargs = parse_env_kwargs(env_kwargs)
    if kwargs is not None:
        values["env_kwargs"] = kwargs
    cfg = _config(OnlineDPOConfig, config, values)
    _need(cfg, data=False)
    from assay.errors import AssayError

    try:
        trainer = OnlineDPO(cfg)
        try:
            rows = trainer.train()
        finally:
            trainer.close()
    except (AssayError, ValueError, TypeError) as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
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


def rm_cmd(
    config: Path | None = _CONFIG,
    model: str | None = _MODEL,
    data: str | None = _DATA,
    out: str | None = _OUT,
    seed: int | None = _SEED,
    set_: list[str] | None = _SET,
    resume: bool = _RESUME,
    quiet: bool = _QUIET,
) -> None:
    """A Bradley-Terry reward model on preference pairs; reports held-out pairwise accuracy.

    The model is a scalar head on the causal LM in --model, saved to OUT/model.
    """
    from assay.agents.preference.config import RMConfig
    from assay.agents.preference.rm import RewardModelTrainer

    cfg = _config(RMConfig, config, _values(model, data, out, seed, set_, quiet))
    _need(cfg)
    _train(
        lambda: RewardModelTrainer(cfg),
        resume,
        "reward model",
        ("eval/accuracy", "eval/loss", "eval/rewards/margin"),
    )


def data_cmd(
    env: str = typer.Option(..., "--env", help="Env id (single-turn)."),
    model: str = typer.Option(..., "--model", help="Local model directory to sample from."),
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
    env_kwargs: str | None = _ENV_KWARGS,
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Preference pairs, KTO records or best-of-N SFT data sampled from an env (JSONL).

    Each task gets N completions, verified and scored by the env (or --reward-model).
    """
    from assay.agents.policy import load_policy
    from assay.agents.preference import data as prefdata
    from assay.agents.sampler import HFSampler
    from assay.registry import make

    if kind not in ("pairs", "binary", "sft"):
        raise typer.BadParameter("--kind is pairs, binary or sft")
    if pairs not in ("correct_vs_incorrect", "best_vs_worst", "margin"):
        raise typer.BadParameter("--pairs is correct_vs_incorrect, best_vs_worst or margin")
    if not Path(model).is_dir():
        raise typer.BadParameter(f"--model must be a local model directory, got {model!r}")
    policy, tokenizer = load_policy(model)
    scorer = None
    if reward_model is not None:
        from assay.agents.preference.rm import RewardModel

        scorer = RewardModel.load(reward_model)
    environment = make(env, **(parse_env_kwargs(env_kwargs) or {}))
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


def register(train_app: typer.Typer) -> None:
    """Add ``sft``, ``dpo``, ``rm`` and ``data`` to a ``train`` sub-app."""
    train_app.command("sft")(sft_cmd)
    train_app.command("dpo")(dpo_cmd)
    train_app.command("rm")(rm_cmd)
    train_app.command("data")(data_cmd)


register(app)
