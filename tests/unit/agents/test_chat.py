"""Chat rendering: prompts through the template, token-exact multi-turn tool episodes, GRPO on them."""

import json

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import assay  # noqa: E402
from assay.agents.chat import ChatFormat, chat_format, render_ids, resolve_prompt_format  # noqa: E402
from assay.agents.policy import load_policy  # noqa: E402
from assay.agents.rollout import collect_episodes  # noqa: E402
from assay.agents.tiny import build_char_tokenizer  # noqa: E402
from assay.envs.tools.calculator import calculate  # noqa: E402
from assay.envs.tools.env import ToolEnv  # noqa: E402
from assay.envs.tools.tool import Tool  # noqa: E402
from assay.verifiers.base import Task  # noqa: E402
from assay.verifiers.extract import tagged  # noqa: E402
from assay.verifiers.match import NumberMatch  # noqa: E402
from assay.verifiers.sampler import Sample  # noqa: E402

CALC_ID = "assay-test/ChatCalculator-v0"


class CalcEnv(ToolEnv):
    """Multiply two numbers with a calculator tool (JSON calls), answer in <answer> tags."""

    def __init__(self, **kwargs):
        tool = Tool.from_function(calculate, name="calculator", isolation="inline")
        super().__init__([tool], NumberMatch(extract=tagged("answer")), max_turns=3, **kwargs)

    def task_at(self, index):
        rng = np.random.default_rng(index)
        a, b = (int(x) for x in rng.integers(10, 99, size=2))
        return Task(
            id=f"calc/{index}",
            prompt=f"{a}*{b}?",
            answer=str(a * b),
            meta={"gold_plan": [[["calculator", {"expression": f"{a}*{b}"}]]]},
        )


@pytest.fixture(scope="module")
def calc_env_id():
    gym.register(CALC_ID, entry_point=CalcEnv, kwargs={"system_prompt": "Use the tools."})
    yield CALC_ID
    del gym.registry[CALC_ID]


def _call(expression: str) -> str:
    call = {"function": {"name": "calculator", "arguments": json.dumps({"expression": expression})}}
    return json.dumps({"tool_calls": [call]})


class CalcScript:
    """Turn 1 calls the calculator on the prompt's product; turn 2 answers with the tool's result."""

    accepts_token_ids = True

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls = []

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        out = []
        for p in prompts:
            self.calls.append(list(p))
            text = self.tokenizer.decode(list(p))
            if "<|tool|>" in text:
                result = text.rsplit("<|tool|>\n", 1)[1].split("\n", 1)[0]
                reply = f"<answer>{result}</answer>"
            else:
                expr = text.rsplit("<|user|>\n", 1)[1].split("?", 1)[0]
                reply = _call(expr)
            ids = [*self.tokenizer(reply, add_special_tokens=False)["input_ids"], self.tokenizer.eos_token_id]
            out.append([Sample(reply, ids, [-0.5] * len(ids), "stop") for _ in range(n)])
        return out


# -- formats and messages --------------------------------------------------------------------


def test_auto_is_chat_with_a_template_and_text_without():
    assert resolve_prompt_format(build_char_tokenizer(), "auto") == "chat"
    assert resolve_prompt_format(build_char_tokenizer("0123456789+="), "auto") == "text"
    assert chat_format(build_char_tokenizer("0123456789+="), "auto") is None
    with pytest.raises(ValueError, match="no"):
        resolve_prompt_format(build_char_tokenizer("0123456789+="), "chat")
    with pytest.raises(ValueError, match="prompt_format"):
        resolve_prompt_format(build_char_tokenizer(), "jinja")


def test_messages_take_the_config_system_prompt_over_the_envs():
    chat = ChatFormat(build_char_tokenizer())
    env_msgs = [{"role": "system", "content": "env"}, {"role": "user", "content": "q"}]
    assert chat.messages("q") == [{"role": "user", "content": "q"}]
    assert chat.messages("q", system_prompt="s")[0] == {"role": "system", "content": "s"}
    assert chat.messages(env_msgs) == env_msgs
    override = ChatFormat(build_char_tokenizer(), system_prompt="cfg")
    assert override.messages(env_msgs) == [{"role": "system", "content": "cfg"}, env_msgs[1]]
    assert override.messages({"messages": env_msgs, "tools": []})[0]["content"] == "cfg"
    assert ChatFormat(build_char_tokenizer(), system_prompt="").messages(env_msgs) == [env_msgs[1]]


