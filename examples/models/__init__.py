"""Small example models written for pgc: a LLaMA-style and a GPT-2-style decoder.

Both are plain `torch.nn` code that `torch.fx.symbolic_trace` can capture; both expose their
blocks as a `ModuleList` so specs can select them with slices (`layers[2:6]`, `h[0:4]`).
"""
