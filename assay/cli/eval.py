"""``assay eval``: evaluate a model on one env or a suite (pass@k, maj@k, best@k, mean reward),
single-turn, multi-turn and tool envs, resumable, with an HTML report;
``assay eval compare A.jsonl B.jsonl ...``: runs side by side (table and HTML report);
``assay eval pairwise A.jsonl B.jsonl --judge-model URL``: win rates under a pairwise judge."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assay.cli.errors import BadInput, CliError, UsageError
from assay.cli.options import ENV_ARG_DEPRECATED, ENV_ARGS, check_env, check_env_id, env_args, input_file

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


def summary_table(summary: Any, title: str, data: str = "") -> Table:
    """A rich table of one run's metrics (``data``: where the tasks came from, one line)."""
    table = Table(title=title, caption=f"data: {escape(data)}" if data else None)
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


_ENVS = typer.Option(
    None,
    "--env",
    help="Env id, e.g. assay/MultiHopQA-v0 (repeatable: several envs in one run; assay list shows them).",
)


def _suite(env: list[str] | None, suite: Path | None, env_kwargs: dict[str, Any]) -> Any:
    from assay.agents.evaluation.suite import SuiteError, load_suite, suite_from_envs

    if suite is not None and env:
        raise UsageError("give --env or --suite, not both")
    if suite is not None:
        if env_kwargs:
            raise UsageError("--env-args does not combine with --suite: put args in the suite file")
        try:
            return load_suite(input_file(suite, option="--suite", what="suite file"))
        except SuiteError as e:
            raise BadInput(str(e)) from None
    if not env:
        raise UsageError("--env (repeatable) or --suite is required (assay list shows the env ids)")
    if len(env) > 1 and env_kwargs:
        raise UsageError("--env-args with several --env is ambiguous: use a suite file with per-env args")
    return suite_from_envs(env, env_kwargs)


def _probe(env_id: str, kwargs: dict[str, Any]) -> tuple[bool, dict[str, Any], str | None]:
    """Whether the env is multi-turn, where its data comes from, and its own system prompt (what
    a single-turn chat prompt starts with unless --system-prompt), from one build of the env."""
    from assay.envs.base import MultiTurnEnv
    from assay.envs.provenance import data_provenance
    from assay.registry import make

    try:
        env = make(env_id, **kwargs)
    except (TypeError, ValueError) as e:
        raise UsageError(f"bad env arguments for {env_id} {kwargs}: {e}") from e
    try:
        system = getattr(env.unwrapped, "system_prompt", None)
        return (
            isinstance(env.unwrapped, MultiTurnEnv),
            data_provenance(env),
            system if isinstance(system, str) else None,
        )
    finally:
        env.close()


_STOP = typer.Option(None, "--stop", help="A stop string (repeatable).")


