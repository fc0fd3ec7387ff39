"""Example models for pgc specs.

* `llama` — a LLaMA-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention, tied or
  untied head) written for pgc; modules `embed`, `layers`, `norm`, `head`.
* `gpt2` — a GPT-2-style decoder with a tied head; modules `wte`, `wpe`, `h`, `ln_f`, `lm_head`.
* `hf` — factories for transformers' `LlamaForCausalLM` and `GPT2LMHeadModel` with small
  configs (needs the optional `transformers` dependency).

The first two are plain `torch.nn` code that `torch.fx.symbolic_trace` captures; the
transformers models are captured with `torch.export`.
"""
