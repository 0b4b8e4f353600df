"""Tiny study and space files for the search tests: trials of a fraction of a second."""

from __future__ import annotations

from pathlib import Path

TINY_SPACE = """\
knobs:
  d_model: {choice: [16, 32]}
  kind: {choice: [ssd, scan, attn]}
  d_state: {choice: [4, 8]}
  mlp: {choice: [false, true]}
model:
  d_model: ${knobs.d_model}
  layout: {depth: 1, placement: spread, ssm: ssd, mlp: "${knobs.mlp}"}
  defaults:
    ssd: {d_state: "${knobs.d_state}", headdim: 8}
constraints:
  - "params < 1e6"
"""

# A space where the layer kind is a knob: the stack interpolates it.
KIND_SPACE = """\
knobs:
  d_model: {choice: [16, 32]}
  kind: {choice: [ssd, scan, attn]}
  d_state: {choice: [4, 8]}
model:
  d_model: ${knobs.d_model}
  stack: "${knobs.kind}"
  defaults:
    ssd: {d_state: "${knobs.d_state}", headdim: 8}
    scan: {d_state: "${knobs.d_state}"}
    attn: {heads: 2}
"""

TINY_STUDY = """\
name: tiny
space: space.yaml
task: {{name: mqar, vocab_size: 32, seq_len: 16, num_kv_pairs: 2, num_train_examples: 32,
        num_eval_examples: 16}}
train: {{steps: {steps}, batch_size: 4, lr: 3.0e-3, eval_every: null, device: cpu,
         num_threads: 1, seed: 0}}
objectives:
  - {{name: accuracy}}
  - {{name: params}}
  - {{name: state_bytes, context: 16}}
sampler: {{name: {sampler}, seed: 0}}
budget: {{trials: {trials}}}
executor: {executor}
output: {output}
"""


def write_study(
    folder: Path,
    *,
    space: str = KIND_SPACE,
    trials: int = 3,
    steps: int = 3,
    sampler: str = "random",
    output: str | None = None,
    extra: str = "",
    executor: str = "{backend: inline}",
) -> Path:
    """Write `space.yaml` and `study.yaml` into `folder`; return the study file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(space)
    out = output if output is not None else str(folder / "out")
    # Studies log to MLflow by default; these tiny ones do not unless a test asks for it.
    if "tracking" not in extra:
        extra = "tracking: none\n" + extra
    text = (
        TINY_STUDY.format(
            steps=steps, sampler=sampler, trials=trials, output=out, executor=executor
        )
        + extra
    )
    path = folder / "study.yaml"
    path.write_text(text)
    return path
