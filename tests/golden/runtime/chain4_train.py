"""pgc: the training script of pipeline `chain4` (chain4.pgc).

Run it from anywhere (one line per host):
    torchrun --nproc-per-node 4 train.py [flags]

Ranks map to workers by host label at start-up (on one host, rank = row):
    rank  worker  host  stage  segment  blocks
    0     n0      -     s0     s0       embed, layers[0:2]
    1     n1      -     s1     s1       layers[2:4]
    2     n2      -     s2     s2       layers[4:6]
    3     n3      -     s3     s3       layers[6:8], norm, head

Schedule: 1f1b, 8 microbatches of 4 x 32 tokens per step, inflight 4; predicted step 0.01947 s (lower bound 0.01945 s).
Training: 30 steps, adamw(lr=0.003, weight_decay=0.0), constant schedule, clip 1.0, data synthetic(seed=0).
Initial state: replay of `examples.models.llama:build` under seed 0.

Beside this file: plan.json (the plan, validated at start-up; docs/plan_schema.md in pgc) and
pgc_runtime/ (pgc's runtime, copied verbatim; needs only torch and the standard library).

Flags (`python train.py --help` lists every one):
    --steps N                                          total steps of the run (default: the spec's)
    --resume                                           continue from the newest complete checkpoint in --ckpt-dir
    --init-from FILE                                   start from a state_dict (`pgc init-model`, `pgc export-model`)
    --import-root DIR                                  folder the model's module imports from (or PGC_IMPORT_ROOT)
    --ckpt-dir D --ckpt-every N --keep K               checkpoints (default: the spec's)
    --optimizer --lr --clip                            override the spec's optimizer settings
    --eval [--skip-ratio K | --skip-stages a,b]        held-out loss with stages removed
    --emulate-network --emulate-compute --time-scale X rehearse the predicted times
    --trace DIR                                        per-worker Chrome traces on one clock
    --timeout S                                        seconds a wait may take before the run fails, naming the worker
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the runtime beside this file
from pgc_runtime.main import main, prepare  # noqa: E402

# the validated plan; the model's import root goes on sys.path before its module loads
PLAN = prepare(Path(__file__).resolve().with_name("plan.json"))
from torch import device  # noqa: E402


class Stage_s0(torch.nn.Module):
    """Segment `s0`: embed, layers.0, layers.1."""

    # (dotted name, kind) read from the full model: kind is module, param, buffer or
    # buffer-nonpersistent; names are the model's own, so state_dict keys match it.
    ADOPT = (
        ('embed', 'module'),
        ('layers.0.attn_norm.weight', 'param'),
        ('layers.0.attn.q_proj', 'module'),
        ('layers.0.attn.k_proj', 'module'),
        ('layers.0.attn.v_proj', 'module'),
        ('layers.0.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.0.attn.o_proj', 'module'),
        ('layers.0.mlp_norm.weight', 'param'),
        ('layers.0.mlp.gate', 'module'),
        ('layers.0.mlp.up', 'module'),
        ('layers.0.mlp.down', 'module'),
        ('layers.1.attn_norm.weight', 'param'),
        ('layers.1.attn.q_proj', 'module'),
        ('layers.1.attn.k_proj', 'module'),
        ('layers.1.attn.v_proj', 'module'),
        ('layers.1.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.1.attn.o_proj', 'module'),
        ('layers.1.mlp_norm.weight', 'param'),
        ('layers.1.mlp.gate', 'module'),
        ('layers.1.mlp.up', 'module'),
        ('layers.1.mlp.down', 'module'),
    )

    def __init__(self, model):
        super().__init__()
        for name, kind in self.ADOPT:
            *path, leaf = name.split(".")
            here, there = self, model
            for part in path:
                there = getattr(there, part)
                if part not in here._modules:
                    here.add_module(part, torch.nn.Module())
                here = here._modules[part]
            value = getattr(there, leaf)
            if kind == "module":
                here.add_module(leaf, value)
            elif kind == "param":
                here.register_parameter(leaf, value)
            else:
                here.register_buffer(leaf, value, persistent=kind == "buffer")

    def forward(self, input_ids):
        embed = self.embed(input_ids);  input_ids = None
        pow_1 = embed.pow(2)
        mean = pow_1.mean(-1, keepdim = True);  pow_1 = None
        add = mean + 1e-06;  mean = None
        rsqrt = torch.rsqrt(add);  add = None
        mul = embed * rsqrt;  rsqrt = None
        layers_0_attn_norm_weight = getattr(self.layers, "0").attn_norm.weight
        mul_1 = mul * layers_0_attn_norm_weight;  mul = layers_0_attn_norm_weight = None
        getattr_1 = mul_1.shape
        getitem = getattr_1[0]
        getitem_1 = getattr_1[1];  getattr_1 = None
        layers_0_attn_q_proj = getattr(self.layers, "0").attn.q_proj(mul_1)
        view = layers_0_attn_q_proj.view(getitem, getitem_1, 4, 16);  layers_0_attn_q_proj = None
        transpose = view.transpose(1, 2);  view = None
        layers_0_attn_k_proj = getattr(self.layers, "0").attn.k_proj(mul_1)
        view_1 = layers_0_attn_k_proj.view(getitem, getitem_1, 2, 16);  layers_0_attn_k_proj = None
        transpose_1 = view_1.transpose(1, 2);  view_1 = None
        layers_0_attn_v_proj = getattr(self.layers, "0").attn.v_proj(mul_1)
        view_2 = layers_0_attn_v_proj.view(getitem, getitem_1, 2, 16);  layers_0_attn_v_proj = None
        transpose_2 = view_2.transpose(1, 2);  view_2 = None
        getattr_2 = mul_1.shape
        getitem_3 = getattr_2[1];  getattr_2 = None
        getattr_3 = mul_1.device;  mul_1 = None
        arange = torch.arange(getitem_3, device = getattr_3, dtype = torch.float32);  getitem_3 = getattr_3 = None
        layers_0_attn_rotary_inv_freq = getattr(self.layers, "0").attn.rotary.inv_freq
        outer = torch.outer(arange, layers_0_attn_rotary_inv_freq);  arange = layers_0_attn_rotary_inv_freq = None
        cat = torch.cat((outer, outer), dim = -1);  outer = None
        cos = cat.cos()
        getitem_4 = cos[(None, None)];  cos = None
        sin = cat.sin();  cat = None
        getitem_5 = sin[(None, None)];  sin = None
        mul_2 = transpose * getitem_4
        getattr_4 = transpose.shape
        getitem_6 = getattr_4[-1];  getattr_4 = None
        floordiv = getitem_6 // 2;  getitem_6 = None
        getitem_7 = transpose[(Ellipsis, slice(floordiv, None, None))]
        neg = -getitem_7;  getitem_7 = None
        getitem_8 = transpose[(Ellipsis, slice(None, floordiv, None))];  transpose = floordiv = None
        cat_1 = torch.cat((neg, getitem_8), dim = -1);  neg = getitem_8 = None
        mul_3 = cat_1 * getitem_5;  cat_1 = None
        add_1 = mul_2 + mul_3;  mul_2 = mul_3 = None
        mul_4 = transpose_1 * getitem_4;  getitem_4 = None
        getattr_5 = transpose_1.shape
        getitem_9 = getattr_5[-1];  getattr_5 = None
        floordiv_1 = getitem_9 // 2;  getitem_9 = None
        getitem_10 = transpose_1[(Ellipsis, slice(floordiv_1, None, None))]
        neg_1 = -getitem_10;  getitem_10 = None
        getitem_11 = transpose_1[(Ellipsis, slice(None, floordiv_1, None))];  transpose_1 = floordiv_1 = None
        cat_2 = torch.cat((neg_1, getitem_11), dim = -1);  neg_1 = getitem_11 = None
        mul_5 = cat_2 * getitem_5;  cat_2 = getitem_5 = None
        add_2 = mul_4 + mul_5;  mul_4 = mul_5 = None
        repeat_interleave = add_2.repeat_interleave(2, dim = 1);  add_2 = None
        repeat_interleave_1 = transpose_2.repeat_interleave(2, dim = 1);  transpose_2 = None
        scaled_dot_product_attention = torch._C._nn.scaled_dot_product_attention(add_1, repeat_interleave, repeat_interleave_1, is_causal = True);  add_1 = repeat_interleave = repeat_interleave_1 = None
        transpose_3 = scaled_dot_product_attention.transpose(1, 2);  scaled_dot_product_attention = None
        reshape = transpose_3.reshape(getitem, getitem_1, 64);  transpose_3 = getitem = getitem_1 = None
        layers_0_attn_o_proj = getattr(self.layers, "0").attn.o_proj(reshape);  reshape = None
        add_3 = embed + layers_0_attn_o_proj;  embed = layers_0_attn_o_proj = None
        pow_2 = add_3.pow(2)
        mean_1 = pow_2.mean(-1, keepdim = True);  pow_2 = None
        add_4 = mean_1 + 1e-06;  mean_1 = None
        rsqrt_1 = torch.rsqrt(add_4);  add_4 = None
        mul_6 = add_3 * rsqrt_1;  rsqrt_1 = None
        layers_0_mlp_norm_weight = getattr(self.layers, "0").mlp_norm.weight
        mul_7 = mul_6 * layers_0_mlp_norm_weight;  mul_6 = layers_0_mlp_norm_weight = None
        layers_0_mlp_gate = getattr(self.layers, "0").mlp.gate(mul_7)
        silu = torch.nn.functional.silu(layers_0_mlp_gate, inplace = False);  layers_0_mlp_gate = None
        layers_0_mlp_up = getattr(self.layers, "0").mlp.up(mul_7);  mul_7 = None
        mul_8 = silu * layers_0_mlp_up;  silu = layers_0_mlp_up = None
        layers_0_mlp_down = getattr(self.layers, "0").mlp.down(mul_8);  mul_8 = None
        add_5 = add_3 + layers_0_mlp_down;  add_3 = layers_0_mlp_down = None
        pow_3 = add_5.pow(2)
        mean_2 = pow_3.mean(-1, keepdim = True);  pow_3 = None
        add_6 = mean_2 + 1e-06;  mean_2 = None
        rsqrt_2 = torch.rsqrt(add_6);  add_6 = None
        mul_9 = add_5 * rsqrt_2;  rsqrt_2 = None
        layers_1_attn_norm_weight = getattr(self.layers, "1").attn_norm.weight
        mul_10 = mul_9 * layers_1_attn_norm_weight;  mul_9 = layers_1_attn_norm_weight = None
        getattr_6 = mul_10.shape
        getitem_12 = getattr_6[0]
        getitem_13 = getattr_6[1];  getattr_6 = None
        layers_1_attn_q_proj = getattr(self.layers, "1").attn.q_proj(mul_10)
        view_3 = layers_1_attn_q_proj.view(getitem_12, getitem_13, 4, 16);  layers_1_attn_q_proj = None
        transpose_4 = view_3.transpose(1, 2);  view_3 = None
        layers_1_attn_k_proj = getattr(self.layers, "1").attn.k_proj(mul_10)
        view_4 = layers_1_attn_k_proj.view(getitem_12, getitem_13, 2, 16);  layers_1_attn_k_proj = None
        transpose_5 = view_4.transpose(1, 2);  view_4 = None
        layers_1_attn_v_proj = getattr(self.layers, "1").attn.v_proj(mul_10)
        view_5 = layers_1_attn_v_proj.view(getitem_12, getitem_13, 2, 16);  layers_1_attn_v_proj = None
        transpose_6 = view_5.transpose(1, 2);  view_5 = None
        getattr_7 = mul_10.shape
        getitem_15 = getattr_7[1];  getattr_7 = None
        getattr_8 = mul_10.device;  mul_10 = None
        arange_1 = torch.arange(getitem_15, device = getattr_8, dtype = torch.float32);  getitem_15 = getattr_8 = None
        layers_1_attn_rotary_inv_freq = getattr(self.layers, "1").attn.rotary.inv_freq
        outer_1 = torch.outer(arange_1, layers_1_attn_rotary_inv_freq);  arange_1 = layers_1_attn_rotary_inv_freq = None
        cat_3 = torch.cat((outer_1, outer_1), dim = -1);  outer_1 = None
        cos_1 = cat_3.cos()
        getitem_16 = cos_1[(None, None)];  cos_1 = None
        sin_1 = cat_3.sin();  cat_3 = None
        getitem_17 = sin_1[(None, None)];  sin_1 = None
        mul_11 = transpose_4 * getitem_16
        getattr_9 = transpose_4.shape
        getitem_18 = getattr_9[-1];  getattr_9 = None
        floordiv_2 = getitem_18 // 2;  getitem_18 = None
        getitem_19 = transpose_4[(Ellipsis, slice(floordiv_2, None, None))]
        neg_2 = -getitem_19;  getitem_19 = None
        getitem_20 = transpose_4[(Ellipsis, slice(None, floordiv_2, None))];  transpose_4 = floordiv_2 = None
        cat_4 = torch.cat((neg_2, getitem_20), dim = -1);  neg_2 = getitem_20 = None
        mul_12 = cat_4 * getitem_17;  cat_4 = None
        add_7 = mul_11 + mul_12;  mul_11 = mul_12 = None
        mul_13 = transpose_5 * getitem_16;  getitem_16 = None
        getattr_10 = transpose_5.shape
        getitem_21 = getattr_10[-1];  getattr_10 = None
        floordiv_3 = getitem_21 // 2;  getitem_21 = None
        getitem_22 = transpose_5[(Ellipsis, slice(floordiv_3, None, None))]
        neg_3 = -getitem_22;  getitem_22 = None
        getitem_23 = transpose_5[(Ellipsis, slice(None, floordiv_3, None))];  transpose_5 = floordiv_3 = None
        cat_5 = torch.cat((neg_3, getitem_23), dim = -1);  neg_3 = getitem_23 = None
        mul_14 = cat_5 * getitem_17;  cat_5 = getitem_17 = None
        add_8 = mul_13 + mul_14;  mul_13 = mul_14 = None
        repeat_interleave_2 = add_8.repeat_interleave(2, dim = 1);  add_8 = None
        repeat_interleave_3 = transpose_6.repeat_interleave(2, dim = 1);  transpose_6 = None
        scaled_dot_product_attention_1 = torch._C._nn.scaled_dot_product_attention(add_7, repeat_interleave_2, repeat_interleave_3, is_causal = True);  add_7 = repeat_interleave_2 = repeat_interleave_3 = None
        transpose_7 = scaled_dot_product_attention_1.transpose(1, 2);  scaled_dot_product_attention_1 = None
        reshape_1 = transpose_7.reshape(getitem_12, getitem_13, 64);  transpose_7 = getitem_12 = getitem_13 = None
        layers_1_attn_o_proj = getattr(self.layers, "1").attn.o_proj(reshape_1);  reshape_1 = None
        add_9 = add_5 + layers_1_attn_o_proj;  add_5 = layers_1_attn_o_proj = None
        pow_4 = add_9.pow(2)
        mean_3 = pow_4.mean(-1, keepdim = True);  pow_4 = None
        add_10 = mean_3 + 1e-06;  mean_3 = None
        rsqrt_3 = torch.rsqrt(add_10);  add_10 = None
        mul_15 = add_9 * rsqrt_3;  rsqrt_3 = None
        layers_1_mlp_norm_weight = getattr(self.layers, "1").mlp_norm.weight
        mul_16 = mul_15 * layers_1_mlp_norm_weight;  mul_15 = layers_1_mlp_norm_weight = None
        layers_1_mlp_gate = getattr(self.layers, "1").mlp.gate(mul_16)
        silu_1 = torch.nn.functional.silu(layers_1_mlp_gate, inplace = False);  layers_1_mlp_gate = None
        layers_1_mlp_up = getattr(self.layers, "1").mlp.up(mul_16);  mul_16 = None
        mul_17 = silu_1 * layers_1_mlp_up;  silu_1 = layers_1_mlp_up = None
        layers_1_mlp_down = getattr(self.layers, "1").mlp.down(mul_17);  mul_17 = None
        add_11 = add_9 + layers_1_mlp_down;  add_9 = layers_1_mlp_down = None
        return (add_11,)


class Stage_s1(torch.nn.Module):
    """Segment `s1`: layers.2, layers.3."""

    # (dotted name, kind) read from the full model: kind is module, param, buffer or
    # buffer-nonpersistent; names are the model's own, so state_dict keys match it.
    ADOPT = (
        ('layers.2.attn_norm.weight', 'param'),
        ('layers.2.attn.q_proj', 'module'),
        ('layers.2.attn.k_proj', 'module'),
        ('layers.2.attn.v_proj', 'module'),
        ('layers.2.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.2.attn.o_proj', 'module'),
        ('layers.2.mlp_norm.weight', 'param'),
        ('layers.2.mlp.gate', 'module'),
        ('layers.2.mlp.up', 'module'),
        ('layers.2.mlp.down', 'module'),
        ('layers.3.attn_norm.weight', 'param'),
        ('layers.3.attn.q_proj', 'module'),
        ('layers.3.attn.k_proj', 'module'),
        ('layers.3.attn.v_proj', 'module'),
        ('layers.3.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.3.attn.o_proj', 'module'),
        ('layers.3.mlp_norm.weight', 'param'),
        ('layers.3.mlp.gate', 'module'),
        ('layers.3.mlp.up', 'module'),
        ('layers.3.mlp.down', 'module'),
    )

    def __init__(self, model):
        super().__init__()
        for name, kind in self.ADOPT:
            *path, leaf = name.split(".")
            here, there = self, model
            for part in path:
                there = getattr(there, part)
                if part not in here._modules:
                    here.add_module(part, torch.nn.Module())
                here = here._modules[part]
            value = getattr(there, leaf)
            if kind == "module":
                here.add_module(leaf, value)
            elif kind == "param":
                here.register_parameter(leaf, value)
            else:
                here.register_buffer(leaf, value, persistent=kind == "buffer")

    def forward(self, add_11):
        pow_5 = add_11.pow(2)
        mean_4 = pow_5.mean(-1, keepdim = True);  pow_5 = None
        add_12 = mean_4 + 1e-06;  mean_4 = None
        rsqrt_4 = torch.rsqrt(add_12);  add_12 = None
        mul_18 = add_11 * rsqrt_4;  rsqrt_4 = None
        layers_2_attn_norm_weight = getattr(self.layers, "2").attn_norm.weight
        mul_19 = mul_18 * layers_2_attn_norm_weight;  mul_18 = layers_2_attn_norm_weight = None
        getattr_11 = mul_19.shape
        getitem_24 = getattr_11[0]
        getitem_25 = getattr_11[1];  getattr_11 = None
        layers_2_attn_q_proj = getattr(self.layers, "2").attn.q_proj(mul_19)
        view_6 = layers_2_attn_q_proj.view(getitem_24, getitem_25, 4, 16);  layers_2_attn_q_proj = None
        transpose_8 = view_6.transpose(1, 2);  view_6 = None
        layers_2_attn_k_proj = getattr(self.layers, "2").attn.k_proj(mul_19)
        view_7 = layers_2_attn_k_proj.view(getitem_24, getitem_25, 2, 16);  layers_2_attn_k_proj = None
        transpose_9 = view_7.transpose(1, 2);  view_7 = None
        layers_2_attn_v_proj = getattr(self.layers, "2").attn.v_proj(mul_19)
        view_8 = layers_2_attn_v_proj.view(getitem_24, getitem_25, 2, 16);  layers_2_attn_v_proj = None
        transpose_10 = view_8.transpose(1, 2);  view_8 = None
        getattr_12 = mul_19.shape
        getitem_27 = getattr_12[1];  getattr_12 = None
        getattr_13 = mul_19.device;  mul_19 = None
        arange_2 = torch.arange(getitem_27, device = getattr_13, dtype = torch.float32);  getitem_27 = getattr_13 = None
        layers_2_attn_rotary_inv_freq = getattr(self.layers, "2").attn.rotary.inv_freq
        outer_2 = torch.outer(arange_2, layers_2_attn_rotary_inv_freq);  arange_2 = layers_2_attn_rotary_inv_freq = None
        cat_6 = torch.cat((outer_2, outer_2), dim = -1);  outer_2 = None
        cos_2 = cat_6.cos()
        getitem_28 = cos_2[(None, None)];  cos_2 = None
        sin_2 = cat_6.sin();  cat_6 = None
        getitem_29 = sin_2[(None, None)];  sin_2 = None
        mul_20 = transpose_8 * getitem_28
        getattr_14 = transpose_8.shape
        getitem_30 = getattr_14[-1];  getattr_14 = None
        floordiv_4 = getitem_30 // 2;  getitem_30 = None
        getitem_31 = transpose_8[(Ellipsis, slice(floordiv_4, None, None))]
        neg_4 = -getitem_31;  getitem_31 = None
        getitem_32 = transpose_8[(Ellipsis, slice(None, floordiv_4, None))];  transpose_8 = floordiv_4 = None
        cat_7 = torch.cat((neg_4, getitem_32), dim = -1);  neg_4 = getitem_32 = None
        mul_21 = cat_7 * getitem_29;  cat_7 = None
        add_13 = mul_20 + mul_21;  mul_20 = mul_21 = None
        mul_22 = transpose_9 * getitem_28;  getitem_28 = None
        getattr_15 = transpose_9.shape
        getitem_33 = getattr_15[-1];  getattr_15 = None
        floordiv_5 = getitem_33 // 2;  getitem_33 = None
        getitem_34 = transpose_9[(Ellipsis, slice(floordiv_5, None, None))]
        neg_5 = -getitem_34;  getitem_34 = None
        getitem_35 = transpose_9[(Ellipsis, slice(None, floordiv_5, None))];  transpose_9 = floordiv_5 = None
        cat_8 = torch.cat((neg_5, getitem_35), dim = -1);  neg_5 = getitem_35 = None
        mul_23 = cat_8 * getitem_29;  cat_8 = getitem_29 = None
        add_14 = mul_22 + mul_23;  mul_22 = mul_23 = None
        repeat_interleave_4 = add_14.repeat_interleave(2, dim = 1);  add_14 = None
        repeat_interleave_5 = transpose_10.repeat_interleave(2, dim = 1);  transpose_10 = None
        scaled_dot_product_attention_2 = torch._C._nn.scaled_dot_product_attention(add_13, repeat_interleave_4, repeat_interleave_5, is_causal = True);  add_13 = repeat_interleave_4 = repeat_interleave_5 = None
        transpose_11 = scaled_dot_product_attention_2.transpose(1, 2);  scaled_dot_product_attention_2 = None
        reshape_2 = transpose_11.reshape(getitem_24, getitem_25, 64);  transpose_11 = getitem_24 = getitem_25 = None
        layers_2_attn_o_proj = getattr(self.layers, "2").attn.o_proj(reshape_2);  reshape_2 = None
        add_15 = add_11 + layers_2_attn_o_proj;  add_11 = layers_2_attn_o_proj = None
        pow_6 = add_15.pow(2)
        mean_5 = pow_6.mean(-1, keepdim = True);  pow_6 = None
        add_16 = mean_5 + 1e-06;  mean_5 = None
        rsqrt_5 = torch.rsqrt(add_16);  add_16 = None
        mul_24 = add_15 * rsqrt_5;  rsqrt_5 = None
        layers_2_mlp_norm_weight = getattr(self.layers, "2").mlp_norm.weight
        mul_25 = mul_24 * layers_2_mlp_norm_weight;  mul_24 = layers_2_mlp_norm_weight = None
        layers_2_mlp_gate = getattr(self.layers, "2").mlp.gate(mul_25)
        silu_2 = torch.nn.functional.silu(layers_2_mlp_gate, inplace = False);  layers_2_mlp_gate = None
        layers_2_mlp_up = getattr(self.layers, "2").mlp.up(mul_25);  mul_25 = None
        mul_26 = silu_2 * layers_2_mlp_up;  silu_2 = layers_2_mlp_up = None
        layers_2_mlp_down = getattr(self.layers, "2").mlp.down(mul_26);  mul_26 = None
        add_17 = add_15 + layers_2_mlp_down;  add_15 = layers_2_mlp_down = None
        pow_7 = add_17.pow(2)
        mean_6 = pow_7.mean(-1, keepdim = True);  pow_7 = None
        add_18 = mean_6 + 1e-06;  mean_6 = None
        rsqrt_6 = torch.rsqrt(add_18);  add_18 = None
        mul_27 = add_17 * rsqrt_6;  rsqrt_6 = None
        layers_3_attn_norm_weight = getattr(self.layers, "3").attn_norm.weight
        mul_28 = mul_27 * layers_3_attn_norm_weight;  mul_27 = layers_3_attn_norm_weight = None
        getattr_16 = mul_28.shape
        getitem_36 = getattr_16[0]
        getitem_37 = getattr_16[1];  getattr_16 = None
        layers_3_attn_q_proj = getattr(self.layers, "3").attn.q_proj(mul_28)
        view_9 = layers_3_attn_q_proj.view(getitem_36, getitem_37, 4, 16);  layers_3_attn_q_proj = None
        transpose_12 = view_9.transpose(1, 2);  view_9 = None
        layers_3_attn_k_proj = getattr(self.layers, "3").attn.k_proj(mul_28)
        view_10 = layers_3_attn_k_proj.view(getitem_36, getitem_37, 2, 16);  layers_3_attn_k_proj = None
        transpose_13 = view_10.transpose(1, 2);  view_10 = None
        layers_3_attn_v_proj = getattr(self.layers, "3").attn.v_proj(mul_28)
        view_11 = layers_3_attn_v_proj.view(getitem_36, getitem_37, 2, 16);  layers_3_attn_v_proj = None
        transpose_14 = view_11.transpose(1, 2);  view_11 = None
        getattr_17 = mul_28.shape
        getitem_39 = getattr_17[1];  getattr_17 = None
        getattr_18 = mul_28.device;  mul_28 = None
        arange_3 = torch.arange(getitem_39, device = getattr_18, dtype = torch.float32);  getitem_39 = getattr_18 = None
        layers_3_attn_rotary_inv_freq = getattr(self.layers, "3").attn.rotary.inv_freq
        outer_3 = torch.outer(arange_3, layers_3_attn_rotary_inv_freq);  arange_3 = layers_3_attn_rotary_inv_freq = None
        cat_9 = torch.cat((outer_3, outer_3), dim = -1);  outer_3 = None
        cos_3 = cat_9.cos()
        getitem_40 = cos_3[(None, None)];  cos_3 = None
        sin_3 = cat_9.sin();  cat_9 = None
        getitem_41 = sin_3[(None, None)];  sin_3 = None
        mul_29 = transpose_12 * getitem_40
        getattr_19 = transpose_12.shape
        getitem_42 = getattr_19[-1];  getattr_19 = None
        floordiv_6 = getitem_42 // 2;  getitem_42 = None
        getitem_43 = transpose_12[(Ellipsis, slice(floordiv_6, None, None))]
        neg_6 = -getitem_43;  getitem_43 = None
        getitem_44 = transpose_12[(Ellipsis, slice(None, floordiv_6, None))];  transpose_12 = floordiv_6 = None
        cat_10 = torch.cat((neg_6, getitem_44), dim = -1);  neg_6 = getitem_44 = None
        mul_30 = cat_10 * getitem_41;  cat_10 = None
        add_19 = mul_29 + mul_30;  mul_29 = mul_30 = None
        mul_31 = transpose_13 * getitem_40;  getitem_40 = None
        getattr_20 = transpose_13.shape
        getitem_45 = getattr_20[-1];  getattr_20 = None
        floordiv_7 = getitem_45 // 2;  getitem_45 = None
        getitem_46 = transpose_13[(Ellipsis, slice(floordiv_7, None, None))]
        neg_7 = -getitem_46;  getitem_46 = None
        getitem_47 = transpose_13[(Ellipsis, slice(None, floordiv_7, None))];  transpose_13 = floordiv_7 = None
        cat_11 = torch.cat((neg_7, getitem_47), dim = -1);  neg_7 = getitem_47 = None
        mul_32 = cat_11 * getitem_41;  cat_11 = getitem_41 = None
        add_20 = mul_31 + mul_32;  mul_31 = mul_32 = None
        repeat_interleave_6 = add_20.repeat_interleave(2, dim = 1);  add_20 = None
        repeat_interleave_7 = transpose_14.repeat_interleave(2, dim = 1);  transpose_14 = None
        scaled_dot_product_attention_3 = torch._C._nn.scaled_dot_product_attention(add_19, repeat_interleave_6, repeat_interleave_7, is_causal = True);  add_19 = repeat_interleave_6 = repeat_interleave_7 = None
        transpose_15 = scaled_dot_product_attention_3.transpose(1, 2);  scaled_dot_product_attention_3 = None
        reshape_3 = transpose_15.reshape(getitem_36, getitem_37, 64);  transpose_15 = getitem_36 = getitem_37 = None
        layers_3_attn_o_proj = getattr(self.layers, "3").attn.o_proj(reshape_3);  reshape_3 = None
        add_21 = add_17 + layers_3_attn_o_proj;  add_17 = layers_3_attn_o_proj = None
        pow_8 = add_21.pow(2)
        mean_7 = pow_8.mean(-1, keepdim = True);  pow_8 = None
        add_22 = mean_7 + 1e-06;  mean_7 = None
        rsqrt_7 = torch.rsqrt(add_22);  add_22 = None
        mul_33 = add_21 * rsqrt_7;  rsqrt_7 = None
        layers_3_mlp_norm_weight = getattr(self.layers, "3").mlp_norm.weight
        mul_34 = mul_33 * layers_3_mlp_norm_weight;  mul_33 = layers_3_mlp_norm_weight = None
        layers_3_mlp_gate = getattr(self.layers, "3").mlp.gate(mul_34)
        silu_3 = torch.nn.functional.silu(layers_3_mlp_gate, inplace = False);  layers_3_mlp_gate = None
        layers_3_mlp_up = getattr(self.layers, "3").mlp.up(mul_34);  mul_34 = None
        mul_35 = silu_3 * layers_3_mlp_up;  silu_3 = layers_3_mlp_up = None
        layers_3_mlp_down = getattr(self.layers, "3").mlp.down(mul_35);  mul_35 = None
        add_23 = add_21 + layers_3_mlp_down;  add_21 = layers_3_mlp_down = None
        return (add_23,)


class Stage_s2(torch.nn.Module):
    """Segment `s2`: layers.4, layers.5."""

    # (dotted name, kind) read from the full model: kind is module, param, buffer or
    # buffer-nonpersistent; names are the model's own, so state_dict keys match it.
    ADOPT = (
        ('layers.4.attn_norm.weight', 'param'),
        ('layers.4.attn.q_proj', 'module'),
        ('layers.4.attn.k_proj', 'module'),
        ('layers.4.attn.v_proj', 'module'),
        ('layers.4.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.4.attn.o_proj', 'module'),
        ('layers.4.mlp_norm.weight', 'param'),
        ('layers.4.mlp.gate', 'module'),
        ('layers.4.mlp.up', 'module'),
        ('layers.4.mlp.down', 'module'),
        ('layers.5.attn_norm.weight', 'param'),
        ('layers.5.attn.q_proj', 'module'),
        ('layers.5.attn.k_proj', 'module'),
        ('layers.5.attn.v_proj', 'module'),
        ('layers.5.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.5.attn.o_proj', 'module'),
        ('layers.5.mlp_norm.weight', 'param'),
        ('layers.5.mlp.gate', 'module'),
        ('layers.5.mlp.up', 'module'),
        ('layers.5.mlp.down', 'module'),
    )

    def __init__(self, model):
        super().__init__()
        for name, kind in self.ADOPT:
            *path, leaf = name.split(".")
            here, there = self, model
            for part in path:
                there = getattr(there, part)
                if part not in here._modules:
                    here.add_module(part, torch.nn.Module())
                here = here._modules[part]
            value = getattr(there, leaf)
            if kind == "module":
                here.add_module(leaf, value)
            elif kind == "param":
                here.register_parameter(leaf, value)
            else:
                here.register_buffer(leaf, value, persistent=kind == "buffer")

    def forward(self, add_23):
        pow_9 = add_23.pow(2)
        mean_8 = pow_9.mean(-1, keepdim = True);  pow_9 = None
        add_24 = mean_8 + 1e-06;  mean_8 = None
        rsqrt_8 = torch.rsqrt(add_24);  add_24 = None
        mul_36 = add_23 * rsqrt_8;  rsqrt_8 = None
        layers_4_attn_norm_weight = getattr(self.layers, "4").attn_norm.weight
        mul_37 = mul_36 * layers_4_attn_norm_weight;  mul_36 = layers_4_attn_norm_weight = None
        getattr_21 = mul_37.shape
        getitem_48 = getattr_21[0]
        getitem_49 = getattr_21[1];  getattr_21 = None
        layers_4_attn_q_proj = getattr(self.layers, "4").attn.q_proj(mul_37)
        view_12 = layers_4_attn_q_proj.view(getitem_48, getitem_49, 4, 16);  layers_4_attn_q_proj = None
        transpose_16 = view_12.transpose(1, 2);  view_12 = None
        layers_4_attn_k_proj = getattr(self.layers, "4").attn.k_proj(mul_37)
        view_13 = layers_4_attn_k_proj.view(getitem_48, getitem_49, 2, 16);  layers_4_attn_k_proj = None
        transpose_17 = view_13.transpose(1, 2);  view_13 = None
        layers_4_attn_v_proj = getattr(self.layers, "4").attn.v_proj(mul_37)
        view_14 = layers_4_attn_v_proj.view(getitem_48, getitem_49, 2, 16);  layers_4_attn_v_proj = None
        transpose_18 = view_14.transpose(1, 2);  view_14 = None
        getattr_22 = mul_37.shape
        getitem_51 = getattr_22[1];  getattr_22 = None
        getattr_23 = mul_37.device;  mul_37 = None
        arange_4 = torch.arange(getitem_51, device = getattr_23, dtype = torch.float32);  getitem_51 = getattr_23 = None
        layers_4_attn_rotary_inv_freq = getattr(self.layers, "4").attn.rotary.inv_freq
        outer_4 = torch.outer(arange_4, layers_4_attn_rotary_inv_freq);  arange_4 = layers_4_attn_rotary_inv_freq = None
        cat_12 = torch.cat((outer_4, outer_4), dim = -1);  outer_4 = None
        cos_4 = cat_12.cos()
        getitem_52 = cos_4[(None, None)];  cos_4 = None
        sin_4 = cat_12.sin();  cat_12 = None
        getitem_53 = sin_4[(None, None)];  sin_4 = None
        mul_38 = transpose_16 * getitem_52
        getattr_24 = transpose_16.shape
        getitem_54 = getattr_24[-1];  getattr_24 = None
        floordiv_8 = getitem_54 // 2;  getitem_54 = None
        getitem_55 = transpose_16[(Ellipsis, slice(floordiv_8, None, None))]
        neg_8 = -getitem_55;  getitem_55 = None
        getitem_56 = transpose_16[(Ellipsis, slice(None, floordiv_8, None))];  transpose_16 = floordiv_8 = None
        cat_13 = torch.cat((neg_8, getitem_56), dim = -1);  neg_8 = getitem_56 = None
        mul_39 = cat_13 * getitem_53;  cat_13 = None
        add_25 = mul_38 + mul_39;  mul_38 = mul_39 = None
        mul_40 = transpose_17 * getitem_52;  getitem_52 = None
        getattr_25 = transpose_17.shape
        getitem_57 = getattr_25[-1];  getattr_25 = None
        floordiv_9 = getitem_57 // 2;  getitem_57 = None
        getitem_58 = transpose_17[(Ellipsis, slice(floordiv_9, None, None))]
        neg_9 = -getitem_58;  getitem_58 = None
        getitem_59 = transpose_17[(Ellipsis, slice(None, floordiv_9, None))];  transpose_17 = floordiv_9 = None
        cat_14 = torch.cat((neg_9, getitem_59), dim = -1);  neg_9 = getitem_59 = None
        mul_41 = cat_14 * getitem_53;  cat_14 = getitem_53 = None
        add_26 = mul_40 + mul_41;  mul_40 = mul_41 = None
        repeat_interleave_8 = add_26.repeat_interleave(2, dim = 1);  add_26 = None
        repeat_interleave_9 = transpose_18.repeat_interleave(2, dim = 1);  transpose_18 = None
        scaled_dot_product_attention_4 = torch._C._nn.scaled_dot_product_attention(add_25, repeat_interleave_8, repeat_interleave_9, is_causal = True);  add_25 = repeat_interleave_8 = repeat_interleave_9 = None
        transpose_19 = scaled_dot_product_attention_4.transpose(1, 2);  scaled_dot_product_attention_4 = None
        reshape_4 = transpose_19.reshape(getitem_48, getitem_49, 64);  transpose_19 = getitem_48 = getitem_49 = None
        layers_4_attn_o_proj = getattr(self.layers, "4").attn.o_proj(reshape_4);  reshape_4 = None
        add_27 = add_23 + layers_4_attn_o_proj;  add_23 = layers_4_attn_o_proj = None
        pow_10 = add_27.pow(2)
        mean_9 = pow_10.mean(-1, keepdim = True);  pow_10 = None
        add_28 = mean_9 + 1e-06;  mean_9 = None
        rsqrt_9 = torch.rsqrt(add_28);  add_28 = None
        mul_42 = add_27 * rsqrt_9;  rsqrt_9 = None
        layers_4_mlp_norm_weight = getattr(self.layers, "4").mlp_norm.weight
        mul_43 = mul_42 * layers_4_mlp_norm_weight;  mul_42 = layers_4_mlp_norm_weight = None
        layers_4_mlp_gate = getattr(self.layers, "4").mlp.gate(mul_43)
        silu_4 = torch.nn.functional.silu(layers_4_mlp_gate, inplace = False);  layers_4_mlp_gate = None
        layers_4_mlp_up = getattr(self.layers, "4").mlp.up(mul_43);  mul_43 = None
        mul_44 = silu_4 * layers_4_mlp_up;  silu_4 = layers_4_mlp_up = None
        layers_4_mlp_down = getattr(self.layers, "4").mlp.down(mul_44);  mul_44 = None
        add_29 = add_27 + layers_4_mlp_down;  add_27 = layers_4_mlp_down = None
        pow_11 = add_29.pow(2)
        mean_10 = pow_11.mean(-1, keepdim = True);  pow_11 = None
        add_30 = mean_10 + 1e-06;  mean_10 = None
        rsqrt_10 = torch.rsqrt(add_30);  add_30 = None
        mul_45 = add_29 * rsqrt_10;  rsqrt_10 = None
        layers_5_attn_norm_weight = getattr(self.layers, "5").attn_norm.weight
        mul_46 = mul_45 * layers_5_attn_norm_weight;  mul_45 = layers_5_attn_norm_weight = None
        getattr_26 = mul_46.shape
        getitem_60 = getattr_26[0]
        getitem_61 = getattr_26[1];  getattr_26 = None
        layers_5_attn_q_proj = getattr(self.layers, "5").attn.q_proj(mul_46)
        view_15 = layers_5_attn_q_proj.view(getitem_60, getitem_61, 4, 16);  layers_5_attn_q_proj = None
        transpose_20 = view_15.transpose(1, 2);  view_15 = None
        layers_5_attn_k_proj = getattr(self.layers, "5").attn.k_proj(mul_46)
        view_16 = layers_5_attn_k_proj.view(getitem_60, getitem_61, 2, 16);  layers_5_attn_k_proj = None
        transpose_21 = view_16.transpose(1, 2);  view_16 = None
        layers_5_attn_v_proj = getattr(self.layers, "5").attn.v_proj(mul_46)
        view_17 = layers_5_attn_v_proj.view(getitem_60, getitem_61, 2, 16);  layers_5_attn_v_proj = None
        transpose_22 = view_17.transpose(1, 2);  view_17 = None
        getattr_27 = mul_46.shape
        getitem_63 = getattr_27[1];  getattr_27 = None
        getattr_28 = mul_46.device;  mul_46 = None
        arange_5 = torch.arange(getitem_63, device = getattr_28, dtype = torch.float32);  getitem_63 = getattr_28 = None
        layers_5_attn_rotary_inv_freq = getattr(self.layers, "5").attn.rotary.inv_freq
        outer_5 = torch.outer(arange_5, layers_5_attn_rotary_inv_freq);  arange_5 = layers_5_attn_rotary_inv_freq = None
        cat_15 = torch.cat((outer_5, outer_5), dim = -1);  outer_5 = None
        cos_5 = cat_15.cos()
        getitem_64 = cos_5[(None, None)];  cos_5 = None
        sin_5 = cat_15.sin();  cat_15 = None
        getitem_65 = sin_5[(None, None)];  sin_5 = None
        mul_47 = transpose_20 * getitem_64
        getattr_29 = transpose_20.shape
        getitem_66 = getattr_29[-1];  getattr_29 = None
        floordiv_10 = getitem_66 // 2;  getitem_66 = None
        getitem_67 = transpose_20[(Ellipsis, slice(floordiv_10, None, None))]
        neg_10 = -getitem_67;  getitem_67 = None
        getitem_68 = transpose_20[(Ellipsis, slice(None, floordiv_10, None))];  transpose_20 = floordiv_10 = None
        cat_16 = torch.cat((neg_10, getitem_68), dim = -1);  neg_10 = getitem_68 = None
        mul_48 = cat_16 * getitem_65;  cat_16 = None
        add_31 = mul_47 + mul_48;  mul_47 = mul_48 = None
        mul_49 = transpose_21 * getitem_64;  getitem_64 = None
        getattr_30 = transpose_21.shape
        getitem_69 = getattr_30[-1];  getattr_30 = None
        floordiv_11 = getitem_69 // 2;  getitem_69 = None
        getitem_70 = transpose_21[(Ellipsis, slice(floordiv_11, None, None))]
        neg_11 = -getitem_70;  getitem_70 = None
        getitem_71 = transpose_21[(Ellipsis, slice(None, floordiv_11, None))];  transpose_21 = floordiv_11 = None
        cat_17 = torch.cat((neg_11, getitem_71), dim = -1);  neg_11 = getitem_71 = None
        mul_50 = cat_17 * getitem_65;  cat_17 = getitem_65 = None
        add_32 = mul_49 + mul_50;  mul_49 = mul_50 = None
        repeat_interleave_10 = add_32.repeat_interleave(2, dim = 1);  add_32 = None
        repeat_interleave_11 = transpose_22.repeat_interleave(2, dim = 1);  transpose_22 = None
        scaled_dot_product_attention_5 = torch._C._nn.scaled_dot_product_attention(add_31, repeat_interleave_10, repeat_interleave_11, is_causal = True);  add_31 = repeat_interleave_10 = repeat_interleave_11 = None
        transpose_23 = scaled_dot_product_attention_5.transpose(1, 2);  scaled_dot_product_attention_5 = None
        reshape_5 = transpose_23.reshape(getitem_60, getitem_61, 64);  transpose_23 = getitem_60 = getitem_61 = None
        layers_5_attn_o_proj = getattr(self.layers, "5").attn.o_proj(reshape_5);  reshape_5 = None
        add_33 = add_29 + layers_5_attn_o_proj;  add_29 = layers_5_attn_o_proj = None
        pow_12 = add_33.pow(2)
        mean_11 = pow_12.mean(-1, keepdim = True);  pow_12 = None
        add_34 = mean_11 + 1e-06;  mean_11 = None
        rsqrt_11 = torch.rsqrt(add_34);  add_34 = None
        mul_51 = add_33 * rsqrt_11;  rsqrt_11 = None
        layers_5_mlp_norm_weight = getattr(self.layers, "5").mlp_norm.weight
        mul_52 = mul_51 * layers_5_mlp_norm_weight;  mul_51 = layers_5_mlp_norm_weight = None
        layers_5_mlp_gate = getattr(self.layers, "5").mlp.gate(mul_52)
        silu_5 = torch.nn.functional.silu(layers_5_mlp_gate, inplace = False);  layers_5_mlp_gate = None
        layers_5_mlp_up = getattr(self.layers, "5").mlp.up(mul_52);  mul_52 = None
        mul_53 = silu_5 * layers_5_mlp_up;  silu_5 = layers_5_mlp_up = None
        layers_5_mlp_down = getattr(self.layers, "5").mlp.down(mul_53);  mul_53 = None
        add_35 = add_33 + layers_5_mlp_down;  add_33 = layers_5_mlp_down = None
        return (add_35,)


class Stage_s3(torch.nn.Module):
    """Segment `s3`: layers.6, layers.7, norm, head."""

    # (dotted name, kind) read from the full model: kind is module, param, buffer or
    # buffer-nonpersistent; names are the model's own, so state_dict keys match it.
    ADOPT = (
        ('layers.6.attn_norm.weight', 'param'),
        ('layers.6.attn.q_proj', 'module'),
        ('layers.6.attn.k_proj', 'module'),
        ('layers.6.attn.v_proj', 'module'),
        ('layers.6.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.6.attn.o_proj', 'module'),
        ('layers.6.mlp_norm.weight', 'param'),
        ('layers.6.mlp.gate', 'module'),
        ('layers.6.mlp.up', 'module'),
        ('layers.6.mlp.down', 'module'),
        ('layers.7.attn_norm.weight', 'param'),
        ('layers.7.attn.q_proj', 'module'),
        ('layers.7.attn.k_proj', 'module'),
        ('layers.7.attn.v_proj', 'module'),
        ('layers.7.attn.rotary.inv_freq', 'buffer-nonpersistent'),
        ('layers.7.attn.o_proj', 'module'),
        ('layers.7.mlp_norm.weight', 'param'),
        ('layers.7.mlp.gate', 'module'),
        ('layers.7.mlp.up', 'module'),
        ('layers.7.mlp.down', 'module'),
        ('norm.weight', 'param'),
        ('head', 'module'),
    )

    def __init__(self, model):
        super().__init__()
        for name, kind in self.ADOPT:
            *path, leaf = name.split(".")
            here, there = self, model
            for part in path:
                there = getattr(there, part)
                if part not in here._modules:
                    here.add_module(part, torch.nn.Module())
                here = here._modules[part]
            value = getattr(there, leaf)
            if kind == "module":
                here.add_module(leaf, value)
            elif kind == "param":
                here.register_parameter(leaf, value)
            else:
                here.register_buffer(leaf, value, persistent=kind == "buffer")

    def logits(self, add_35):
        pow_13 = add_35.pow(2)
        mean_12 = pow_13.mean(-1, keepdim = True);  pow_13 = None
        add_36 = mean_12 + 1e-06;  mean_12 = None
        rsqrt_12 = torch.rsqrt(add_36);  add_36 = None
        mul_54 = add_35 * rsqrt_12;  rsqrt_12 = None
        layers_6_attn_norm_weight = getattr(self.layers, "6").attn_norm.weight
        mul_55 = mul_54 * layers_6_attn_norm_weight;  mul_54 = layers_6_attn_norm_weight = None
        getattr_31 = mul_55.shape
        getitem_72 = getattr_31[0]
        getitem_73 = getattr_31[1];  getattr_31 = None
        layers_6_attn_q_proj = getattr(self.layers, "6").attn.q_proj(mul_55)
        view_18 = layers_6_attn_q_proj.view(getitem_72, getitem_73, 4, 16);  layers_6_attn_q_proj = None
        transpose_24 = view_18.transpose(1, 2);  view_18 = None
        layers_6_attn_k_proj = getattr(self.layers, "6").attn.k_proj(mul_55)
        view_19 = layers_6_attn_k_proj.view(getitem_72, getitem_73, 2, 16);  layers_6_attn_k_proj = None
        transpose_25 = view_19.transpose(1, 2);  view_19 = None
        layers_6_attn_v_proj = getattr(self.layers, "6").attn.v_proj(mul_55)
        view_20 = layers_6_attn_v_proj.view(getitem_72, getitem_73, 2, 16);  layers_6_attn_v_proj = None
        transpose_26 = view_20.transpose(1, 2);  view_20 = None
        getattr_32 = mul_55.shape
        getitem_75 = getattr_32[1];  getattr_32 = None
        getattr_33 = mul_55.device;  mul_55 = None
        arange_6 = torch.arange(getitem_75, device = getattr_33, dtype = torch.float32);  getitem_75 = getattr_33 = None
        layers_6_attn_rotary_inv_freq = getattr(self.layers, "6").attn.rotary.inv_freq
        outer_6 = torch.outer(arange_6, layers_6_attn_rotary_inv_freq);  arange_6 = layers_6_attn_rotary_inv_freq = None
        cat_18 = torch.cat((outer_6, outer_6), dim = -1);  outer_6 = None
        cos_6 = cat_18.cos()
        getitem_76 = cos_6[(None, None)];  cos_6 = None
        sin_6 = cat_18.sin();  cat_18 = None
        getitem_77 = sin_6[(None, None)];  sin_6 = None
        mul_56 = transpose_24 * getitem_76
        getattr_34 = transpose_24.shape
        getitem_78 = getattr_34[-1];  getattr_34 = None
        floordiv_12 = getitem_78 // 2;  getitem_78 = None
        getitem_79 = transpose_24[(Ellipsis, slice(floordiv_12, None, None))]
        neg_12 = -getitem_79;  getitem_79 = None
        getitem_80 = transpose_24[(Ellipsis, slice(None, floordiv_12, None))];  transpose_24 = floordiv_12 = None
        cat_19 = torch.cat((neg_12, getitem_80), dim = -1);  neg_12 = getitem_80 = None
        mul_57 = cat_19 * getitem_77;  cat_19 = None
        add_37 = mul_56 + mul_57;  mul_56 = mul_57 = None
        mul_58 = transpose_25 * getitem_76;  getitem_76 = None
        getattr_35 = transpose_25.shape
        getitem_81 = getattr_35[-1];  getattr_35 = None
        floordiv_13 = getitem_81 // 2;  getitem_81 = None
        getitem_82 = transpose_25[(Ellipsis, slice(floordiv_13, None, None))]
        neg_13 = -getitem_82;  getitem_82 = None
        getitem_83 = transpose_25[(Ellipsis, slice(None, floordiv_13, None))];  transpose_25 = floordiv_13 = None
        cat_20 = torch.cat((neg_13, getitem_83), dim = -1);  neg_13 = getitem_83 = None
        mul_59 = cat_20 * getitem_77;  cat_20 = getitem_77 = None
        add_38 = mul_58 + mul_59;  mul_58 = mul_59 = None
        repeat_interleave_12 = add_38.repeat_interleave(2, dim = 1);  add_38 = None
        repeat_interleave_13 = transpose_26.repeat_interleave(2, dim = 1);  transpose_26 = None
        scaled_dot_product_attention_6 = torch._C._nn.scaled_dot_product_attention(add_37, repeat_interleave_12, repeat_interleave_13, is_causal = True);  add_37 = repeat_interleave_12 = repeat_interleave_13 = None
        transpose_27 = scaled_dot_product_attention_6.transpose(1, 2);  scaled_dot_product_attention_6 = None
        reshape_6 = transpose_27.reshape(getitem_72, getitem_73, 64);  transpose_27 = getitem_72 = getitem_73 = None
        layers_6_attn_o_proj = getattr(self.layers, "6").attn.o_proj(reshape_6);  reshape_6 = None
        add_39 = add_35 + layers_6_attn_o_proj;  add_35 = layers_6_attn_o_proj = None
        pow_14 = add_39.pow(2)
        mean_13 = pow_14.mean(-1, keepdim = True);  pow_14 = None
        add_40 = mean_13 + 1e-06;  mean_13 = None
        rsqrt_13 = torch.rsqrt(add_40);  add_40 = None
        mul_60 = add_39 * rsqrt_13;  rsqrt_13 = None
        layers_6_mlp_norm_weight = getattr(self.layers, "6").mlp_norm.weight
        mul_61 = mul_60 * layers_6_mlp_norm_weight;  mul_60 = layers_6_mlp_norm_weight = None
        layers_6_mlp_gate = getattr(self.layers, "6").mlp.gate(mul_61)
        silu_6 = torch.nn.functional.silu(layers_6_mlp_gate, inplace = False);  layers_6_mlp_gate = None
        layers_6_mlp_up = getattr(self.layers, "6").mlp.up(mul_61);  mul_61 = None
        mul_62 = silu_6 * layers_6_mlp_up;  silu_6 = layers_6_mlp_up = None
        layers_6_mlp_down = getattr(self.layers, "6").mlp.down(mul_62);  mul_62 = None
        add_41 = add_39 + layers_6_mlp_down;  add_39 = layers_6_mlp_down = None
        pow_15 = add_41.pow(2)
        mean_14 = pow_15.mean(-1, keepdim = True);  pow_15 = None
        add_42 = mean_14 + 1e-06;  mean_14 = None
        rsqrt_14 = torch.rsqrt(add_42);  add_42 = None
        mul_63 = add_41 * rsqrt_14;  rsqrt_14 = None
        layers_7_attn_norm_weight = getattr(self.layers, "7").attn_norm.weight
        mul_64 = mul_63 * layers_7_attn_norm_weight;  mul_63 = layers_7_attn_norm_weight = None
        getattr_36 = mul_64.shape
        getitem_84 = getattr_36[0]
        getitem_85 = getattr_36[1];  getattr_36 = None
        layers_7_attn_q_proj = getattr(self.layers, "7").attn.q_proj(mul_64)
        view_21 = layers_7_attn_q_proj.view(getitem_84, getitem_85, 4, 16);  layers_7_attn_q_proj = None
        transpose_28 = view_21.transpose(1, 2);  view_21 = None
        layers_7_attn_k_proj = getattr(self.layers, "7").attn.k_proj(mul_64)
        view_22 = layers_7_attn_k_proj.view(getitem_84, getitem_85, 2, 16);  layers_7_attn_k_proj = None
        transpose_29 = view_22.transpose(1, 2);  view_22 = None
        layers_7_attn_v_proj = getattr(self.layers, "7").attn.v_proj(mul_64)
        view_23 = layers_7_attn_v_proj.view(getitem_84, getitem_85, 2, 16);  layers_7_attn_v_proj = None
        transpose_30 = view_23.transpose(1, 2);  view_23 = None
        getattr_37 = mul_64.shape
        getitem_87 = getattr_37[1];  getattr_37 = None
        getattr_38 = mul_64.device;  mul_64 = None
        arange_7 = torch.arange(getitem_87, device = getattr_38, dtype = torch.float32);  getitem_87 = getattr_38 = None
        layers_7_attn_rotary_inv_freq = getattr(self.layers, "7").attn.rotary.inv_freq
        outer_7 = torch.outer(arange_7, layers_7_attn_rotary_inv_freq);  arange_7 = layers_7_attn_rotary_inv_freq = None
        cat_21 = torch.cat((outer_7, outer_7), dim = -1);  outer_7 = None
        cos_7 = cat_21.cos()
        getitem_88 = cos_7[(None, None)];  cos_7 = None
        sin_7 = cat_21.sin();  cat_21 = None
        getitem_89 = sin_7[(None, None)];  sin_7 = None
        mul_65 = transpose_28 * getitem_88
        getattr_39 = transpose_28.shape
        getitem_90 = getattr_39[-1];  getattr_39 = None
        floordiv_14 = getitem_90 // 2;  getitem_90 = None
        getitem_91 = transpose_28[(Ellipsis, slice(floordiv_14, None, None))]
        neg_14 = -getitem_91;  getitem_91 = None
        getitem_92 = transpose_28[(Ellipsis, slice(None, floordiv_14, None))];  transpose_28 = floordiv_14 = None
        cat_22 = torch.cat((neg_14, getitem_92), dim = -1);  neg_14 = getitem_92 = None
        mul_66 = cat_22 * getitem_89;  cat_22 = None
        add_43 = mul_65 + mul_66;  mul_65 = mul_66 = None
        mul_67 = transpose_29 * getitem_88;  getitem_88 = None
        getattr_40 = transpose_29.shape
        getitem_93 = getattr_40[-1];  getattr_40 = None
        floordiv_15 = getitem_93 // 2;  getitem_93 = None
        getitem_94 = transpose_29[(Ellipsis, slice(floordiv_15, None, None))]
        neg_15 = -getitem_94;  getitem_94 = None
        getitem_95 = transpose_29[(Ellipsis, slice(None, floordiv_15, None))];  transpose_29 = floordiv_15 = None
        cat_23 = torch.cat((neg_15, getitem_95), dim = -1);  neg_15 = getitem_95 = None
        mul_68 = cat_23 * getitem_89;  cat_23 = getitem_89 = None
        add_44 = mul_67 + mul_68;  mul_67 = mul_68 = None
        repeat_interleave_14 = add_44.repeat_interleave(2, dim = 1);  add_44 = None
        repeat_interleave_15 = transpose_30.repeat_interleave(2, dim = 1);  transpose_30 = None
        scaled_dot_product_attention_7 = torch._C._nn.scaled_dot_product_attention(add_43, repeat_interleave_14, repeat_interleave_15, is_causal = True);  add_43 = repeat_interleave_14 = repeat_interleave_15 = None
        transpose_31 = scaled_dot_product_attention_7.transpose(1, 2);  scaled_dot_product_attention_7 = None
        reshape_7 = transpose_31.reshape(getitem_84, getitem_85, 64);  transpose_31 = getitem_84 = getitem_85 = None
        layers_7_attn_o_proj = getattr(self.layers, "7").attn.o_proj(reshape_7);  reshape_7 = None
        add_45 = add_41 + layers_7_attn_o_proj;  add_41 = layers_7_attn_o_proj = None
        pow_16 = add_45.pow(2)
        mean_15 = pow_16.mean(-1, keepdim = True);  pow_16 = None
        add_46 = mean_15 + 1e-06;  mean_15 = None
        rsqrt_15 = torch.rsqrt(add_46);  add_46 = None
        mul_69 = add_45 * rsqrt_15;  rsqrt_15 = None
        layers_7_mlp_norm_weight = getattr(self.layers, "7").mlp_norm.weight
        mul_70 = mul_69 * layers_7_mlp_norm_weight;  mul_69 = layers_7_mlp_norm_weight = None
        layers_7_mlp_gate = getattr(self.layers, "7").mlp.gate(mul_70)
        silu_7 = torch.nn.functional.silu(layers_7_mlp_gate, inplace = False);  layers_7_mlp_gate = None
        layers_7_mlp_up = getattr(self.layers, "7").mlp.up(mul_70);  mul_70 = None
        mul_71 = silu_7 * layers_7_mlp_up;  silu_7 = layers_7_mlp_up = None
        layers_7_mlp_down = getattr(self.layers, "7").mlp.down(mul_71);  mul_71 = None
        add_47 = add_45 + layers_7_mlp_down;  add_45 = layers_7_mlp_down = None
        pow_17 = add_47.pow(2)
        mean_16 = pow_17.mean(-1, keepdim = True);  pow_17 = None
        add_48 = mean_16 + 1e-06;  mean_16 = None
        rsqrt_16 = torch.rsqrt(add_48);  add_48 = None
        mul_72 = add_47 * rsqrt_16;  add_47 = rsqrt_16 = None
        norm_weight = self.norm.weight
        mul_73 = mul_72 * norm_weight;  mul_72 = norm_weight = None
        head = self.head(mul_73);  mul_73 = None
        return head


    def forward(self, add_35, labels):
        """Token-mean cross-entropy of the logits against `labels` (ignore_index -100)."""
        logits = self.logits(add_35)
        return torch.nn.functional.cross_entropy(
            logits.flatten(0, -2), labels.flatten(), ignore_index=-100
        )


STAGES = {
    's0': Stage_s0,
    's1': Stage_s1,
    's2': Stage_s2,
    's3': Stage_s3,
}

if __name__ == "__main__":
    sys.exit(main(PLAN, STAGES))
