"""Greedy decode throughput of hybridlab's HybridLM next to HF transformers' models of identical
shape: a pure-SSD stack against `Mamba2ForCausalLM`, an `[attn, mlp]` stack against
`LlamaForCausalLM`, at contexts 1k and 8k, batch 1 and 8.

Run:  .venv/bin/python benchmarks/decode.py [--threads 1] [--contexts 1024 8192] [--batches 1 8]
      .venv/bin/python benchmarks/decode.py --quick      # small shapes: a smoke test
Needs: pip install -e ".[bench]" (transformers). Offline, CPU, fp32.

Parity first (the rule of benchmarks/): HF's weights are copied into hybridlab's model
(`train_throughput.py`'s pairs), the prefill logits must agree to a relative RMS error of 1e-4,
and the greedy tokens of the timed decode must be equal; a pair that fails reports no speed.
Decode: after a prefill of the prompt (untimed), runs of `--steps` greedy steps (argmax
included; hybridlab `HybridLM.decode`, HF its forward with `cache=`, the cache its forward
returns: the `DynamicCache` / `Mamba2Cache` that `generate` uses), alternating between the two
models run by run so that a busy machine slows both alike; tokens/s = batch · steps / median
seconds of a run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import _hf, llama_pair, mamba2_pair  # the weight-copied pairs

TARGET = 1.5


class HFDecoder:
    def __init__(self, model):
        self.model = model

    def prefill(self, ids):
        out = self.model(ids, use_cache=True, logits_to_keep=1)
        self.cache = out.cache
        return out.logits[:, -1]

    def decode(self, token, steps):
        out = []
        for _ in range(steps):
            logits = self.model(token[:, None], cache=self.cache, use_cache=True).logits[:, -1]
            token = logits.argmax(-1)
            out.append(token)
        return torch.stack(out, 1)


class OursDecoder:
    def __init__(self, model, max_len):
        self.model, self.max_len = model, max_len

    def prefill(self, ids):
        self.cache = self.model.allocate_cache(ids.shape[0], self.max_len)
        return self.model(ids, self.cache)[:, -1]

    def decode(self, token, steps):
        return self.model.decode(token, self.cache, steps)


@torch.no_grad()
def race(name, ours, hf, batch, context, vocab, runs, steps):
    gen = torch.Generator().manual_seed(context + batch)
    ids = torch.randint(0, vocab, (batch, context), generator=gen)
    decoders = {"hybridlab": OursDecoder(ours, context + (runs + 2) * steps), "hf": HFDecoder(hf)}
    logits = {k: d.prefill(ids) for k, d in decoders.items()}
    err = ((logits["hybridlab"] - logits["hf"]).norm() / logits["hf"].norm()).item()
    tokens = {k: v.argmax(-1) for k, v in logits.items()}
    chosen = {k: [tokens[k][:, None]] for k in decoders}
    times = {k: [] for k in decoders}
    for run in range(runs + 1):
        for k, d in decoders.items():
            tick = time.perf_counter()
            out = d.decode(tokens[k], steps)
            if run:  # the first run is the warm-up
                times[k].append(time.perf_counter() - tick)
            tokens[k] = out[:, -1]
            chosen[k].append(out)
    same = torch.equal(torch.cat(chosen["hybridlab"], 1), torch.cat(chosen["hf"], 1))
    tps = {k: batch * steps / statistics.median(t) for k, t in times.items()}
    ok = err < 1e-4 and same
    print(
        f"{name:<22} context {context:>5} batch {batch}: logits rel RMS {err:.1e}, greedy "
        f"{'equal' if same else 'DIFFERENT'}; hybridlab {tps['hybridlab']:,.0f} tok/s, HF "
        f"{tps['hf']:,.0f} tok/s",
        flush=True,
    )
    return (name, context, batch, tps["hybridlab"], tps["hf"], ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--contexts", type=int, nargs="+", default=[1024, 8192])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="contexts 64, batch 1, 2 runs")
    args = parser.parse_args()
    if args.quick:
        args.contexts, args.batches, args.runs, args.steps = [64], [1], 2, 4
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    D, L, V = args.d_model, args.layers, args.vocab
    print(
        f"{date.today()}  {platform.machine()}, {torch.get_num_threads()} thread(s), torch "
        f"{torch.__version__}, transformers {_hf().__version__}, fp32; d_model {D}, {L} layers "
        f"(SSD: d_state 64, headdim 64, expand 2; Llama: 4 heads, SwiGLU), vocab {V}"
    )
    pairs = {
        "Mamba-2 (pure SSD)": mamba2_pair(D, L, 64, 64, expand=2, chunk=64, vocab=V),
        "Llama (attn + SwiGLU)": llama_pair(D, L, 4, vocab=V, seq_len=max(args.contexts) + 512),
    }
    rows = []
    for name, (_spec, ours, hf) in pairs.items():
        ours.eval(), hf.eval()
        for context in args.contexts:
            for batch in args.batches:
                rows.append(race(name, ours, hf, batch, context, V, args.runs, args.steps))
    print()
    print("| model | context | batch | hybridlab tok/s | HF tok/s | hybridlab / HF | parity |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, context, batch, ours_tps, hf_tps, ok in rows:
        ratio = f"{ours_tps / hf_tps:.2f}x" if ok else "-"
        print(
            f"| {name} | {context:,} | {batch} | {ours_tps:,.0f} | {hf_tps:,.0f} | {ratio} | "
            f"{'ok' if ok else 'FAILED'} |"
        )
    met = [ok and o / h >= TARGET for *_, o, h, ok in rows]
    print(f"\ntarget >= {TARGET}x met in {sum(met)} of {len(met)} rows")


if __name__ == "__main__":
    main()
