"""The ``assay`` command line (typer). Subcommands are added by the subpackages that own them."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

import assay

app = typer.Typer(
    name="assay",
    help="Gymnasium text environments with verifiable rewards for RL on language models.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assay {assay.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Gymnasium text environments with verifiable rewards for RL on language models."""


@app.command("list")
def list_cmd(
    namespace: str = typer.Option("assay", help="Gymnasium namespace to list."),
) -> None:
    """List the registered environments with a one-line description each."""
    table = Table(title=f"{namespace}/* environments")
    table.add_column("id", style="bold")
    table.add_column("description")
    for env_id in assay.list_envs(namespace):
        table.add_row(env_id, assay.describe(env_id))
    Console().print(table)


from assay.cli.eval import app as _eval_app  # noqa: E402 - sub-apps register after the root commands

app.add_typer(_eval_app, name="eval")

from assay.cli.serve import app as _serve_app  # noqa: E402

app.add_typer(_serve_app, name="serve")

from assay.cli.sandbox import app as _sandbox_app  # noqa: E402
from assay.cli.verify import app as _verify_app  # noqa: E402

app.add_typer(_sandbox_app, name="sandbox")
app.add_typer(_verify_app, name="verify")

from assay.cli.posttrain import register as _register_posttrain  # noqa: E402
from assay.cli.train import app as _train_app  # noqa: E402
from assay.cli.train import model_app as _model_app  # noqa: E402

_register_posttrain(_train_app)  # assay train sft|dpo|rm|data beside grpo|ppo

app.add_typer(_train_app, name="train")
app.add_typer(_model_app, name="model")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
