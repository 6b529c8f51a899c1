"""``assay eval``: evaluate a model on an env (pass@k, maj@k, best@k, mean reward), resumable;
``assay eval compare A.jsonl B.jsonl ...``: runs side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assay.cli.errors import BadInput, CliError, UsageError
from assay.cli.options import ENV, ENV_ARG_DEPRECATED, ENV_ARGS, check_env, env_args

__all__ = ["app", "summary_table"]

app = typer.Typer(
    name="eval",
    help="Evaluate a model on an env: pass@k, maj@k, best-of-N, mean reward with 95% CIs.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_err = Console(stderr=True)


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise UsageError(f"--k takes comma-separated integers, got {text!r}") from None
    if not ks:
        raise UsageError("--k needs at least one value")
    return ks


def _read_log(path: Path) -> Any:
    from assay.agents.evaluation.records import read_log
    from assay.errors import AssayError

    try:
        return read_log(path)
    except AssayError as e:
        raise BadInput(str(e)) from e


def _check_model(model: str) -> None:
    if model.startswith(("http://", "https://", "import:")) or Path(model).is_dir():
        return
    raise BadInput(
        f"--model must be an http(s) URL, import:module:name or a local model directory, got {model!r}"
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-60:] or "run"


def _fmt(e: Any) -> str:
    if e.size == 0:
        return "-"
    if e.low == e.high:
        return f"{e.mean:.3f}"
    return f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]"


def summary_table(summary: Any, title: str) -> Table:
    """A rich table of one run's metrics."""
    table = Table(title=title)
    table.add_column("metric", style="bold")
    table.add_column("mean [95% CI]", justify="right")
    for name, est in summary.metrics.items():
        table.add_row(name, _fmt(est))
    table.add_row("tasks", str(summary.num_tasks))
    table.add_row("samples/task", str(summary.n))
    table.add_row("verdicts", ", ".join(f"{k}={v}" for k, v in summary.status.items()))
    if summary.incomplete_tasks:
        table.add_row("incomplete tasks", str(summary.incomplete_tasks))
    return table