@app.callback()
def eval_cmd(
    ctx: typer.Context,
    env: list[str] | None = _ENVS,
    suite: Annotated[
        Path | None,
        typer.Option(help="A suite file (YAML or JSON): envs with per-env args, limits, n and weights."),
    ] = None,
    model: str | None = typer.Option(
        None,
        "--model",
        help="The model to sample from: a local model directory, an OpenAI-compatible server URL, "
        "or import:module:name.",
    ),
    engine: str = typer.Option("hf", help="For a local directory: hf (transformers) or vllm."),
    model_name: str = typer.Option(None, help="Served model name (URL models; default: the server's first)."),
    api_key: str = typer.Option(None, envvar="OPENAI_API_KEY", help="Bearer token for a URL model."),
    chat: bool = typer.Option(
        False, help="URL models, single-turn envs: use /v1/chat/completions (multi-turn envs always do)."
    ),
    prompt_format: str = typer.Option(
        "auto",
        help="Local models: chat (the tokenizer's chat template), text (plain prompts, base models) "
        "or auto (chat when the tokenizer has a template).",
    ),
    split: str = typer.Option(None, help="Dataset split, passed to the env as split=."),
    args: list[str] | None = ENV_ARGS,
    env_arg: list[str] | None = ENV_ARG_DEPRECATED,
    n: int = typer.Option(None, "-n", help="Samples (episodes) per task [default: 16, or the suite's]."),
    k: str = typer.Option("1", "--k", help="Comma-separated k for pass@k, maj@k, best@k."),
    limit: int = typer.Option(None, help="At most this many tasks (required for procedural envs)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    top_p: float = typer.Option(None, help="Nucleus sampling (URL models only)."),
    max_new_tokens: int = typer.Option(512, help="Tokens per completion (per turn in multi-turn envs)."),
    stop: list[str] | None = _STOP,
    system_prompt: str = typer.Option(
        None,
        help="The system message, in place of each env's own (single-turn: the chat template, "
        "or --chat for URL models; multi-turn: given to the env).",
    ),
    concurrency: int = typer.Option(8, help="Episodes (multi-turn) or requests (URL models) in flight."),
    timeout: float = typer.Option(120.0, help="Seconds per model request attempt."),
    max_retries: int = typer.Option(2, help="Retries of a failed model request."),
    batch_size: int = typer.Option(8, help="Tasks per sampler call (single-turn envs)."),
    select: str = typer.Option(
        None,
        help="Best-of-N selector: logprob, judge:URL[#model] (an LLM judge on an OpenAI-compatible "
        "server; it never sees the reference), or import:module:fn with fn(completion, task) -> float.",
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            help="One env: the JSONL log (resumed when it exists; default evals/<env>__<model>.jsonl). "
            "Several envs: a folder with one log per env (default evals/<suite>__<model>/)."
        ),
    ] = None,
    plots: bool = typer.Option(True, help="Write the pass@k curve and reward histogram PNGs."),
    report: bool = typer.Option(True, help="Write the self-contained HTML report."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run MODEL on each env's tasks with N samples (episodes) each and report pass@k, maj@k,
    best@k and reward, per env and combined.

    Single-turn envs are sampled in batches; multi-turn and tool envs are played episode by
    episode (tools offered natively to chat endpoints), every episode logged whole. Every
    record is appended to the JSONL log as it is finished; rerun the same command to resume an
    interrupted run (no record is duplicated or lost).
    """
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        raise UsageError("--model is required (or use: assay eval compare A.jsonl B.jsonl)")
    if engine not in ("hf", "vllm"):
        raise UsageError(f"--engine is hf or vllm, got {engine!r}")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {concurrency}")
    ks = _parse_ks(k)
    if prompt_format not in ("auto", "chat", "text"):
        raise UsageError(f"--prompt-format is auto, chat or text, got {prompt_format!r}")
    env_kwargs = env_args(args, env_arg=env_arg) or {}
    plan = _suite(env, suite, env_kwargs)
    for entry in plan.entries:
        check_env_id(entry.id)
    _check_model(model)
    from gymnasium.error import DependencyNotInstalled

    from assay.agents.evaluation import EvalConfig, evaluate
    from assay.agents.evaluation.backends import load_policy
    from assay.agents.evaluation.episodes import evaluate_episodes
    from assay.agents.evaluation.plots import plot_pass_at_k, plot_rewards
    from assay.agents.evaluation.report import RunView, write_report
    from assay.agents.evaluation.suite import combine
    from assay.errors import AssayError

    selector = _selector(select, api_key)
    labels = plan.labels()
    several = len(plan.entries) > 1 or suite is not None
    if several:
        folder = out or Path("evals") / f"{_slug(plan.name or 'suite')}__{_slug(model)}"
        if folder.suffix == ".jsonl":
            raise UsageError("several envs write one log each: --out takes a folder here")
        logs = [folder / f"{_slug(label)}.jsonl" for label in labels]
        summary_path, report_path = folder / "summary.json", folder / "report.html"
    else:
        log = out or Path("evals") / f"{_slug(plan.entries[0].id)}__{_slug(model)}.jsonl"
        logs = [log]
        summary_path, report_path = log.with_suffix(".summary.json"), log.with_suffix(".html")
    stops = tuple(stop or ())
    jobs = []
    for entry, label, path in zip(plan.entries, labels, logs, strict=True):
        kwargs = {
            **dict(entry.args),
            **({} if (entry.split or split) is None else {"split": entry.split or split}),
        }
        check_env(entry.id, kwargs)
        multi, provenance, env_system = _probe(entry.id, kwargs)
        try:
            config = EvalConfig(
                env=entry.id,
                model=model if model_name is None else f"{model}#{model_name}",
                n=entry.n or n or plan.n or 16,
                ks=tuple(x for x in ks if x <= (entry.n or n or plan.n or 16)) or (1,),
                limit=entry.limit or limit or plan.limit,
                seed=seed,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                batch_size=batch_size,
                split=entry.split or split,
                env_kwargs=dict(entry.args),
                select=select if not multi else None,
                stop=stops,
                prompt_format=prompt_format,
                system_prompt=system_prompt,
            )
        except ValueError as e:
            raise UsageError(f"{label}: {e}") from None
        jobs.append((entry, label, path, multi, provenance, env_system, config))
    samplers: dict[str | None, Any] = {}  # by the env's system prompt: one model load, rewrapped
    policy_args = {
        "engine": "vllm" if engine == "vllm" else "hf",
        "model_name": model_name,
        "api_key": api_key,
        "timeout_s": timeout,
        "max_retries": max_retries,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "stop": stops,
        "prompt_format": prompt_format,
    }
    results = []
    for entry, label, path, multi, provenance, env_system, config in jobs:
        if path.exists():
            _err.print(f"resuming {path}: {len(_read_log(path).samples)} records already logged")
        _err.print(f"{label}: data: {escape(provenance['label'])}")
        try:
            if multi:
                policy = load_policy(model, **policy_args)  # type: ignore[arg-type]
                run = functools.partial(
                    evaluate_episodes,
                    config,
                    policy,
                    path,
                    concurrency=concurrency,
                    meta={"data": provenance},
                )
            else:
                sampler = samplers.get(env_system)
                if sampler is None:
                    sampler = samplers[env_system] = _single_turn_sampler(
                        samplers,
                        env_system,
                        model,
                        engine="vllm" if engine == "vllm" else "hf",
                        model_name=model_name,
                        api_key=api_key,
                        chat=chat,
                        top_p=top_p,
                        stop=stops,
                        prompt_format=prompt_format,
                        system_prompt=env_system,
                        system_override=system_prompt,
                        timeout_s=timeout,
                        concurrency=concurrency,
                    )
                run = functools.partial(
                    evaluate, config, sampler, path, selector=selector, meta={"data": provenance}
                )
            summary = _with_progress(run, label, progress)
        except (AssayError, ValueError) as e:
            raise CliError(f"{label}: {e}") from e
        Console().print(summary_table(summary, f"{label} · {model}", provenance["label"]))
        results.append((entry, label, path, summary, provenance))
    combined = None
    if len(results) > 1:
        combined = combine(
            [(e.weight, _read_log(p).samples, s.n, ks, s.reward_bounds) for e, _, p, s, _ in results]
        )
        Console().print(_combined_table(combined, results, model))
    payload: dict[str, Any] = {
        "envs": {
            label: {**s.to_dict(), "data": prov, "weight": e.weight, "log": str(p)}
            for e, label, p, s, prov in results
        }
    }
    if combined is not None:
        payload["combined"] = {m: est._asdict() for m, est in combined.items()}
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    if not several:
        payload = {**results[0][3].to_dict(), "data": results[0][4]}
    summary_path.write_text(json.dumps(payload, indent=2) + "\n")
    written = [summary_path]
    if plots:
        for _, _, p, s, _ in results:
            samples = _read_log(p).samples
            try:
                written.append(plot_pass_at_k(samples, s.n, p.with_suffix(".pass_at_k.png")))
                written.append(plot_rewards(samples, p.with_suffix(".rewards.png")))
            except DependencyNotInstalled as e:
                _err.print(f"[yellow]no plots:[/yellow] {escape(str(e))}")
                break
    if report:
        views = [
            RunView.from_log(_read_log(p), label=label, summary=s, weight=e.weight, source=str(p))
            for e, label, p, s, _ in results
        ]
        written.append(write_report(views, report_path, title=f"assay eval · {model}", combined=combined))
    _err.print("wrote " + ", ".join(str(p) for p in [*logs, *written]))


def _selector(select: str | None, api_key: str | None) -> Any:
    if select is None or select == "logprob":
        return None
    if select.startswith("judge:"):
        from assay.agents.evaluation.backends import judge_selector

        judge_url, _, judge_model = select.removeprefix("judge:").partition("#")
        return judge_selector(judge_url, model_name=judge_model or None, api_key=api_key)
    if not select.startswith("import:"):
        raise UsageError(f"--select takes logprob, judge:URL[#model] or import:module:fn, got {select!r}")
    import importlib

    module, _, attr = select.removeprefix("import:").partition(":")
    return getattr(importlib.import_module(module), attr)


def _with_progress(run: Any, label: str, show: bool) -> Any:
    if not show:
        return run(progress=None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    ) as bar:
        tid = bar.add_task(escape(label), total=None)
        return run(progress=lambda d, t: bar.update(tid, completed=d, total=t))


def _combined_table(combined: Any, results: Any, model: str) -> Table:
    table = Table(title=f"combined · {model} (weighted mean over envs)")
    table.add_column("metric", style="bold")
    for _, label, _, _, _ in results:
        table.add_column(label, justify="right")
    table.add_column("combined [95% CI]", justify="right")
    for name, est in combined.items():
        cells = [_fmt(s.metrics[name]) if name in s.metrics else "-" for _, _, _, s, _ in results]
        table.add_row(name, *cells, _fmt(est))
    table.add_row("weight", *[f"{e.weight:g}" for e, _, _, _, _ in results], "")
    table.add_row("tasks × n", *[f"{s.num_tasks} × {s.n}" for _, _, _, s, _ in results], "")
    return table


def _single_turn_sampler(
    samplers: dict[str | None, Any], env_system: str | None, model: str, **kw: Any
) -> Any:
    """The single-turn sampler for an env whose own system prompt is ``env_system``: a local
    model already loaded for another env is rewrapped (`ChatSampler` takes the system prompt),
    never loaded twice; anything else is built by `load_sampler`."""
    from assay.agents.chat import ChatSampler
    from assay.agents.evaluation.backends import load_sampler

    loaded = next((s for s in samplers.values() if isinstance(s, ChatSampler)), None)
    if loaded is not None:
        return ChatSampler(loaded.sampler, loaded.chat, system_prompt=env_system, tools=loaded.tools)
    return load_sampler(model, **kw)


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
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write the HTML report of all runs here (default: compare.html beside the first log)."
        ),
    ] = None,
) -> None:
    """Compare eval runs side by side (metrics with 95% CIs, and paired differences on common
    tasks); writes one HTML report of all of them."""
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
    from assay.agents.evaluation.report import RunView, write_report

    views = [
        RunView.from_log(log, label=f"{path.stem}", summary=s, source=str(path)) for path, log, s in runs
    ]
    html = write_report(views, report or logs[0].parent / "compare.html", title="assay eval compare")
    _err.print(f"wrote {html}")


@app.command("pairwise")
def pairwise_cmd(
    log_a: Annotated[Path, typer.Argument(help="Run A's eval log.")],
    log_b: Annotated[Path, typer.Argument(help="Run B's eval log.")],
    judge_model: str = typer.Option(
        ..., "--judge-model", help="The judge: an OpenAI-compatible server URL, optionally #model-name."
    ),
    api_key: str = typer.Option(None, envvar="OPENAI_API_KEY", help="Bearer token for the judge."),
    criteria: str = typer.Option(None, help="What 'better' means (default: correctness, then clarity)."),
    out: Annotated[Path | None, typer.Option(help="Write every comparison here (JSON).")] = None,
) -> None:
    """Win rate of run A over run B on their common tasks, judged pairwise in both orders."""
    from assay.agents.evaluation.pairwise import pairwise_win_rate
    from assay.errors import AssayError
    from assay.rewards.judge import PairwiseJudge
    from assay.verifiers.sampler import OpenAISampler, served_model

    runs = []
    for path in (log_a, log_b):
        if not path.is_file():
            raise BadInput(f"{path}: no such eval log")
        runs.append(_read_log(path))
    url, _, name = judge_model.partition("#")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--judge-model is an http(s) URL (optionally #model), got {judge_model!r}")
    try:
        sampler = OpenAISampler(
            url, name or served_model(url, api_key, timeout_s=30.0), api_key=api_key, logprobs=False
        )
        judge = PairwiseJudge(sampler) if criteria is None else PairwiseJudge(sampler, criteria=criteria)
        result = pairwise_win_rate(runs[0].samples, runs[1].samples, judge)
    except AssayError as e:
        raise CliError(str(e)) from e
    if result.tasks == 0:
        raise BadInput(f"{log_a} and {log_b} share no task")
    table = Table(title=f"pairwise · {log_a.name} vs {log_b.name} · judge {judge_model}")
    table.add_column("", style="bold")
    table.add_column("value", justify="right")
    table.add_row("win rate of A (ties 1/2)", _fmt(result.win_rate_a))
    for key in ("a", "b", "tie", "inconsistent", "undecided"):
        table.add_row({"a": "A wins", "b": "B wins"}.get(key, key), str(result.counts[key]))
    table.add_row("tasks", str(result.tasks))
    Console().print(table)
    if out is not None:
        payload = {"win_rate_a": result.win_rate_a._asdict(), "counts": result.counts, "pairs": result.pairs}
        out.write_text(json.dumps(payload, indent=2) + "\n")
