"""Training throughput of hybridlab's proxies next to HF transformers' Mamba-2 and Llama.

Run:  .venv/bin/python benchmarks/train_throughput.py [--threads 2] [--rounds 7] [--shapes ...]
      .venv/bin/python benchmarks/train_throughput.py --proxies [--threads 1]
      .venv/bin/python benchmarks/train_throughput.py --members [--archs ssd attn] [--batch 8]
Needs: pip install -e ".[bench]" (transformers; not for --proxies or --members). Runs offline,
on CPU, fp32.

`--members` measures what members cost (`hybridlab.train.members`): the quickstart's task,
train settings and architectures (read from studies/quickstart.yaml), 1 thread, each
architecture trained by `train_proxy` alone and by `train_members` with 1, 2, 4 and 8 members
(seeds × the quickstart's race rates), in interleaved rounds, median of the rounds. Time is the
training steps' (the results' tokens/s: forward, backward, optimizer step; model building and
evaluation excluded), printed as member steps per second (members × steps / s) and as the
group's step time over the lone run's (target: 4 members ≤ 2.5x).

`--proxies` answers a different question: what a study pays per trial. At the quickstart's
shapes (MQAR, batch 64 × length 64, vocab 80) it races SSD, selective-scan and hybrid proxies
against an attention proxy with the same parameter count (its d_model chosen to match) and
prints each one's tokens/s as a ratio to attention's (target: >= 0.8).

Pairs of identical shape, each measured side by side in one process:
  - hybridlab `ssd*L` (pure Mamba-2 blocks, no MLP) vs `Mamba2ForCausalLM` (HF's torch path: no
    CUDA kernels here), same d_model, layers, d_state, headdim, expand, ngroups, conv, chunk size,
    vocab, tied embeddings;
  - hybridlab `[attn, mlp]*L` vs `LlamaForCausalLM` (SDPA attention), same d_model, layers, heads,
    SwiGLU width, RoPE, vocab, tied embeddings.
Parity comes first (the rule of benchmarks/: a speedup counts only when the outputs agree): HF's
weights are copied into the hybridlab model and the logits must agree to a relative RMS error of
1e-4; the script stops otherwise. Parameter counts of both are printed.

A training step is forward, cross-entropy over every token, backward, AdamW step. Steps are timed
in rounds that alternate between the two models (so that a busy machine slows both alike); the
median round gives tokens/s = batch · length / seconds per step.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

# HF may look kernels up on the Hub; this benchmark never touches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import torch.nn.functional as F

import hybridlab


def _hf():
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - optional dependency
        raise SystemExit('transformers is missing: pip install -e ".[bench]"') from err
    transformers.logging.set_verbosity_error()
    return transformers


def mamba2_pair(d_model, layers, d_state, headdim, expand, chunk, vocab):
    tf = _hf()
    config = tf.Mamba2Config(
        vocab_size=vocab,
        hidden_size=d_model,
        num_hidden_layers=layers,
        state_size=d_state,
        expand=expand,
        head_dim=headdim,
        num_heads=expand * d_model // headdim,
        n_groups=1,
        conv_kernel=4,
        chunk_size=chunk,
        use_bias=False,
        use_conv_bias=True,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        residual_in_fp32=True,
    )
    hf = tf.Mamba2ForCausalLM(config)
    spec = hybridlab.parse(
        f"ssd(d_state={d_state}, headdim={headdim}, expand={expand}, chunk_size={chunk})*{layers}",
        d_model=d_model,
        vocab_size=vocab,
    )
    ours = hybridlab.build_model(spec)
    sd = hf.state_dict()
    mapped = {"embedding.weight": sd["backbone.embeddings.weight"]}
    mapped["norm_f.weight"] = sd["backbone.norm_f.weight"]
    for i in range(layers):
        src, dst = f"backbone.layers.{i}.", f"blocks.{i}."
        mapped[dst + "norm.weight"] = sd[src + "norm.weight"]
        for name in (
            "in_proj.weight",
            "conv1d.bias",
            "dt_bias",
            "A_log",
            "D",
            "norm.weight",
            "out_proj.weight",
        ):
            mapped[dst + "layer." + name] = sd[src + "mixer." + name]
        # HF's nn.Conv1d weight is (C, 1, K); the depthwise ShortConvolution keeps (C, K).
        mapped[dst + "layer.conv1d.weight"] = sd[src + "mixer.conv1d.weight"].squeeze(1)
    _load(ours, mapped)
    return spec, ours, hf


def llama_pair(d_model, layers, heads, vocab, seq_len):
    tf = _hf()
    spec = hybridlab.parse(
        f"[attn(heads={heads}), mlp]*{layers}", d_model=d_model, vocab_size=vocab
    )
    hidden = spec.layers[1].hidden_dim(d_model)
    config = tf.LlamaConfig(
        vocab_size=vocab,
        hidden_size=d_model,
        intermediate_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=seq_len,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
    )
    hf = tf.LlamaForCausalLM(config)
    hf.config._attn_implementation = "sdpa"
    ours = hybridlab.build_model(spec)
    sd = hf.state_dict()
    mapped = {"embedding.weight": sd["model.embed_tokens.weight"]}
    mapped["norm_f.weight"] = sd["model.norm.weight"]
    for i in range(layers):
        src, attn, mlp = f"model.layers.{i}.", f"blocks.{2 * i}.", f"blocks.{2 * i + 1}."
        mapped[attn + "norm.weight"] = sd[src + "input_layernorm.weight"]
        mapped[attn + "layer.q_proj.weight"] = sd[src + "self_attn.q_proj.weight"]
        mapped[attn + "layer.kv_proj.weight"] = torch.cat(
            [sd[src + "self_attn.k_proj.weight"], sd[src + "self_attn.v_proj.weight"]]
        )
        mapped[attn + "layer.out_proj.weight"] = sd[src + "self_attn.o_proj.weight"]
        mapped[mlp + "norm.weight"] = sd[src + "post_attention_layernorm.weight"]
        mapped[mlp + "layer.w_in.weight"] = torch.cat(
            [sd[src + "mlp.gate_proj.weight"], sd[src + "mlp.up_proj.weight"]]
        )
        mapped[mlp + "layer.w_out.weight"] = sd[src + "mlp.down_proj.weight"]
    _load(ours, mapped)
    return spec, ours, hf


def _load(model, mapped):
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    # The tied output head is the embedding; nothing else may be left out.
    missing = [m for m in missing if m != "lm_head.weight"]
    assert not missing and not unexpected, (missing, unexpected)


def logits_of(model, ids):
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out


def check_parity(name, ours, hf, ids):
    with torch.no_grad():
        a, b = logits_of(ours, ids), logits_of(hf, ids)
    err = ((a - b).norm() / b.norm()).item()
    status = "ok" if err < 1e-4 else "MISMATCH"
    print(f"parity {name}: relative RMS error of logits {err:.2e} ({status})")
    if err >= 1e-4:
        raise SystemExit(f"{name}: hybridlab and HF disagree; no speed is reported")


def make_step(model, ids):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step():
        logits = logits_of(model, ids)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def race(steps: dict, tokens_per_step: int, rounds: int, steps_per_round: int) -> dict:
    """Median tokens/s of each step function, timed in alternating rounds."""
    for step in steps.values():
        step()  # warm-up
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            tick = time.perf_counter()
            for _ in range(steps_per_round):
                step()
            times[name].append((time.perf_counter() - tick) / steps_per_round)
    return {name: tokens_per_step / statistics.median(t) for name, t in times.items()}


# Two proxy shapes: a small language-model proxy, and the MQAR proxy of the known result.
SHAPES = {
    "proxy": dict(
        d_model=128, layers=4, batch=8, seq_len=256, vocab=256, d_state=64, headdim=32, heads=4
    ),
    "mqar": dict(
        d_model=64, layers=2, batch=64, seq_len=64, vocab=128, d_state=16, headdim=16, heads=2
    ),
}


def run_shape(name: str, shape: dict, rounds: int, steps_per_round: int) -> list[tuple]:
    B, T, V, D, L = (shape[k] for k in ("batch", "seq_len", "vocab", "d_model", "layers"))
    print(f"\nshape {name!r}: d_model {D}, {L} layers, batch {B} x length {T}, vocab {V}")
    ids = torch.randint(0, V, (B, T))
    ssd = mamba2_pair(D, L, shape["d_state"], shape["headdim"], expand=2, chunk=64, vocab=V)
    llama = llama_pair(D, L, shape["heads"], vocab=V, seq_len=T)
    rows = []
    for model, (spec, ours, hf) in (("Mamba-2 (pure SSD)", ssd), ("Llama (attn + SwiGLU)", llama)):
        n_ours = sum(p.numel() for p in ours.parameters())
        n_hf = sum(p.numel() for p in hf.parameters())
        print(f"{model}: hybridlab {spec.format()!r} {n_ours:,} params; HF {n_hf:,} params")
        assert n_ours == n_hf == hybridlab.count_params(spec), (n_ours, n_hf)
        check_parity(model, ours, hf, ids)
        speed = race(
            {"hybridlab": make_step(ours, ids), "hf": make_step(hf, ids)},
            B * T,
            rounds,
            steps_per_round,
        )
        rows.append((name, model, n_ours, speed["hybridlab"], speed["hf"]))
    return rows


# The quickstart's proxies (MQAR, batch 64 x length 64, vocab 80), against attention of equal
# parameter count. Two mixers each; the attention proxy's d_model is matched per row.
PROXIES = (
    "ssd(d_state=16, headdim=16)*2",
    "scan(d_state=8)*2",
    "ssd(d_state=16, headdim=16), attn(heads=2)",
)


def attention_match(params: int, vocab: int) -> tuple[str, int]:
    """The `attn(heads=2)*2` stack, and its d_model, whose parameter count is nearest `params`."""
    best = min(
        range(16, 513, 4),
        key=lambda d: abs(
            hybridlab.count_params(hybridlab.parse("attn(heads=2)*2", d_model=d, vocab_size=vocab))
            - params
        ),
    )
    return "attn(heads=2)*2", best


def run_proxies(rounds: int, steps_per_round: int) -> None:
    B, T, V, D = 64, 64, 80, 64
    ids = torch.randint(0, V, (B, T))
    print("\n| proxy | params | tokens/s | attention of equal params | its tokens/s | ratio |")
    print("|---|---|---|---|---|---|")
    for text in PROXIES:
        spec = hybridlab.parse(text, d_model=D, vocab_size=V)
        n = hybridlab.count_params(spec)
        attn_text, attn_d = attention_match(n, V)
        attn_spec = hybridlab.parse(attn_text, d_model=attn_d, vocab_size=V)
        speed = race(
            {
                "proxy": make_step(hybridlab.build_model(spec), ids),
                "attn": make_step(hybridlab.build_model(attn_spec), ids),
            },
            B * T,
            rounds,
            steps_per_round,
        )
        print(
            f"| `{text}` (d_model {D}) | {n:,} | {speed['proxy']:,.0f} | `{attn_text}` (d_model "
            f"{attn_d}), {hybridlab.count_params(attn_spec):,} | {speed['attn']:,.0f} | "
            f"{speed['proxy'] / speed['attn']:.2f}x |"
        )


QUICKSTART = Path(__file__).resolve().parent.parent / "studies" / "quickstart.yaml"
# The quickstart's space by its knobs: SSD (its larger state), attention, and the hybrid.
MEMBER_ARCHS = {
    "ssd": {"attn_ratio": 0.0, "ssd.d_state": 32},
    "attn": {"attn_ratio": 1.0, "ssd.d_state": None},
    "hybrid": {"attn_ratio": 0.5, "ssd.d_state": 32},
}
MEMBER_COUNTS = (1, 2, 4, 8)


def run_members(archs: list[str], rounds: int, steps: int, batch: int | None) -> None:
    """Member steps/s of each architecture against its lone run, in interleaved rounds."""
    from hybridlab.study.config import load_plan
    from hybridlab.train import train_proxy
    from hybridlab.train.members import member_grid, train_members

    plan = load_plan(QUICKSTART)
    task, race = plan.task, plan.train.lr_race
    # The quickstart's settings, shorter; members sweep the race's rates instead of racing.
    config = dataclasses.replace(
        plan.train, steps=steps, lr_race=[], eval_every=None, max_eval_examples=64, num_threads=1
    )
    if batch is not None:  # where per-op overhead weighs more than at the quickstart's 64
        config = dataclasses.replace(config, batch_size=batch)
    groups = {k: member_grid(range(-(-k // len(race))), race)[:k] for k in MEMBER_COUNTS}
    print(
        f"quickstart: {task.describe()}, batch {config.batch_size}, {steps} steps per run, "
        f"rates {race}"
    )
    print(
        "\n| architecture | lone run: member steps/s | "
        + " | ".join(f"{k} member{'s' * (k > 1)}: steps/s (time / lone)" for k in MEMBER_COUNTS)
        + " |"
    )
    print("|---|---|" + "---|" * len(MEMBER_COUNTS))
    tokens = config.batch_size * task.seq_len
    for name in archs:
        spec = plan.space.build(MEMBER_ARCHS[name], task.vocab_size)
        warm = dataclasses.replace(config, steps=2)  # first allocations, kernels' caches
        train_proxy(spec, task, warm)
        train_members(spec, task, warm, groups[MEMBER_COUNTS[-1]])
        step_s: dict[int | str, list[float]] = {"lone": [], **{k: [] for k in MEMBER_COUNTS}}
        for _ in range(rounds):
            lone = train_proxy(spec, task, dataclasses.replace(config, lr=race[0]))
            step_s["lone"].append(tokens / lone.tokens_per_s)
            for k, members in groups.items():
                results = train_members(spec, task, config, members)
                step_s[k].append(tokens / results[0].tokens_per_s)  # the group's step time
        lone_s = statistics.median(step_s["lone"])
        cells = []
        for k in MEMBER_COUNTS:
            group_s = statistics.median(step_s[k])
            cells.append(f"{k / group_s:.2f} ({group_s / lone_s:.2f}x)")
        print(f"| `{spec.format()}` | {1 / lone_s:.2f} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--proxies", action="store_true", help="Proxies against attention of equal params."
    )
    parser.add_argument(
        "--members", action="store_true", help="Members/s against one member (1 thread)."
    )
    parser.add_argument("--archs", nargs="+", default=list(MEMBER_ARCHS), choices=MEMBER_ARCHS)
    parser.add_argument("--steps", type=int, default=10, help="Training steps per --members run.")
    parser.add_argument("--batch", type=int, help="--members: another batch size than 64.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps-per-round", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    torch.set_num_threads(1 if args.members else args.threads)
    torch.manual_seed(0)
    if args.members:
        print(
            f"{date.today()}  {platform.machine()}, 1 thread, torch {torch.__version__}, fp32, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        run_members(args.archs, args.rounds, args.steps, args.batch)
        return
    if args.proxies:
        print(
            f"{date.today()}  {platform.machine()}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}, fp32"
        )
        run_proxies(args.rounds, args.steps_per_round)
        return
    print(
        f"{date.today()}  {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, transformers {_hf().__version__}, fp32"
    )
    rows = []
    for name in args.shapes:
        rows += run_shape(name, SHAPES[name], args.rounds, args.steps_per_round)
    print()
    print("| shape | model | params | hybridlab tokens/s | HF tokens/s | hybridlab / HF |")
    print("|---|---|---|---|---|---|")
    for shape, model, n, ours_tps, hf_tps in rows:
        print(
            f"| {shape} | {model} | {n:,} | {ours_tps:,.0f} | {hf_tps:,.0f} | "
            f"{ours_tps / hf_tps:.2f}x |"
        )


if __name__ == "__main__":
    main()
