"""Factories for transformers models with small configs, so a spec can name a model the team
did not write: `model m = "examples.models.hf:llama" { dim = 64, layers = 8 }`.

transformers is an optional dependency (`pip install pgc[hf]`); it is imported only when a
factory is called. transformers 5 models defeat `torch.fx.symbolic_trace`; pgc captures them
with `torch.export` (dynamic batch and sequence dims). Their own initialisation (transformers'
`post_init`) replays exactly per worker (docs/CONTRACTS.md "Initial state").
"""

from __future__ import annotations

import torch


def llama(
    vocab: int = 64,
    dim: int = 32,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    max_seq: int = 128,
    tied: bool = False,
) -> torch.nn.Module:
    """`LlamaForCausalLM` (RMSNorm, RoPE, SwiGLU, grouped-query attention)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=max_seq,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(cfg)


def gpt2(
    vocab: int = 64, dim: int = 32, layers: int = 4, heads: int = 4, max_seq: int = 128
) -> torch.nn.Module:
    """`GPT2LMHeadModel` (its head is tied to the token embedding); dropout off."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab, n_embd=dim, n_layer=layers, n_head=heads, n_positions=max_seq,
        bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(cfg)
