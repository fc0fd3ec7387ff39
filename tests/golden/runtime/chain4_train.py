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
    --steps N                                           total steps of the run (default: the spec's)
    --resume                                            continue from the newest complete checkpoint in --ckpt-dir
    --init-from FILE                                    start from a state_dict (`pgc init-model`, `pgc export-model`)
    --import-root DIR                                   folder the model's module imports from (or PGC_IMPORT_ROOT)
    --ckpt-dir D --ckpt-every N --keep K                checkpoints (default: the spec's)
    --optimizer --lr --clip                             override the spec's optimizer settings
    --eval [--skip-ratio K | --skip-stages a,b]         held-out loss with stages removed
    --emulate-network --emulate-compute --time-scale X  rehearse the predicted times
    --trace DIR                                         per-worker Chrome traces on one clock
    --timeout S                                         seconds a wait may take before the run fails, naming the worker (default: 20 predicted steps, at least 60 s)
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the runtime beside this file
from pgc_runtime.main import prepare, run_script  # noqa: E402
from pgc_runtime.stage import Stage  # noqa: E402

# the validated plan; the model's import root goes on sys.path before its module loads
PLAN = prepare(Path(__file__).resolve().with_name("plan.json"))


class Stage_s0(Stage):
    """Segment `s0`: embed, layers.0, layers.1."""

    ADOPT = (
        ('embed', 'module'),
        ('layers.0', 'module'),
        ('layers.1', 'module'),
    )

    def forward(self, input_ids):
        embed = self.embed(input_ids);  input_ids = None
        layers_0 = getattr(self.layers, "0")(embed);  embed = None
        layers_1 = getattr(self.layers, "1")(layers_0);  layers_0 = None
        return (layers_1,)


class Stage_s1(Stage):
    """Segment `s1`: layers.2, layers.3."""

    ADOPT = (
        ('layers.2', 'module'),
        ('layers.3', 'module'),
    )

    def forward(self, layers_1):
        layers_2 = getattr(self.layers, "2")(layers_1);  layers_1 = None
        layers_3 = getattr(self.layers, "3")(layers_2);  layers_2 = None
        return (layers_3,)


class Stage_s2(Stage):
    """Segment `s2`: layers.4, layers.5."""

    ADOPT = (
        ('layers.4', 'module'),
        ('layers.5', 'module'),
    )

    def forward(self, layers_3):
        layers_4 = getattr(self.layers, "4")(layers_3);  layers_3 = None
        layers_5 = getattr(self.layers, "5")(layers_4);  layers_4 = None
        return (layers_5,)


class Stage_s3(Stage):
    """Segment `s3`: layers.6, layers.7, norm, head."""

    ADOPT = (
        ('layers.6', 'module'),
        ('layers.7', 'module'),
        ('norm', 'module'),
        ('head', 'module'),
    )

    def logits(self, layers_5):
        layers_6 = getattr(self.layers, "6")(layers_5);  layers_5 = None
        layers_7 = getattr(self.layers, "7")(layers_6);  layers_6 = None
        norm = self.norm(layers_7);  layers_7 = None
        head = self.head(norm);  norm = None
        return head


    def forward(self, layers_5, labels):
        """Token-mean cross-entropy of the logits against `labels` (ignore_index -100)."""
        logits = self.logits(layers_5)
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
    run_script(PLAN, STAGES)
