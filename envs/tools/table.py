"""The ``lookup`` tool: read a value from a small table (a JSON list of rows, or a CSV file)."""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.envs.tools.tool import Tool

__all__ = ["Table", "lookup_tool"]


class Table:
    """Rows keyed by one column (matched case-insensitively)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], key: str, *, name: str = "table") -> None:
        if not rows:
            raise ValueError("a table needs rows")
        self.name, self.key = name, key
        self.columns = list(rows[0])
        if key not in self.columns:
            raise ValueError(f"key column {key!r} is not among {self.columns}")
        self.rows = {str(r[key]).casefold(): dict(r) for r in rows}
        if len(self.rows) != len(rows):
            raise ValueError(f"values of the key column {key!r} must be unique")

    @classmethod
    def from_file(cls, path: str | Path, key: str, *, name: str | None = None) -> Table:
        """A ``.json`` file holding a list of objects, or a ``.csv`` file with a header row."""
        p = Path(path)
        if p.suffix == ".csv":
            with p.open(encoding="utf-8", newline="") as f:
                rows: list[dict[str, Any]] = list(csv.DictReader(f))
        else:
            rows = json.loads(p.read_text(encoding="utf-8"))
        return cls(rows, key, name=name or p.stem)

    def get(self, item: str, column: str = "") -> Any:
        """The value at (``item``, ``column``), or the whole row when ``column`` is empty."""
        row = self.rows.get(item.strip().casefold())
        if row is None:
            close = difflib.get_close_matches(item.casefold(), list(self.rows), n=3)
            hint = f"; did you mean {', '.join(self.rows[c][self.key] for c in close)}?" if close else ""
            raise KeyError(f"no row {item[:60]!r} in {self.name}{hint}")
        if not column:
            return row
        if column not in row:
            raise KeyError(f"no column {column[:60]!r}; the columns are: {', '.join(self.columns)}")
        return row[column]


def lookup_tool(table: Table) -> Tool:
    """``lookup(item, column="")`` over ``table`` (in-process: a dict lookup)."""

    def lookup(item: str, column: str = "") -> Any:
        return table.get(item, column)

    description = (
        f"Look up a row of the {table.name} table by its {table.key!r} (case-insensitive). "
        f"Columns: {', '.join(table.columns)}. Leave column empty to get the whole row."
    )
    lookup.__doc__ = f"""{description}

    Args:
        item: The {table.key} of the row.
        column: The column to read (empty: every column).
    """
    return Tool.from_function(lookup, isolation="inline")
