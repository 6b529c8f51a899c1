"""A lean KV-cache forward pass for decoding with Llama-family models (Llama, Qwen2, Qwen3, Mistral).

Why: a transformers forward pass carries a fixed Python cost per call (argument handling,
output capturing, mask building, cache bookkeeping), about 2 ms for a two-layer model on one CPU
thread. When the policy is small, as in tests, demos and CPU training, that cost is most of
what decoding a token takes. `LeanDecoder` runs the same computation over the model's own
modules with none of that machinery:

    h = embed(ids)
    for each layer:
        x = input_layernorm(h)
        q, k, v = q_proj(x), k_proj(x), v_proj(x)       (Qwen3: q_norm(q), k_norm(k) per head)
        q, k = rope(q, pos), rope(k, pos)                (the model's own rotary tables)
        K, V = cache ++ k, cache ++ v
        h = h + o_proj(softmax(q K^T * scaling + mask) V)
        h = h + mlp(post_attention_layernorm(h))
    logits = lm_head(norm(h))[:, -1]

Leaf modules (linear layers, the MLP) are called as modules, so their exact semantics hold and
adapters that wrap them (peft's LoRA layers) take part; RMSNorm in float32 is torch's fused
``rms_norm`` (the same formula). The keys and values live in
preallocated tensors; rows can be repeated (``n`` completions of one prompt share its prefill)
and dropped (finished sequences). `LeanDecoder.supports` says whether a model has the layout
this relies on; anything else (sliding-window attention, dynamic RoPE, other families) is
refused, and the sampler uses transformers' own forward instead. Its logits match that forward
to float rounding (tests/unit/agents/test_lean.py).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LeanDecoder"]

_FAMILIES = ("llama", "qwen2", "qwen3", "mistral")
_ROPE_TYPES = ("default", "linear", "llama3")  # tables that do not depend on the sequence length
_FUSE_LIMIT = 1 << 24  # weight elements copied into fused q/k/v and gate/up matrices, at most


def _rms_norm(norm: Any, x: torch.Tensor) -> torch.Tensor:
    """``norm(x)`` for a Llama-style RMSNorm module, as one fused op in float32."""
    weight, eps = getattr(norm, "weight", None), getattr(norm, "variance_epsilon", None)
    if (
        type(norm).__name__.endswith("RMSNorm")
        and isinstance(eps, float)
        and x.dtype == torch.float32
        and weight is not None
        and weight.dtype == torch.float32
    ):
        return torch.nn.functional.rms_norm(x, weight.shape, weight, eps)
    out: torch.Tensor = norm(x)
    return out


class LeanDecoder:
    """Prefill and token-by-token decoding of ``model`` with its own weights.

    Args:
        model: A transformers causal LM (or a peft model wrapping one) of a supported family.
        max_len: The longest prompt plus completion this decoder will see.

    Use: ``logits = dec.prefill(ids, attention, positions)``; optionally ``dec.repeat(n)``;
    then ``logits = dec.step(tokens, positions)`` per new token, ``dec.select(rows)`` to drop
    rows. Logits are those of the last position, ``(B, vocab)``. Call under ``torch.no_grad()``.
    """

    def __init__(self, model: Any, max_len: int) -> None:
        why = self.unsupported(model)
        if why:
            raise ValueError(f"LeanDecoder cannot run this model: {why}")
        base = self._base(model)
        core = base.model
        self.embed, self.layers, self.norm, self.lm_head = (
            core.embed_tokens,
            core.layers,
            core.norm,
            base.lm_head,
        )
        attn = self.layers[0].self_attn
        self.head_dim: int = attn.head_dim
        self.scaling: float = float(getattr(attn, "scaling", self.head_dim**-0.5))
        cfg = base.config
        self.n_heads, self.n_kv = int(cfg.num_attention_heads), int(cfg.num_key_value_heads)
        self.qk_norm = hasattr(attn, "q_norm")
        self.max_len = max_len
        weight = self.embed.weight
        positions = torch.arange(max_len, device=weight.device)[None]
        cos, sin = core.rotary_emb(weight[:1], positions)  # the model's own tables, (1, P, D)
        # RoPE: x*cos + rotate_half(x)*sin, rotate_half(x) = [-x2, x1]. The table repeats its
        # frequencies over both halves, so rotate_half(x)*sin == roll(x, D/2) * [-sin1, sin2].
        half = self.head_dim // 2
        self.cos, self.sin = cos[0], torch.cat((-sin[0, :, :half], sin[0, :, half:]), dim=-1)
        self.half = half
        # Small models: q/k/v and gate/up as one matmul each (fewer ops; a copy of the weights
        # per decoder, so only below _FUSE_LIMIT elements; adapters (non-Linear) are never fused).
        self.qkv: list[tuple[torch.Tensor, torch.Tensor | None] | None] = []
        self.gate_up: list[torch.Tensor | None] = []
        budget = _FUSE_LIMIT
        for layer in self.layers:
            a, mlp = layer.self_attn, layer.mlp
            projs = (a.q_proj, a.k_proj, a.v_proj)
            fused: tuple[torch.Tensor, torch.Tensor | None] | None = None
            size = sum(p.weight.numel() for p in projs)
            has_bias = [p.bias is not None for p in projs]
            if all(type(p) is torch.nn.Linear for p in projs) and len(set(has_bias)) == 1 and size <= budget:
                w = torch.cat([p.weight for p in projs])
                b = torch.cat([p.bias for p in projs]) if has_bias[0] else None
                fused, budget = (w, b), budget - size
            self.qkv.append(fused)
            gu: torch.Tensor | None = None
            parts: list[Any] = [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
            if all(type(p) is torch.nn.Linear and p.bias is None for p in parts) and hasattr(mlp, "act_fn"):
                gate, up = parts[0].weight, parts[1].weight
                if 2 * gate.numel() <= budget:
                    gu, budget = torch.cat([gate, up]), budget - 2 * gate.numel()
            self.gate_up.append(gu)
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.valid: torch.Tensor | None = None  # (B, max_len): key j is a real token
        self.padded = False
        self.length = 0

    @staticmethod
    def _base(model: Any) -> Any:
        get_base = getattr(model, "get_base_model", None)  # peft
        return get_base() if callable(get_base) else model

    @classmethod
    def unsupported(cls, model: Any) -> str:
        """Why ``model`` cannot be decoded here ("" when it can)."""
        base = cls._base(model)
        cfg = getattr(base, "config", None)
        family = getattr(cfg, "model_type", None)
        if family not in _FAMILIES:
            return f"model type {family!r} is not one of {_FAMILIES}"
        core = getattr(base, "model", None)
        needed = ("embed_tokens", "layers", "norm", "rotary_emb")
        if core is None or not all(hasattr(core, a) for a in needed) or not hasattr(base, "lm_head"):
            return "not the Llama layout (model.embed_tokens/layers/norm/rotary_emb, lm_head)"
        if "sliding_attention" in (getattr(cfg, "layer_types", None) or ()):
            return "sliding-window attention"
        if family == "mistral" and getattr(cfg, "sliding_window", None) is not None:
            return "sliding-window attention"
        rope = getattr(core.rotary_emb, "rope_type", "default")
        if rope not in _ROPE_TYPES:
            return f"RoPE type {rope!r}"
        for layer in core.layers:
            attn = getattr(layer, "self_attn", None)
            parts = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim")
            if attn is None or not all(hasattr(attn, a) for a in parts):
                return "an attention block without q/k/v/o projections"
            if not all(hasattr(layer, a) for a in ("input_layernorm", "post_attention_layernorm", "mlp")):
                return "a decoder layer without the Llama norms and MLP"
        if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
            return "scaled or soft-capped logits"
        return ""

    # -- state ----------------------------------------------------------------------------

    def repeat(self, n: int) -> None:
        """Repeat every row ``n`` times in place (row ``i`` becomes rows ``i*n .. i*n+n-1``)."""
        self.keys = [k.repeat_interleave(n, dim=0) for k in self.keys]
        self.values = [v.repeat_interleave(n, dim=0) for v in self.values]
        if self.valid is not None:
            self.valid = self.valid.repeat_interleave(n, dim=0)

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (an index tensor), in that order."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        if self.valid is not None:
            self.valid = self.valid.index_select(0, rows)

    # -- forward ----------------------------------------------------------------------------

    def prefill(
        self, input_ids: torch.Tensor, attention: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """Run the (left-padded) prompts ``(B, T)``; ``positions`` are their RoPE positions."""
        batch, width = input_ids.shape
        if width > self.max_len:
            raise ValueError(f"prompt of {width} tokens is longer than max_len={self.max_len}")
        dev, dtype = self.embed.weight.device, self.embed.weight.dtype
        shape = (batch, self.n_kv, self.max_len, self.head_dim)
        self.keys = [torch.zeros(shape, device=dev, dtype=dtype) for _ in self.layers]
        self.values = [torch.zeros(shape, device=dev, dtype=dtype) for _ in self.layers]
        self.padded = not bool(attention.all())
        mask = None
        if self.padded:
            self.valid = torch.zeros((batch, self.max_len), dtype=torch.bool, device=dev)
            self.valid[:, :width] = attention.bool()
            causal = torch.ones((width, width), dtype=torch.bool, device=dev).tril()
            # a padding position attends to itself, so no row is empty (an empty row gives NaN)
            eye = torch.eye(width, dtype=torch.bool, device=dev)
            mask = (causal & self.valid[:, None, None, :width]) | eye
        self.length = 0
        return self._forward(input_ids, positions, mask, causal=not self.padded)

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Append one token per row (``(B,)``) at ``positions`` (``(B, 1)``)."""
        if self.length >= self.max_len:
            raise ValueError(f"decoded past max_len={self.max_len}")
        mask = None
        if self.valid is not None and self.padded:
            self.valid[:, self.length] = True
            mask = self.valid[:, None, None, : self.length + 1]
        return self._forward(tokens[:, None], positions, mask, causal=False)

    def _forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None, *, causal: bool
    ) -> torch.Tensor:
        from torch.nn.functional import linear
        from torch.nn.functional import scaled_dot_product_attention as sdpa

        batch, width = input_ids.shape
        start, end = self.length, self.length + width
        cos, sin = self.cos[positions][:, :, None], self.sin[positions][:, :, None]  # (B, T, 1, D)
        heads, kv = self.n_heads, self.n_kv
        h = self.embed(input_ids)
        for i, layer in enumerate(self.layers):
            attn, mlp = layer.self_attn, layer.mlp
            x = _rms_norm(layer.input_layernorm, h)
            fused = self.qkv[i]
            if fused is not None:  # (B, T, heads + 2 kv, D): q, k, v heads side by side
                qkv = linear(x, fused[0], fused[1]).view(batch, width, heads + 2 * kv, self.head_dim)
                qk, v = qkv[:, :, : heads + kv], qkv[:, :, heads + kv :]
                q, k = qk[:, :, :heads], qk[:, :, heads:]
            else:
                q = attn.q_proj(x).view(batch, width, heads, self.head_dim)
                k = attn.k_proj(x).view(batch, width, kv, self.head_dim)
                v = attn.v_proj(x).view(batch, width, kv, self.head_dim)
            if self.qk_norm:
                q, k = attn.q_norm(q), attn.k_norm(k)
            if fused is None or self.qk_norm:
                qk = torch.cat((q, k), dim=2)
            qk = qk * cos + qk.roll(self.half, dims=-1) * sin  # RoPE on q and k at once
            self.keys[i][:, :, start:end] = qk[:, :, heads:].transpose(1, 2)
            self.values[i][:, :, start:end] = v.transpose(1, 2)
            out = sdpa(
                qk[:, :, :heads].transpose(1, 2),
                self.keys[i][:, :, :end],
                self.values[i][:, :, :end],
                attn_mask=mask,
                is_causal=causal and width > 1,
                scale=self.scaling,
                enable_gqa=heads != kv,
            )
            h = h + attn.o_proj(out.transpose(1, 2).reshape(batch, width, -1))
            x = _rms_norm(layer.post_attention_layernorm, h)
            gate_up = self.gate_up[i]
            if gate_up is not None:
                gate, up = linear(x, gate_up).chunk(2, dim=-1)
                h = h + mlp.down_proj(mlp.act_fn(gate) * up)
            else:
                h = h + mlp(x)
        self.length = end
        logits: torch.Tensor = self.lm_head(_rms_norm(self.norm, h[:, -1]))
        return logits
