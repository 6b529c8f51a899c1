"""A real TRL GRPOTrainer step with an assay rubric as its reward function (tiny local model)."""

import pytest

from assay.rewards import Rubric, Term, correct, length_in_range
from assay.rewards.adapters import to_trl
from assay.verifiers import ExactMatch, Task

SEEN: list[Task] = []


def _spy(completion, task, verdict):
    SEEN.append(task)
    return None


@pytest.mark.slow
def test_grpo_trainer_calls_the_rubric_and_logs_its_terms(tmp_path):
    torch = pytest.importorskip("torch")
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    chars = list("0123456789+=<>/abcdefghijklmnopqrstuvwxyz ?.")
    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        vocab_size=len(vocab),
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    model = Qwen2ForCausalLM(config)
    answers = {"a": "2", "b": "4", "c": "4", "d": "3"}
    data = datasets.Dataset.from_dict(
        {
            "prompt": ["1+1=", "2+2=", "3+1=", "1+2="],
            "answer": list(answers.values()),
            "task_id": list(answers),
        }
    )
    rubric = Rubric([Term("correct", correct), length_in_range(1, 4).weighted(0.1), Term("spy", _spy)])
    reward = to_trl(rubric, ExactMatch(extract=lambda s: s.strip()))
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=4,
        max_steps=1,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
    )
    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=[reward], args=args, train_dataset=data, processing_class=tokenizer
    )
    SEEN.clear()
    trainer.train()
    logs = trainer.state.log_history[0]
    assert "rewards/assay/mean" in logs  # TRL named the reward column after the adapter
    assert {"assay/correct", "assay/length"} <= logs.keys()  # per-term means through log_metric
    assert logs["rewards/assay/mean"] == pytest.approx(
        logs["assay/correct"] + 0.1 * logs["assay/length"], abs=1e-6
    )
    assert len(SEEN) == 4 and all(answers[t.id] == t.answer for t in SEEN)
