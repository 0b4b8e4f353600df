"""Published findings, reproduced with hybridlab's own studies, and kept reproduced.

Run:  .venv/bin/python benchmarks/findings.py [--only NAME ...] [--reuse] [--out runs/findings]

Each finding is a study in `studies/findings/` (its header says the claim and the command),
run through `hybridlab study run` (local Ray, MLflow, the study's storage) once per variant:
each seed, and each task setting the claim ranges over. The script then reads every trial's
measured values from the studies' storage, judges the claim, prints a markdown table per finding
and draws its figure into `docs/findings/`.

A claim counts as reproduced only when it holds beyond seed noise: with two seeds, the two
ranges compared must not overlap (the worse seed of the better side beats the better seed of the
worse side). `docs/findings.md` holds the result of each finding, claim by claim; `PAGE_SAYS`
below is what it says. The script exits 1 when a claim the page says holds no longer does (and
says so when one the page says fails now holds: a change worth a look, not a failure).

`--reuse` reads the runs already in `--out` and runs only what is missing (a study that stopped
part way is resumed by `hybridlab study run` itself). Wall time per run is the `study run`
command's, Ray's start included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies" / "findings"
FIGURES = ROOT / "docs" / "findings"

# What docs/findings.md says of each finding's claims, in the order its judge lists them: True =
# the claim holds (beyond seed noise), False = it does not. Keep the two in step.
PAGE_SAYS: dict[str, tuple[bool, ...]] = {
    "zoology_mqar": (True, True, False),
    "hybrid_minority": (True, True),
    "mad_ordering": (False, True),
    "gdn_vs_mamba2": (True, False),
    "raw_bytes": (True, False),
}


@dataclass(frozen=True)
class Variant:
    """One `study run` of a finding: its folder name, the overrides, and what it varies."""

    key: str
    overrides: tuple[str, ...]
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    reproduced: bool
    claims: list[tuple[str, bool, str]]  # (claim, holds, the numbers behind it)
    table: list[str]  # markdown lines


@dataclass
class Results:
    """A finding's runs: per variant, {stack: objective values in the study's order}."""

    variants: tuple[Variant, ...]
    runs: dict[str, dict[str, tuple[float, ...]]] = field(default_factory=dict)

    def values(self, stack: str, index: int = 0, **tags: Any) -> list[float]:
        """One objective of `stack` over the variants whose tags match, in variant order."""
        return [
            self.runs[v.key][stack][index]
            for v in self.variants
            if stack in self.runs.get(v.key, {})
            and all(v.tags.get(k) == val for k, val in tags.items())
        ]

    @property
    def seeds(self) -> list[int]:
        return sorted({v.tags["seed"] for v in self.variants})


@dataclass(frozen=True)
class Finding:
    name: str
    title: str
    variants: tuple[Variant, ...]
    judge: Callable[[Finding, Results], Verdict]
    draw: Callable[[Finding, Results, Path], None]

    @property
    def study(self) -> Path:
        return STUDIES / f"{self.name}.yaml"


# --- Small statistics: n is 1 or 2 seeds here, so ranges, not intervals. --------------------------


def mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def above(better: list[float], worse: list[float]) -> bool:
    """`better` beats `worse` beyond seed noise: its worst run beats the other's best."""
    return bool(better and worse) and min(better) > max(worse)


def fmt(xs: list[float], digits: int = 3) -> str:
    """Mean and the runs, e.g. `0.512 (0.498, 0.526)`."""
    if not xs:
        return "—"
    runs = ", ".join(f"{x:.{digits}f}" for x in xs)
    return f"{mean(xs):.{digits}f}" + (f" ({runs})" if len(xs) > 1 else "")


def seeds_variants(seeds: list[int], extra: tuple[str, ...] = (), **tags: Any) -> list[Variant]:
    prefix = "-".join(f"{k}{v}" for k, v in tags.items())
    return [
        Variant(
            key=f"{prefix}-seed{s}" if prefix else f"seed{s}",
            overrides=(*extra, f"train.seed={s}"),
            tags={**tags, "seed": s},
        )
        for s in seeds
    ]


