"""Known result: attention solves MQAR, a small-state SSM of the same width does not.

Run:  .venv/bin/python benchmarks/mqar_known_result.py [--threads 2]

Zoology's finding (Arora et al. 2023, figure 2): attention solves multi-query
associative recall at every width, while recurrent models need a state that grows with the
number of pairs to remember. Here, on MQAR with length 64, 4 key-value pairs and a small
vocabulary (128), with zoology's model setup (2 layers, no MLP) and one training recipe:

  - `attn(heads=2)*2`, d_model 64: must reach ≥ 0.95 accuracy;
  - `ssd(d_state=8, headdim=16)*2`, d_model 64: a pure Mamba-2 model of the same width, whose
    recurrent state (heads · headdim · d_state = 8 · 16 · 8 = 1,024 numbers per layer) is 8×
    smaller than attention's KV cache at this length (2 · 64 · 64), must stay at least 0.2 below.

The script exits with status 1 if either claim fails. It takes a few minutes on 2 CPU cores (the
attention model stops early once it reaches 0.97; the SSD model trains the whole budget).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from hybridlab.results import Metric
from hybridlab.tasks import make_task
from hybridlab.train import TrainConfig, train_proxy

TASK = {
    "vocab_size": 128,
    "seq_len": 64,
    "num_kv_pairs": 4,
    "num_train_examples": 100_000,
    "num_eval_examples": 1_000,
}
MODELS = {
    "attention": "d_model: 64\nstack: attn(heads=2)*2\n",
    "ssd": "d_model: 64\nstack: ssd(d_state=8, headdim=16)*2\n",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    config = TrainConfig(
        steps=args.steps,
        batch_size=64,
        lr=3e-3,
        weight_decay=0.1,
        eval_every=100,
        target_accuracy=0.97,
        num_threads=args.threads,
        device="cpu",
        seed=0,
    )
    task = make_task("mqar", TASK)
    results = {}
    for name, spec in MODELS.items():
        start = time.perf_counter()

        def report(step, metrics, name=name, start=start):
            if Metric.EVAL_ACCURACY in metrics:
                elapsed = time.perf_counter() - start
                print(
                    f"  {name:9s} step {step:5d}  accuracy {metrics[Metric.EVAL_ACCURACY]:.3f}"
                    f"  ({elapsed:.0f} s)",
                    flush=True,
                )

        result = train_proxy(spec, task, config, report=report)
        results[name] = result
        print(
            f"{name}: {result.spec} — accuracy {result.accuracy:.3f} after {result.steps_done} "
            f"steps ({result.stop_reason}), {result.wall_time_s:.0f} s, "
            f"{result.tokens_per_s:,.0f} tokens/s, {result.params:,} params, "
            f"state {result.state_bytes:,} bytes at length 64"
        )
    attention, ssd = results["attention"].accuracy or 0.0, results["ssd"].accuracy or 0.0
    ok = attention >= 0.95 and ssd <= attention - 0.2
    print(
        f"{'PASS' if ok else 'FAIL'}: attention {attention:.3f} ≥ 0.95, ssd {ssd:.3f} ≤ "
        f"attention − 0.2 ({torch.get_num_threads()} threads, torch {torch.__version__})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