@app.callback()
def eval_cmd(
    ctx: typer.Context,
    env: str | None = ENV,
    model: str | None = typer.Option(
        None,
        "--model",
        help="The model to sample from: a local model directory, an OpenAI-compatible server URL, "
        "or import:module:name.",
    ),
    engine: str = typer.Option("hf", help="For a local directory: hf (transformers) or vllm."),
    model_name: str = typer.Option(None, help="Served model name (URL models; default: the server's first)."),
    api_key: str = typer.Option(None, envvar="OPENAI_API_KEY", help="Bearer token for a URL model."),
    chat: bool = typer.Option(False, help="URL models: use /v1/chat/completions."),
    prompt_format: str = typer.Option(
        "auto",
        help="Local models: chat (the tokenizer's chat template), text (plain prompts, base models) "
        "or auto (chat when the tokenizer has a template).",
    ),
    system_prompt: str = typer.Option(
        None, help="The system message (chat template or --chat), in place of the env's own."
    ),
    split: str = typer.Option(None, help="Dataset split, passed to the env as split=."),
    args: list[str] | None = ENV_ARGS,
    env_arg: list[str] | None = ENV_ARG_DEPRECATED,
    n: int = typer.Option(16, "-n", help="Samples per task."),
    k: str = typer.Option("1", "--k", help="Comma-separated k for pass@k, maj@k, best@k."),
    limit: int = typer.Option(None, help="At most this many tasks (required for procedural envs)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    top_p: float = typer.Option(None, help="Nucleus sampling (URL models only)."),
    max_new_tokens: int = typer.Option(512, help="Tokens per completion."),
    batch_size: int = typer.Option(8, help="Tasks per sampler call."),
    select: str = typer.Option(
        None,
        help="Best-of-N selector: logprob, judge:URL[#model] (an LLM judge on an OpenAI-compatible "
        "server; it never sees the reference), or import:module:fn with fn(completion, task) -> float.",
    ),
    out: Annotated[
        Path | None,
        typer.Option(help="The JSONL log (resumed when it exists). Default: evals/<env>__<model>.jsonl"),
    ] = None,
    plots: bool = typer.Option(True, help="Write the pass@k curve and reward histogram PNGs."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run MODEL on ENV's tasks with N samples each and report pass@k, maj@k, best@k, reward.

    Every sample is appended to the JSONL log as it is verified; rerun the same command to
    resume an interrupted run (no sample is duplicated or lost).
    """
    if ctx.invoked_subcommand is not None:
        return
    if env is None or model is None:
        raise UsageError("--env and --model are required (or use: assay eval compare A.jsonl B.jsonl)")
    if engine not in ("hf", "vllm"):
        raise UsageError(f"--engine is hf or vllm, got {engine!r}")
    ks = _parse_ks(k)
    if prompt_format not in ("auto", "chat", "text"):
        raise UsageError(f"--prompt-format is auto, chat or text, got {prompt_format!r}")
    env_kwargs = env_args(args, env_arg=env_arg) or {}
    check_env(env, {**env_kwargs, **({} if split is None else {"split": split})})
    env_system = _env_system_prompt(env, {**env_kwargs, **({} if split is None else {"split": split})})
    _check_model(model)
    from gymnasium.error import DependencyNotInstalled

    from assay.agents.evaluation import EvalConfig, evaluate
    from assay.agents.evaluation.backends import load_sampler
    from assay.agents.evaluation.plots import plot_pass_at_k, plot_rewards
    from assay.errors import AssayError

    selector = None
    if select is not None and select.startswith("judge:"):
        from assay.agents.evaluation.backends import judge_selector

        judge_url, _, judge_model = select.removeprefix("judge:").partition("#")
        selector = judge_selector(judge_url, model_name=judge_model or None, api_key=api_key)
    elif select is not None and select != "logprob":
        if not select.startswith("import:"):
            raise UsageError(f"--select takes logprob, judge:URL[#model] or import:module:fn, got {select!r}")
        import importlib

        module, _, attr = select.removeprefix("import:").partition(":")
        selector = getattr(importlib.import_module(module), attr)
    try:
        config = EvalConfig(
            env=env,
            model=model if model_name is None else f"{model}#{model_name}",
            n=n,
            ks=ks,
            limit=limit,
            seed=seed,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            batch_size=batch_size,
            split=split,
            env_kwargs=env_kwargs,
            select=select,
            prompt_format=prompt_format,
            system_prompt=system_prompt,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = out or Path("evals") / f"{_slug(env)}__{_slug(model)}.jsonl"
    if out.exists():
        done = len(_read_log(out).samples)
        _err.print(f"resuming {out}: {done} samples already logged")
    try:
        sampler = load_sampler(
            model,
            engine="vllm" if engine == "vllm" else "hf",
            model_name=model_name,
            api_key=api_key,
            chat=chat,
            top_p=top_p,
            prompt_format=prompt_format,
            system_prompt=env_system,
            system_override=system_prompt,
        )
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_err,
                transient=True,
            ) as bar:
                tid = bar.add_task("tasks", total=None)
                summary = evaluate(
                    config,
                    sampler,
                    out,
                    selector=selector,
                    progress=lambda d, t: bar.update(tid, completed=d, total=t),
                )
        else:
            summary = evaluate(config, sampler, out, selector=selector)
    except (AssayError, ValueError) as e:
        raise CliError(str(e)) from e
    summary_path = out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    Console().print(summary_table(summary, f"{env} · {model}"))
    written = [summary_path]
    if plots:
        samples = _read_log(out).samples
        try:
            written.append(plot_pass_at_k(samples, n, out.with_suffix(".pass_at_k.png")))
            written.append(plot_rewards(samples, out.with_suffix(".rewards.png")))
        except DependencyNotInstalled as e:
            _err.print(f"[yellow]no plots:[/yellow] {escape(str(e))}")
    _err.print("wrote " + ", ".join(str(p) for p in [out, *written]))


def _env_system_prompt(env_id: str, kwargs: dict[str, Any]) -> str | None:
    """The env's own system prompt (what a chat prompt starts with unless --system-prompt)."""
    from assay.registry import make

    env = make(env_id, **kwargs)
    try:
        system = getattr(env.unwrapped, "system_prompt", None)
    finally:
        env.close()
    return system if isinstance(system, str) else None


def _default_ks(n: int) -> list[int]:
    ks = {1, n}
    k = 2
    while k < n:
        ks.add(k)
        k *= 2
    return sorted(ks)


@app.command("compare")
def compare_cmd(
    logs: Annotated[list[Path], typer.Argument(help="Eval JSONL logs to put side by side.")],
    k: str = typer.Option(None, "--k", help="Comma-separated k (default: 1, powers of 2, n)."),
) -> None:
    """Compare eval runs side by side (metrics with 95% CIs, and paired differences on common tasks)."""
    from assay.agents.evaluation import mean_ci, pass_at_k, summarize, task_results

    runs = []
    for path in logs:
        if not path.is_file():
            raise BadInput(f"{path}: no such eval log")
        log = _read_log(path)
        n = int(log.config.get("n", 1))
        ks = _parse_ks(k) if k else tuple(_default_ks(n))
        runs.append((path, log, summarize(log.samples, n=n, ks=ks, config=log.config)))
    table = Table(title="assay eval compare")
    table.add_column("metric", style="bold")
    for path, log, _ in runs:
        table.add_column(f"{path.name}\n{log.config.get('model', '')}", justify="right")
    names: list[str] = []
    for _, _, s in runs:
        names += [m for m in s.metrics if m not in names]
    for name in names:
        table.add_row(name, *[_fmt(s.metrics[name]) if name in s.metrics else "-" for _, _, s in runs])
    table.add_row("env", *[str(log.config.get("env", "")) for _, log, _ in runs])
    table.add_row("tasks × n", *[f"{s.num_tasks} × {s.n}" for _, _, s in runs])
    table.add_row("errors", *[str(s.status.get("error", 0)) for _, _, s in runs])
    if len(runs) > 1:
        base_tasks, _ = task_results(runs[0][1].samples, runs[0][2].n)
        base = {t.task_id: t for t in base_tasks}
        for label, fn in (
            ("Δ pass@1 vs first (paired)", lambda t: pass_at_k(t.n, sum(t.correct), 1)),
            ("Δ reward vs first (paired)", lambda t: sum(t.rewards) / t.n),
        ):
            cells = ["-"]
            for _, log, s in runs[1:]:
                tasks, _ = task_results(log.samples, s.n)
                diffs = [fn(t) - fn(base[t.task_id]) for t in tasks if t.task_id in base]
                e = mean_ci(diffs)
                cells.append(f"{_fmt(e)} ({e.size} common)" if e.size else "no common tasks")
            table.add_row(label, *cells)
    Console().print(table)