# --- zoology: MQAR --------------------------------------------------------------------------------

ATTN2 = "attn(heads=2)*2"
SSD_BY_STATE = {n: f"ssd(d_state={n}, headdim=16)*2" for n in (8, 64)}


# Zoology keeps each model's best accuracy over a sweep of learning rates. Every (architecture,
# setting, seed) is trained twice: with the study's learning-rate race (two rates on 20% of the
# steps, then the winner to the end) and with the SSD's rate, 1e-2, fixed from the start; the
# finding is judged on the better of the two runs, and both are shown.
ZOOLOGY_PROTOCOLS = {"race": (), "lr 1e-2": ("train.lr=0.01", "train.lr_race=[]")}


def zoology_variants(seeds: list[int]) -> tuple[Variant, ...]:
    return tuple(
        Variant(
            key=f"kv{kv}-seed{s}" if protocol == "race" else f"kv{kv}-lr1e-2-seed{s}",
            overrides=(f"task.num_kv_pairs={kv}", *extra, f"train.seed={s}"),
            tags={"kv": kv, "seed": s, "protocol": protocol},
        )
        for protocol, extra in ZOOLOGY_PROTOCOLS.items()
        for kv in (4, 8)
        for s in seeds
    )


def best_over_rates(results: Results, stack: str, **tags: Any) -> list[float]:
    """Per seed, the best accuracy of `stack` over the protocols' runs (zoology's rule)."""
    out = []
    for seed in results.seeds:
        runs = results.values(stack, seed=seed, **tags)
        if runs:
            out.append(max(runs))
    return out


def judge_zoology(finding: Finding, results: Results) -> Verdict:
    stacks = {"attention": ATTN2, **{f"SSD d_state {n}": s for n, s in SSD_BY_STATE.items()}}
    table = [
        "| pairs | runs | " + " | ".join(stacks) + " |",
        "|---|---|" + "---|" * len(stacks),
    ]
    for kv in (4, 8):
        for protocol in ZOOLOGY_PROTOCOLS:
            row = [fmt(results.values(s, kv=kv, protocol=protocol)) for s in stacks.values()]
            table.append(f"| {kv} | {protocol} | " + " | ".join(row) + " |")
        row = [fmt(best_over_rates(results, s, kv=kv)) for s in stacks.values()]
        table.append(f"| {kv} | **best of the two** | " + " | ".join(row) + " |")
    state = {s: results.values(s, 1, kv=4)[:1] for s in stacks.values()}
    table.append("")
    table.append(
        "State bytes at length 64 (fp32): "
        + ", ".join(f"`{s}` {int(v[0]):,}" for s, v in state.items() if v)
    )

    attn = {kv: best_over_rates(results, ATTN2, kv=kv) for kv in (4, 8)}
    c1 = (
        "attention solves MQAR (every seed ≥ 0.9) at 4 and at 8 key-value pairs",
        all(min(attn[kv], default=0.0) >= 0.9 for kv in (4, 8)),
        ", ".join(f"{kv} pairs: {fmt(attn[kv])}" for kv in (4, 8)),
    )
    small, large = SSD_BY_STATE[8], SSD_BY_STATE[64]
    rises = [
        above(best_over_rates(results, large, kv=kv), best_over_rates(results, small, kv=kv))
        for kv in (4, 8)
    ]
    c2 = (
        "an SSD model's recall rises with its state (d_state 64 above d_state 8 beyond seed "
        "noise) at 4 and at 8 pairs",
        all(rises),
        "; ".join(
            f"{kv} pairs: d_state 8 → 64: "
            + " → ".join(
                f"{mean(best_over_rates(results, s, kv=kv)):.3f}" for s in SSD_BY_STATE.values()
            )
            for kv in (4, 8)
        ),
    )

    def gaps(kv: int) -> list[float]:
        # Per seed: attention's accuracy minus the mean of the SSD models'.
        out = []
        for i, a in enumerate(attn[kv]):
            ssd = [best_over_rates(results, s, kv=kv)[i] for s in SSD_BY_STATE.values()]
            out.append(a - mean(ssd))
        return out

    c3 = (
        "the gap between attention and the SSD models grows from 4 to 8 pairs (beyond seed noise)",
        above(gaps(8), gaps(4)),
        f"gap at 4 pairs {fmt(gaps(4))}, at 8 pairs {fmt(gaps(8))}",
    )
    claims = [c1, c2, c3]
    return Verdict(all(c[1] for c in claims), claims, table)