def test_a_prompt_that_is_not_text_or_messages_is_refused_not_repr():
    with pytest.raises(TypeError, match="chat prompt"):
        ChatFormat(build_char_tokenizer()).messages(("not", "messages"))


def test_prompt_ids_are_the_template_with_a_generation_prompt_and_tools():
    tok = build_char_tokenizer()
    chat = ChatFormat(tok)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    ids = chat.prompt_ids([{"role": "user", "content": "hi"}], tools=tools)
    assert tok.decode(ids) == (
        '<|system|>\nTools:\n{"type": "function", "function": {"name": "f", "parameters": {}}}\n<|end|>\n'
        "<|user|>\nhi\n<|end|>\n<|assistant|>\n"
    )


def test_turn_ids_strip_an_eos_that_is_the_templates_turn_end():
    """ChatML-style: the sampled <|im_end|> is the template's own turn end, so only the newline
    after it and the tool turn are appended (the tiny template's <eos> is not: see below)."""
    tok = build_char_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    chat = ChatFormat(tok)
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    sampled = [*tok("a", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    new = [{"role": "tool", "content": "42"}]
    got = tok.decode(chat.turn_ids(history, new, sampled))
    assert got == "\n<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n"
    cut = tok.decode(chat.turn_ids(history, new, sampled[:-1]))  # hit the token budget: no EOS
    assert cut == "<|im_end|>\n<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n"
    whole = render_ids(tok, [*history, *new], add_generation_prompt=True)
    prompt = chat.prompt_ids(history[:1])
    assert prompt + sampled + chat.turn_ids(history, new, sampled) == whole


# -- rollouts --------------------------------------------------------------------------------


def test_text_rollouts_refuse_message_observations(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = gym.vector.SyncVectorEnv(
        [lambda: assay.envs.ChatObservation(assay.make("assay/Arithmetic-v0"))],
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
    )
    with pytest.raises(TypeError, match="chat=ChatFormat"):
        collect_episodes(envs, token_script(tok, lambda p, i: "1"), tok)
    envs.close()


def test_multi_turn_tool_episode_is_the_template_plus_sampled_ids(tiny_dir, calc_env_id):
    """The incremental ids against the whole conversation rendered at once: they differ exactly
    at the sampled <eos> closing each assistant turn (the tiny template ends a turn with
    "\\n<|end|>\\n", not <eos>), and the episode ends at the last sampled token where the whole
    render also closes that turn. Drop the <eos>s and the episode is a prefix of the render whose
    rest is that close. The trainer trains on the episode's ids (the sampled ones)."""
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec(calc_env_id, 2, vectorization_mode="sync")
    sampler = CalcScript(tok)
    eps = collect_episodes(
        envs, sampler, tok, seeds=[3, 3], group_size=2, max_new_tokens=200, chat=ChatFormat(tok)
    )
    envs.close()
    ep = eps[0]
    assert ep.terminated and ep.status == "correct" and ep.turns == 2 and ep.reward == 1.0
    assert [m["role"] for m in ep.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert ep.tools is not None and ep.tools[0]["function"]["name"] == "calculator"
    seq = ep.prompt_ids + ep.ids
    # the second turn was sampled on exactly the ids so far (never re-tokenised)
    assert sampler.calls[-1] == seq[: len(seq) - ep.action_tokens[1]]
    whole = render_ids(tok, ep.messages, tools=ep.tools)
    eos = tok.eos_token_id
    assert seq != whole
    diff = [i for i, t in enumerate(seq) if t == eos]
    assert len(diff) == 2  # one per assistant turn
    without_eos = [t for t in seq if t != eos]
    assert whole[: len(without_eos)] == without_eos
    assert tok.decode(whole[len(without_eos) :]) == "\n<|end|>\n"
    # every sampled token is in the loss, every template/tool token is not
    sampled_positions = [len(ep.prompt_ids) + j for j, m in enumerate(ep.mask) if m]
    first = [seq[p] for p in sampled_positions]
    assert first == [t for i, t in enumerate(sampler_ids(tok, ep.actions))]
    tool_text = tok.decode([t for t, m in zip(ep.ids, ep.mask, strict=True) if not m])
    assert tool_text.startswith("\n<|end|>\n<|tool|>\n") and tool_text.endswith("<|assistant|>\n")


def sampler_ids(tok, actions):
    return [t for a in actions for t in [*tok(a, add_special_tokens=False)["input_ids"], tok.eos_token_id]]


# -- training on the sampled ids ---------------------------------------------------------------


class RecordingCalcPolicy:
    """The tiny policy on a calculator env: turn 1 is a JSON tool call (half the group a call that
    fails, so rewards vary), scored by the policy itself; later turns are sampled by `HFSampler`.
    Every (prompt ids, sample) pair is recorded."""

    accepts_token_ids = True

    def __init__(self, model, tokenizer):
        from assay.agents.sampler import HFSampler

        self.model, self.tokenizer = model, tokenizer
        self.inner = HFSampler(model, tokenizer)
        self.record = []

    def _forced(self, prompt, text, temperature):
        from assay.agents.policy import token_logprobs

        ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.tokenizer.eos_token_id]
        seq = torch.tensor([[*prompt, *ids]])
        with torch.no_grad():
            lp = token_logprobs(self.model, seq, torch.ones_like(seq), temperature=temperature)[0]
        return Sample(text, ids, [float(x) for x in lp[len(prompt) - 1 :]], "stop")

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        out = []
        for p in prompts:
            text = self.tokenizer.decode(list(p))
            if "<|tool|>" in text:
                group = self.inner.sample(
                    [p], n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
                )[0]
            else:
                expr = text.rsplit("<|user|>\n", 1)[1].split("?", 1)[0]
                group = [
                    self._forced(list(p), _call(expr if j % 2 else "1/0"), temperature) for j in range(n)
                ]
            self.record += [(list(p), s) for s in group]
            out.append(group)
        return out


def test_grpo_trains_on_exactly_the_sampled_ids_of_chat_tool_episodes(tiny_dir, tmp_path, monkeypatch):
    from assay.agents import grpo as grpo_module
    from assay.agents.config import GRPOConfig
    from assay.agents.grpo import GRPO

    env_id = "assay-test/ChatCalculatorPenalty-v0"
    gym.register(
        env_id, entry_point=CalcEnv, kwargs={"system_prompt": "Use the tools.", "tool_error_penalty": 0.5}
    )
    batches = []
    real_to_batch = grpo_module.to_batch

    def spy(episodes, pad_id, **kw):
        batch = real_to_batch(episodes, pad_id, **kw)
        batches.append((list(episodes), batch))
        return batch

    monkeypatch.setattr(grpo_module, "to_batch", spy)
    try:
        model, tok = load_policy(tiny_dir)
        cfg = GRPOConfig(
            model=str(tiny_dir), env=env_id, out_dir=str(tmp_path / "run"), num_prompts=2, group_size=4,
            max_new_tokens=12, max_turns=3, steps=3, prompt_format="chat", log_kl=False, lr=1e-3,
            progress=False, plot=False, num_threads=1,
        )  # fmt: skip
        policy = RecordingCalcPolicy(model, tok)
        trainer = GRPO(cfg, model=model, tokenizer=tok, sampler=policy)
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        rows = [trainer.step() for _ in range(cfg.steps)]
        trainer.export(tmp_path / "out")
        trainer.close()
    finally:
        del gym.registry[env_id]
    assert any(r["skipped"] == 0.0 for r in rows) and batches
    assert any(not torch.equal(before[k], v) for k, v in model.named_parameters())
    recorded = {}
    for prompt, s in policy.record:
        recorded.setdefault(tuple(prompt), []).append((s.token_ids, s.logprobs))
    multi_turn = 0
    for episodes, batch in batches:
        for row, ep in enumerate(episodes):
            n = int(batch.attention_mask[row].sum())
            seq = batch.input_ids[row, :n].tolist()
            assert seq == ep.prompt_ids + ep.ids  # the batch is the rollout's own ids
            prompt_text = tok.decode(ep.prompt_ids)
            assert (
                prompt_text.startswith("<|system|>\nUse the tools.\nTools:\n")
                and '"name": "calculator"' in prompt_text
            )
            assert prompt_text.endswith(
                "<|user|>\n" + ep.messages[1]["content"] + "\n<|end|>\n<|assistant|>\n"
            )
            # each stretch of loss tokens is one sample, taken on exactly the context before it
            mask = batch.loss_mask[row].tolist()  # entry j is about target seq[j + 1]
            j, turns = 0, 0
            while j < len(mask):
                if not mask[j]:
                    j += 1
                    continue
                k = j
                while k < len(mask) and mask[k]:
                    k += 1
                context, ids = seq[: j + 1], seq[j + 1 : k + 1]
                lps = batch.sampler_logprobs[row, j:k].tolist()
                match = [lp for t, lp in recorded[tuple(context)] if t == ids]
                assert match and lps == pytest.approx(match[0], abs=1e-6)
                turns, j = turns + 1, k
            assert turns == ep.turns
            multi_turn += ep.turns > 1
    assert multi_turn > 0  # tool results came back through the template, masked, and were trained past
    assert (tmp_path / "out" / "tokenizer.json").is_file()


# -- evaluation ------------------------------------------------------------------------------


class IdsRecorder:
    accepts_token_ids = True

    def __init__(self):
        self.prompts = []

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        self.prompts += [list(p) for p in prompts]
        return [[Sample("1", [5], [-1.0], "length")] * n for _ in prompts]


def test_chat_sampler_renders_task_prompts_with_the_envs_system_prompt():
    from assay.agents.chat import ChatSampler

    tok = build_char_tokenizer()
    inner = IdsRecorder()
    ChatSampler(inner, ChatFormat(tok), system_prompt="Be exact.").sample(["2+2="], n=2)
    assert (
        tok.decode(inner.prompts[0])
        == "<|system|>\nBe exact.\n<|end|>\n<|user|>\n2+2=\n<|end|>\n<|assistant|>\n"
    )
    ChatSampler(inner, ChatFormat(tok, system_prompt="Mine."), system_prompt="Be exact.").sample(["q"])
    assert tok.decode(inner.prompts[1]).startswith("<|system|>\nMine.\n<|end|>\n<|user|>\nq\n")
    ChatSampler(inner, ChatFormat(tok)).sample([[7, 8]])  # ids pass through
    assert inner.prompts[2] == [7, 8]
    with pytest.raises(TypeError, match="token-id"):
        ChatSampler(object(), ChatFormat(tok))


def test_load_sampler_uses_the_template_unless_text_is_asked_for(tiny_dir):
    from assay.agents.chat import ChatSampler
    from assay.agents.evaluation.backends import load_sampler
    from assay.agents.sampler import HFSampler

    chat = load_sampler(str(tiny_dir), system_prompt="env", system_override="cli")
    assert isinstance(chat, ChatSampler) and chat.chat.system_prompt == "cli" and chat.system_prompt == "env"
    assert isinstance(load_sampler(str(tiny_dir), prompt_format="text"), HFSampler)
    with pytest.raises(ValueError, match="chat format"):
        load_sampler(str(tiny_dir), prompt_format="text", system_override="cli")


def test_openai_chat_eval_sends_the_envs_system_prompt():
    from assay.agents.evaluation.backends import load_sampler
    from assay.testing import OpenAIStub

    with OpenAIStub("4") as stub:
        sampler = load_sampler(stub.url, model_name="m", chat=True, system_prompt="Be exact.")
        sampler.sample(["2+2="], n=1, max_new_tokens=4, temperature=0.0, seed=0)
        override = load_sampler(
            stub.url, model_name="m", chat=True, system_prompt="env", system_override="cli"
        )
        override.sample(["2+2="], n=1, max_new_tokens=4, temperature=0.0, seed=0)
        got = [r["messages"] for r in stub.requests]
    assert got[0] == [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "2+2="}]
    assert got[1][0] == {"role": "system", "content": "cli"}
    with pytest.raises(ValueError, match="--chat"):
        load_sampler("http://127.0.0.1:9", model_name="m", system_override="cli")


def test_assay_eval_records_the_system_prompt_and_refuses_it_without_chat(tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from assay.agents.evaluation.records import read_log
    from assay.cli import app

    out = tmp_path / "log.jsonl"
    args = ["eval", "--env", "assay/Arithmetic-v0", "--model", str(tiny_dir), "--limit", "2", "-n", "2",
            "--max-new-tokens", "3", "--out", str(out), "--no-plots", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--system-prompt", "Answer with a number."])
    assert result.exit_code == 0, result.stderr
    config = read_log(out).config
    assert config["system_prompt"] == "Answer with a number." and config["prompt_format"] == "auto"
    text = CliRunner().invoke(app, [*args[:-4], "--out", str(tmp_path / "t.jsonl"), "--prompt-format", "text",
                                    "--system-prompt", "x", "--no-plots", "--no-progress"])  # fmt: skip
    assert text.exit_code != 0 and "chat format" in text.stderr


# -- preference data -------------------------------------------------------------------------


def test_sft_records_are_chat_prompts_with_the_loss_on_the_reply_only(tiny_dir, tmp_path):
    from assay.agents.preference.config import SFTConfig
    from assay.agents.preference.data import SFTRecord
    from assay.agents.preference.sequences import collate
    from assay.agents.preference.sft import SFT

    records = [SFTRecord("2+2=", "4"), SFTRecord("3+3=", "6")]
    base = dict(model=str(tiny_dir), out_dir=str(tmp_path / "sft"), progress=False, system_prompt="Be exact.")
    trainer = SFT(SFTConfig(**base), records)
    tok = trainer.tokenizer
    e = trainer.encoded[0]
    assert tok.decode(e.ids[: e.prompt_len]) == (
        "<|system|>\nBe exact.\n<|end|>\n<|user|>\n2+2=\n<|end|>\n<|assistant|>\n"
    )
    assert list(e.ids[e.prompt_len :]) == [*tok("4", add_special_tokens=False)["input_ids"], tok.eos_token_id]
    batch = collate([e], trainer.pad_id)
    targets = batch.input_ids[0, 1:][batch.loss_mask[0] == 1].tolist()
    assert targets == list(e.ids[e.prompt_len :])  # the reply and its end, nothing of the prompt
    text = SFT(SFTConfig(**{**base, "system_prompt": None}, prompt_format="text"), records).encoded[0]
    assert tok.decode(text.ids[: text.prompt_len]) == "2+2="


def test_async_rollouts_render_chat_prompts_in_the_worker_as_the_trainer_does(tiny_dir, tmp_path):
    """The worker gets the trainer's ChatFormat: handing over at batch 0 (the worker samples
    every batch) or never (the trainer does) gives the same chat-rendered episodes and run."""
    from assay.agents.config import GRPOConfig
    from assay.agents.grpo import GRPO

    seen, rows = {}, {}
    for handover in (0, 100):
        cfg = GRPOConfig(
            model=str(tiny_dir), env="assay/Arithmetic-v0", env_kwargs={"level": "easy", "operations": "+"},
            out_dir=str(tmp_path / str(handover)), num_prompts=2, group_size=4, max_new_tokens=4, steps=2,
            progress=False, plot=False, num_threads=1, log_kl=False, async_rollouts=True,
            async_handover=handover, system_prompt="Add.",
        )  # fmt: skip
        trainer = GRPO(cfg)
        rollout = trainer.rollout
        got = seen.setdefault(handover, [])

        def spy(seed, rollout=rollout, got=got):
            episodes = rollout(seed)
            got.append([(e.prompt_ids, e.ids) for e in episodes])
            return episodes

        trainer.rollout = spy
        tok = trainer.tokenizer
        rows[handover] = [{k: v for k, v in r.items() if not k.startswith("time")} for r in trainer.train()]
        trainer.close()
    assert rows[0] == rows[100]
    assert seen[0] == seen[100] and len(seen[0]) == 2
    assert tok.decode(seen[0][0][0][0]).startswith("<|system|>\nAdd.\n<|end|>\n<|user|>\n")
