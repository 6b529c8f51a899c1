"""`data_provenance`: which data an env's tasks come from, for eval summaries and reports.

- a dataset env (`DatasetEnv`): ``{"kind": "hub", "id", "revision", "split"}``, or ``{"kind":
  "local", "files": [{"path", "sha256", "bytes"}]}``, or the shipped sample ``{"kind": "sample",
  "files": [...], "note": "shipped sample: not a benchmark"}``;
- a procedural env (no ``num_tasks``): ``{"kind": "procedural"}``, tasks generated from seeds;
- any other env: ``{"kind": "builtin"}``, tasks written into assay (or files the env names).

``label`` is one line for tables. Hashes are of the file bytes as read now, which is what the
run read unless the file changed in between (`DatasetEnv` rereads a file whose size or
modification time changed).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from assay.envs.dataset import DatasetEnv

__all__ = ["data_provenance", "file_digest"]

SAMPLE_NOTE = "shipped sample: not a benchmark"


def file_digest(path: str) -> dict[str, Any]:
    """``{"path", "sha256", "bytes"}`` of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"path": os.path.abspath(path), "sha256": h.hexdigest(), "bytes": os.path.getsize(path)}


def data_provenance(env: Any) -> dict[str, Any]:
    """Where ``env``'s tasks come from (see the module docstring), with a one-line ``label``."""
    base = getattr(env, "unwrapped", env)
    name = type(base).__name__
    if isinstance(base, DatasetEnv):
        split = getattr(base, "split", None)
        if base.data_kind == "hub":
            revision = base.revision or "default branch (unpinned)"
            return {
                "kind": "hub",
                "id": base.data_id,
                "revision": revision,
                "split": split,
                "label": f"hub {base.data_id} @ {revision}, split {split}",
            }
        files = [file_digest(f) for f in base.data_files]
        short = ", ".join(f"{os.path.basename(f['path'])} sha256:{f['sha256'][:12]}" for f in files)
        if base.data_kind == "sample":
            return {
                "kind": "sample",
                "files": files,
                "note": SAMPLE_NOTE,
                "label": f"{SAMPLE_NOTE} ({short})",
            }
        return {"kind": "local", "files": files, "label": f"local {short}"}
    if getattr(base, "num_tasks", None) is None:
        return {"kind": "procedural", "label": f"procedural: tasks generated from seeds by {name}"}
    return {"kind": "builtin", "label": f"built-in: {base.num_tasks} tasks shipped with assay ({name})"}