def draw_zoology(finding: Finding, results: Results, path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, kv in zip(axes, (4, 8), strict=True):
        for stack, marker, label in [
            (ATTN2, "s", "attention"),
            *((s, "o", f"SSD d_state {n}") for n, s in SSD_BY_STATE.items()),
        ]:
            acc = best_over_rates(results, stack, kv=kv)
            size = results.values(stack, 1, kv=kv)
            if not acc:
                continue
            x = size[0]
            ax.scatter(
                [x] * len(acc),
                acc,
                marker=marker,
                alpha=0.5,
                color="C0" if stack == ATTN2 else "C1",
            )
            ax.scatter(
                [x], [mean(acc)], marker=marker, s=80, color="C0" if stack == ATTN2 else "C1"
            )
            ax.annotate(
                label,
                (x, mean(acc)),
                textcoords="offset points",
                xytext=(-60, 8) if stack == ATTN2 else (5, -12),
                fontsize=8,
            )
        ax.set_xscale("log")
        ax.set_title(f"MQAR, length 64, {kv} key-value pairs")
        ax.set_xlabel("decoding state at length 64 (bytes, fp32)")
        ax.axhline(0.25 if kv == 4 else 0.125, color="grey", lw=0.5, ls=":")
    axes[0].set_ylabel("best accuracy over the rates (dots: seeds)")
    axes[0].set_ylim(0, 1.02)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- hybrids: a minority of attention -------------------------------------------------------------

HYBRID_STACKS = {
    "SSD only": "ssd(d_state=8, headdim=16)*4",
    "1 attention in 4": "ssd(d_state=8, headdim=16)*2, attn(heads=2), ssd(d_state=8, headdim=16)",
    "attention only": "attn(heads=2)*4",
}


# Four-mixer stacks without MLPs leave MQAR's plateau later than two-mixer ones (pure attention
# included, in one seed of two): each seed also runs at twice the steps, and the finding is
# judged at the longest budget run.
HYBRID_BUDGETS = {1000: (), 2000: ("train.steps=2000",)}


def hybrid_variants(seeds: list[int]) -> tuple[Variant, ...]:
    return tuple(
        Variant(
            key=f"seed{s}" if steps == 1000 else f"steps{steps}-seed{s}",
            overrides=(*extra, f"train.seed={s}"),
            tags={"steps": steps, "seed": s},
        )
        for steps, extra in HYBRID_BUDGETS.items()
        for s in seeds
    )


def judge_hybrid(finding: Finding, results: Results) -> Verdict:
    table = [
        "| stack | state bytes at 64 | share of attention's | "
        + " | ".join(f"accuracy at {n:,} steps, mean (seeds)" for n in HYBRID_BUDGETS)
        + " |",
        "|---|---|---|" + "---|" * len(HYBRID_BUDGETS),
    ]
    state = {name: (results.values(s, 1) or [float("nan")])[0] for name, s in HYBRID_STACKS.items()}
    for name, stack in HYBRID_STACKS.items():
        share = state[name] / state["attention only"]
        runs = " | ".join(fmt(results.values(stack, steps=n)) for n in HYBRID_BUDGETS)
        table.append(f"| `{stack}` | {state[name]:,.0f} | {share:.0%} | {runs} |")
    steps = max(
        (
            n
            for n in HYBRID_BUDGETS
            if all(results.values(s, steps=n) for s in HYBRID_STACKS.values())
        ),
        default=min(HYBRID_BUDGETS),
    )
    acc = {name: results.values(s, steps=steps) for name, s in HYBRID_STACKS.items()}
    ssd, hyb, attn = (mean(acc[n]) for n in HYBRID_STACKS)
    recovered = (hyb - ssd) / (attn - ssd) if attn != ssd else float("nan")
    c1 = (
        f"at {steps:,} steps, attention recalls better than the pure SSD stack beyond seed noise "
        "(the gap to recover)",
        above(acc["attention only"], acc["SSD only"]),
        f"attention {fmt(acc['attention only'])}, SSD {fmt(acc['SSD only'])}",
    )
    c2 = (
        "one attention layer in four recovers most (≥ 80%) of that gap, in every seed",
        all(
            (h - s) / (a - s) >= 0.8
            for h, s, a in zip(
                acc["1 attention in 4"], acc["SSD only"], acc["attention only"], strict=False
            )
            if a != s
        )
        and recovered >= 0.8,
        f"hybrid {fmt(acc['1 attention in 4'])}: recovered {recovered:.0%} of the mean gap; "
        f"it keeps {state['1 attention in 4'] / state['attention only']:.0%} of attention's state",
    )
    claims = [c1, c2]
    return Verdict(all(c[1] for c in claims), claims, table)


def draw_hybrid(finding: Finding, results: Results, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / len(HYBRID_BUDGETS)
    for j, steps in enumerate(HYBRID_BUDGETS):
        for i, stack in enumerate(HYBRID_STACKS.values()):
            acc = results.values(stack, steps=steps)
            x = i + (j - (len(HYBRID_BUDGETS) - 1) / 2) * width
            ax.bar(
                x,
                mean(acc),
                width,
                color=f"C{j}",
                alpha=0.7,
                label=None if i else f"{steps:,} steps",
            )
            ax.scatter([x] * len(acc), acc, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(HYBRID_STACKS)), list(HYBRID_STACKS), fontsize=9)
    ax.set_ylabel("MQAR accuracy (bar: mean; dots: seeds)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("4 mixers, d_model 64, length 64, 8 pairs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- MAD: the ordering across six tasks -----------------------------------------------------------

MAD_STACKS = {
    "attention": "attn(heads=4), mlp, attn(heads=4), mlp",
    "Mamba-1": "scan(d_state=16), mlp, scan(d_state=16), mlp",
    "Mamba-2": "ssd(d_state=16, headdim=16), mlp, ssd(d_state=16, headdim=16), mlp",
    "hybrid": "ssd(d_state=16, headdim=16), mlp, attn(heads=4), mlp",
}
# MAD's tasks with their settings here: MAD's own, except shorter recall and copying sequences.
MAD_TASKS = {
    "in-context-recall": ("task.seq_len=64",),
    "fuzzy-in-context-recall": ("task.seq_len=64",),
    "noisy-in-context-recall": ("task.seq_len=64",),
    "selective-copying": ("task.seq_len=64", "task.num_tokens_to_copy=8"),
    "compression": (),
    "memorization": (),
}
MAD_RECALL = ("in-context-recall", "fuzzy-in-context-recall", "noisy-in-context-recall")


def mad_variants(seeds: list[int]) -> tuple[Variant, ...]:
    return tuple(
        v
        for task, settings in MAD_TASKS.items()
        for v in seeds_variants(seeds, (f"task.name={task}", *settings), task=task)
    )


def judge_mad(finding: Finding, results: Results) -> Verdict:
    table = ["| task | " + " | ".join(MAD_STACKS) + " |", "|---|" + "---|" * len(MAD_STACKS)]
    for task in MAD_TASKS:
        row = [fmt(results.values(s, task=task)) for s in MAD_STACKS.values()]
        table.append(f"| {task} | " + " | ".join(row) + " |")

    def score(name: str) -> list[float]:
        # The MAD score: the mean over the six tasks, per seed.
        seeds = results.seeds
        out = []
        for seed in seeds:
            per_task = [results.values(MAD_STACKS[name], task=t, seed=seed) for t in MAD_TASKS]
            if all(per_task):
                out.append(mean([x[0] for x in per_task]))
        return out

    table.append("| **mean (MAD score)** | " + " | ".join(fmt(score(n)) for n in MAD_STACKS) + " |")
    recall_wins = []
    for task in MAD_RECALL:
        attn = results.values(MAD_STACKS["attention"], task=task)
        for ssm in ("Mamba-1", "Mamba-2"):
            other = results.values(MAD_STACKS[ssm], task=task)
            recall_wins.append((task, ssm, attn and other and min(attn) >= max(other)))
    c1 = (
        "attention recalls at least as well as Mamba-1 and Mamba-2 on the three recall tasks",
        all(w for *_, w in recall_wins),
        "; ".join(f"{t} vs {s}: {'yes' if w else 'no'}" for t, s, w in recall_wins),
    )
    hybrid = score("hybrid")
    parts = max(mean(score("attention")), mean(score("Mamba-2")))
    c2 = (
        "the hybrid's MAD score is at least that of each of its parts (attention, Mamba-2)",
        bool(hybrid) and mean(hybrid) >= parts,
        "MAD score: " + ", ".join(f"{n} {mean(score(n)):.3f}" for n in MAD_STACKS),
    )
    claims = [c1, c2]
    return Verdict(all(c[1] for c in claims), claims, table)


def draw_mad(finding: Finding, results: Results, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(MAD_STACKS)
    for j, (name, stack) in enumerate(MAD_STACKS.items()):
        for i, task in enumerate(MAD_TASKS):
            acc = results.values(stack, task=task)
            x = i + (j - (len(MAD_STACKS) - 1) / 2) * width
            ax.bar(x, mean(acc), width, color=f"C{j}", label=name if i == 0 else None)
            ax.scatter([x] * len(acc), acc, color="black", s=6, zorder=3)
    ax.set_xticks(
        range(len(MAD_TASKS)), [t.replace("-in-context", "") for t in MAD_TASKS], fontsize=8
    )
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- raw bytes: SSD against attention at equal parameters -----------------------------------------

BYTES_STACKS = {
    "SSD": "ssd(expand=1, d_state=16, headdim=16), mlp, ssd(expand=1, d_state=16, headdim=16), mlp",
    "attention": "attn(heads=4), mlp, attn(heads=4), mlp",
}


def judge_bytes(finding: Finding, results: Results) -> Verdict:
    bpb = {n: results.values(s) for n, s in BYTES_STACKS.items()}
    params = {n: (results.values(s, 1) or [float("nan")])[0] for n, s in BYTES_STACKS.items()}
    table = ["| stack | params | bits per byte, mean (seeds) |", "|---|---|---|"]
    for name, stack in BYTES_STACKS.items():
        table.append(f"| `{stack}` | {params[name]:,.0f} | {fmt(bpb[name])} |")
    c1 = (
        "at equal parameters (within 2%), SSD models raw bytes at least as well as attention "
        "(its bits per byte not above attention's beyond seed noise)",
        not above(bpb["SSD"], bpb["attention"]),
        f"SSD {fmt(bpb['SSD'])}, attention {fmt(bpb['attention'])} bits per byte",
    )
    margin = min(bpb["attention"], default=float("nan")) - max(bpb["SSD"], default=float("nan"))
    c2 = (
        "(reported, not judged) and better beyond seed noise, the strong form",
        above([-x for x in bpb["SSD"]], [-x for x in bpb["attention"]]),
        f"attention's better seed minus SSD's worse: {margin:+.4f} bits per byte; difference of "
        f"the means {mean(bpb['attention']) - mean(bpb['SSD']):+.3f}",
    )
    # The published claim is the weak form ("at least as good at equal parameters").
    return Verdict(c1[1], [c1, c2], table)


def draw_bytes(finding: Finding, results: Results, path: Path) -> None:
    runs = {name: results.values(stack) for name, stack in BYTES_STACKS.items()}
    bar_chart(
        runs,
        "held-out bits per byte (lower is better)",
        "raw bytes, 2 mixers + 2 MLPs, d_model 64",
        path,
    )


# --- Gated DeltaNet against Mamba-2 at equal state ---------------------------------------------

GDN_STACKS = {
    "Mamba-2": "ssd(d_state=8, headdim=16)*2",
    "Gated DeltaNet": "gdn(heads=2, head_dim=16)*2",
}


def gdn_variants(seeds: list[int]) -> tuple[Variant, ...]:
    """As zoology's: each seed with the race and with 1e-2 fixed, judged on the better run."""
    return tuple(
        Variant(
            key=f"seed{s}" if protocol == "race" else f"lr1e-2-seed{s}",
            overrides=(*extra, f"train.seed={s}"),
            tags={"seed": s, "protocol": protocol},
        )
        for protocol, extra in ZOOLOGY_PROTOCOLS.items()
        for s in seeds
    )


def judge_gdn(finding: Finding, results: Results) -> Verdict:
    acc = {n: best_over_rates(results, s) for n, s in GDN_STACKS.items()}
    state = {n: (results.values(s, 1) or [float("nan")])[0] for n, s in GDN_STACKS.items()}
    table = [
        "| stack | state bytes at 64 | "
        + " | ".join(f"{p}: accuracy (seeds)" for p in ZOOLOGY_PROTOCOLS)
        + " | best of the two |",
        "|---|---|" + "---|" * (len(ZOOLOGY_PROTOCOLS) + 1),
    ]
    for name, stack in GDN_STACKS.items():
        runs = " | ".join(fmt(results.values(stack, protocol=p)) for p in ZOOLOGY_PROTOCOLS)
        table.append(f"| `{stack}` | {state[name]:,.0f} | {runs} | {fmt(acc[name])} |")
    ratio = state["Gated DeltaNet"] / state["Mamba-2"]
    c1 = (
        "the two states agree within 5%",
        abs(ratio - 1) <= 0.05,
        f"Gated DeltaNet's state is {ratio:.0%} of Mamba-2's",
    )
    c2 = (
        "Gated DeltaNet recalls better than Mamba-2 beyond seed noise",
        above(acc["Gated DeltaNet"], acc["Mamba-2"]),
        f"Gated DeltaNet {fmt(acc['Gated DeltaNet'])}, Mamba-2 {fmt(acc['Mamba-2'])}",
    )
    claims = [c1, c2]
    return Verdict(all(c[1] for c in claims), claims, table)


def draw_gdn(finding: Finding, results: Results, path: Path) -> None:
    runs = {name: best_over_rates(results, stack) for name, stack in GDN_STACKS.items()}
    bar_chart(
        runs,
        "best MQAR accuracy over the rates",
        "equal state (12 KiB), length 64, 8 pairs",
        path,
        top=1.02,
    )


# --- Running and reading --------------------------------------------------------------------------


def bar_chart(
    runs: dict[str, list[float]], ylabel: str, title: str, path: Path, top: float | None = None
) -> None:
    """One bar per architecture at its mean, a dot per seed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    for i, values in enumerate(runs.values()):
        ax.bar(i, mean(values), color=f"C{i}", alpha=0.6)
        ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(runs)), list(runs))
    ax.set_ylabel(ylabel)
    if top is not None:
        ax.set_ylim(0, top)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def findings(seeds: list[int], mad_seeds: list[int]) -> dict[str, Finding]:
    return {
        f.name: f
        for f in (
            Finding(
                "zoology_mqar",
                "zoology: attention solves MQAR, SSD recall tracks its state",
                zoology_variants(seeds),
                judge_zoology,
                draw_zoology,
            ),
            Finding(
                "hybrid_minority",
                "hybrids: a minority of attention recovers most of attention's recall",
                hybrid_variants(seeds),
                judge_hybrid,
                draw_hybrid,
            ),
            Finding(
                "mad_ordering",
                "MAD: attention, Mamba-1, Mamba-2 and a hybrid across the six tasks",
                mad_variants(mad_seeds),
                judge_mad,
                draw_mad,
            ),
            Finding(
                "gdn_vs_mamba2",
                "Gated DeltaNet against Mamba-2 on MQAR at equal state",
                gdn_variants(seeds),
                judge_gdn,
                draw_gdn,
            ),
            Finding(
                "raw_bytes",
                "raw bytes: SSD against attention at equal parameters",
                tuple(seeds_variants(seeds)),
                judge_bytes,
                draw_bytes,
            ),
        )
    }


def read_variant(finding: Finding, variant: Variant, folder: Path) -> dict[str, tuple[float, ...]]:
    """{stack: objective values} of the complete trials of one run (empty if it has none)."""
    from hybridlab.study import load_plan
    from hybridlab.study.storage import open_study

    if not folder.exists():
        return {}
    plan = load_plan(finding.study, [*variant.overrides, f"output={folder}"])
    try:
        study = open_study(plan, create=False)
    except Exception:
        return {}
    out = {}
    for trial in study.trials:
        # The space's knob `stack` is the architecture as the finding names it.
        if trial.state.name == "COMPLETE" and "stack" in trial.params:
            out[trial.params["stack"]] = tuple(trial.values)
    return out


def run_variant(finding: Finding, variant: Variant, folder: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        "hybridlab",
        "study",
        "run",
        str(finding.study),
        *variant.overrides,
        f"output={folder}",
    ]
    print(f"  $ hybridlab study run {' '.join(cmd[5:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{finding.name}/{variant.key}: `study run` exited {done.returncode}")
    return wall


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, Python {python}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="finding names (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--mad-seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "findings")
    parser.add_argument("--reuse", action="store_true", help="run only what is missing in --out")
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args()

    table = findings(args.seeds, args.mad_seeds)
    unknown = set(args.only or ()) - set(table)
    if unknown:
        parser.error(f"unknown findings {sorted(unknown)}; known: {sorted(table)}")
    chosen = [table[n] for n in (args.only or table)]
    args.figures.mkdir(parents=True, exist_ok=True)
    print(f"hardware: {hardware()}\n", flush=True)
    report: dict[str, Any] = {}
    failed = []
    for finding in chosen:
        print(f"## {finding.title} (`{finding.study.relative_to(ROOT)}`)", flush=True)
        timing_path = args.out / finding.name / "wall_s.json"
        timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
        results = Results(finding.variants)
        for variant in finding.variants:
            folder = args.out / finding.name / variant.key
            found = read_variant(finding, variant, folder) if args.reuse else {}
            if len(found) < len(stack_choices(finding)):
                timing[variant.key] = run_variant(finding, variant, folder)
                timing_path.parent.mkdir(parents=True, exist_ok=True)
                timing_path.write_text(json.dumps(timing, indent=1))
                found = read_variant(finding, variant, folder)
            results.runs[variant.key] = found
        verdict = finding.judge(finding, results)
        figure = args.figures / f"{finding.name}.png"
        finding.draw(finding, results, figure)
        print("\n".join(verdict.table))
        print()
        for claim, holds, numbers in verdict.claims:
            print(f"- [{'x' if holds else ' '}] {claim}: {numbers}")
        wall = sum(timing.get(v.key, 0.0) for v in finding.variants)
        print(
            f"\n**{'REPRODUCED' if verdict.reproduced else 'NOT REPRODUCED'}**; "
            f"{len(finding.variants)} study runs, {wall:.0f} s of `study run`; figure {figure}\n",
            flush=True,
        )
        report[finding.name] = {
            "reproduced": verdict.reproduced,
            "claims": [{"claim": c, "holds": h, "numbers": n} for c, h, n in verdict.claims],
            "results": results.runs,
            "wall_s": timing,
        }
        broken, changed = against_page(finding.name, verdict)
        failed += broken
        for claim in changed:
            print(f"note: now holds, where docs/findings.md says it did not: {claim}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    if failed:
        print("no longer holds (docs/findings.md says it does):\n- " + "\n- ".join(failed))
        return 1
    return 0


def against_page(name: str, verdict: Verdict) -> tuple[list[str], list[str]]:
    """The claims that no longer hold where the page says they do, and those that now hold where
    it says they do not."""
    broken, changed = [], []
    for (claim, holds, _), says in zip(verdict.claims, PAGE_SAYS.get(name, ()), strict=False):
        if says and not holds:
            broken.append(f"{name}: {claim}")
        if holds and not says:
            changed.append(f"{name}: {claim}")
    return broken, changed


def stack_choices(finding: Finding) -> list[str]:
    """The architectures the finding's space lists (its grid trains each once)."""
    import yaml

    study = yaml.safe_load(finding.study.read_text())
    space = yaml.safe_load((finding.study.parent / study["space"]).read_text())
    return list(space["knobs"]["stack"]["choice"])


if __name__ == "__main__":
    sys.exit(main())
