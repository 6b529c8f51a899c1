"""``assay model init-tiny``: build local models (no hub needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from assay.cli.errors import UsageError

__all__ = ["app"]

app = typer.Typer(help="Build local models (no hub needed).", no_args_is_help=True)


@app.command("init-tiny")
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
    """Write a tiny randomly initialised Qwen2 model and a char-level tokenizer to PATH.

    PATH is then a model directory for ``--model`` in ``assay train`` and ``assay eval``.
    """
    from assay.agents.tiny import ALPHABET, ARITHMETIC_ALPHABET, init_tiny

    chars = {"printable": ALPHABET, "arithmetic": ARITHMETIC_ALPHABET}.get(alphabet, alphabet)
    try:
        out = init_tiny(path, hidden_size=hidden_size, num_layers=layers, alphabet=chars, seed=seed)
    except ValueError as e:
        raise UsageError(str(e)) from e
    from safetensors.torch import load_file

    params = sum(t.numel() for t in load_file(str(out / "model.safetensors")).values())
    Console().print(f"wrote {out} ({params:,} parameters, {len(chars) + 3} tokens)")
