"""Real TRL GRPOTrainer steps with an assay rubric as its reward function (tiny local model)."""

import string

import pytest

import assay
from assay.rewards import Rubric, Term, correct, length_in_range
from assay.rewards.adapters import to_trl, to_trl_dataset
from assay.verifiers import ExactMatch, Status, Task

SEEN: list[Task] = []


def _spy(completion, task, verdict):
    SEEN.append(task)
    return None


def _tiny_policy(chars):
    """A one-layer Qwen2 and a one-token-per-character tokenizer over ``chars`` (seeded)."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

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
    return Qwen2ForCausalLM(config), tokenizer


def _grpo_args(trl, tmp_path, **kwargs):
    """CPU GRPO steps of one prompt and 4 generations each, logging every step, saving nothing."""
    return trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        **kwargs,
    )


@pytest.mark.slow
def test_grpo_trainer_calls_the_rubric_and_logs_its_terms(tmp_path):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    model, tokenizer = _tiny_policy(list("0123456789+=<>/abcdefghijklmnopqrstuvwxyz ?."))
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
    args = _grpo_args(trl, tmp_path, max_completion_length=4, max_steps=1)
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


@pytest.mark.slow
def test_grpo_trainer_on_an_env_dataset_hands_the_verifier_every_column_it_needs(tmp_path):
    pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    model, tokenizer = _tiny_policy(list(dict.fromkeys(string.printable)))
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    data = to_trl_dataset("assay/KnightsKnaves-v0", n=4)  # chat prompts, answer, meta as JSON text
    reward = to_trl.for_env("assay/KnightsKnaves-v0", data)  # checks the columns here
    spy = to_trl(Rubric([Term("spy", _spy)]), name="spy")  # sees the Task that TRL's kwargs make
    args = _grpo_args(trl, tmp_path, max_completion_length=8, max_steps=2)
    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=[reward, spy], args=args, train_dataset=data, processing_class=tokenizer
    )
    SEEN.clear()
    trainer.train()
    steps = [log for log in trainer.state.log_history if "rewards/assay/mean" in log]
    assert len(steps) == 2 and all("assay/correct" in log for log in steps)
    assert SEEN and len(SEEN) % 4 == 0  # one task per generation
    env = assay.make("assay/KnightsKnaves-v0").unwrapped
    for task in SEEN:
        assert task.id in data["task_id"][:]
        same = env.task_by_id(task.id)
        assert (task.prompt, task.answer, dict(task.meta)) == (same.prompt, same.answer, dict(same.meta))
        gold = reward.verifier(f"<answer>{task.answer}</answer>", task)
        assert gold.status is Status.CORRECT  # without meta this was ERROR, and TRL saw 0.0
