"""Synthetic ring specs of any size for planner scaling and robustness (no model is built:
`seconds_per_sample_per_layer` fills every segment's profile)."""

from __future__ import annotations

NODE = '{{ rate = {rate} TFLOPS; memory = 80 GiB; region = "{region}" }}'


def ring_spec(workers: int = 12, *, stages: int = 5, origins: int = 2, per_origin: int = 3,
              swap: int = 1, skip: str = "1/3", auto: bool = False, unused: int = 0,
              regions: int = 4) -> str:
    """A ring pipeline: `origin` on `origins` workers and `stages` body stages, over `workers`
    workers spread round robin over `regions` regions (half of them at half speed), plus
    `unused` declared workers no stage uses. Explicit placement gives each body stage an equal
    block of the remaining workers; `auto` leaves the body to the planner."""
    lines = ['model m = "examples.models.llama:build" {',
             f"  vocab = 32000, dim = 2048, layers = {2 * stages + 2}, heads = 16, "
             "max_seq = 4096", "}"]
    for i in range(workers):
        lines.append(f"node n{i} " + NODE.format(rate=100 if i % 2 == 0 else 50,
                                                 region=f"r{i % regions}"))
    for start in range(0, unused, 10000):
        lines.append(f"node spare[{start}..{min(unused, start + 10000) - 1}] "
                     + NODE.format(rate=100, region="spare"))
    lines += ["link intra { latency = 1 ms; bandwidth = 1 GiB/s }",
              "link default { latency = 40 ms; bandwidth = 200 Mbps }",
              "pipeline p {", "  model = m", "  layout = ring",
              "  origin { prologue = [embed, layers[0:2]]; epilogue = [norm, head] }",
              f"  stages s[1..{stages}] = layers[2:{2 * stages + 2}] balanced by layers",
              f"  place origin on n[0..{origins - 1}]"]
    body = (workers - origins) // stages
    if auto:
        lines += ["  place s[*] on auto", f"  replicas s[1..{stages}] = {body}"]
    else:
        for k in range(stages):
            first = origins + k * body
            lines.append(f"  place s{k + 1} on n[{first}..{first + body - 1}]")
    lines += [f"  microbatch {{ size = 2; seq = 4096; per_origin = {per_origin} }}",
              "  inflight = 3", f"  skip {{ ratio = {skip}; never = [origin] }}",
              f"  swap {{ max = {swap} }}", "  schedule skippipe",
              "  cost { seconds_per_sample_per_layer = 55 ms; backward = 1.5x; "
              "message_overhead = 350 ms; activation_dtype = fp16 }", "}"]
    return "\n".join(lines) + "\n"
