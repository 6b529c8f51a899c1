"""A tiny model shared by the preference tests (built once per test module, no hub)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ALPHABET = "0123456789 +=<>/abcdefghijklmnopqrstuvwxyz?"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from assay.agents.tiny import init_tiny

    return init_tiny(
        tmp_path_factory.mktemp("tiny") / "model",
        hidden_size=32,
        intermediate_size=64,
        alphabet=ALPHABET,
        seed=0,
    )


@pytest.fixture
def tiny(tiny_dir):
    """A fresh ``(model, tokenizer)`` from the module's tiny model directory."""
    import torch

    from assay.agents.policy import load_policy

    torch.set_num_threads(1)
    return load_policy(tiny_dir)
