"""The judging logic of benchmarks/findings.py: what counts as reproduced, beyond seed noise.

The studies themselves run only under `python benchmarks/findings.py` (tens of minutes); what
decides the verdict is plain arithmetic over the runs' values, checked here on made-up runs.
Every finding's study file must also load as a study, with each variant's overrides.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "findings.py"
spec = importlib.util.spec_from_file_location("findings", PATH)
bench = importlib.util.module_from_spec(spec)
sys.modules["findings"] = bench  # dataclasses look their module up there
spec.loader.exec_module(bench)

FINDINGS = bench.findings([0, 1], [0, 1])


def results_of(name, value_of):
    """Made-up runs of finding `name`: `value_of(variant, stack)` gives the objective values."""
    finding = FINDINGS[name]
    stacks = bench.stack_choices(finding)
    runs = {v.key: {s: value_of(v, s) for s in stacks} for v in finding.variants}
    return finding, bench.Results(finding.variants, runs)


@pytest.mark.parametrize(
    "left, right, expected",
    [
        ([0.9, 0.8], [0.7, 0.6], True),
        ([0.9, 0.6], [0.7, 0.65], False),  # overlapping seed ranges: no difference
        ([0.9], [0.7], True),
        ([], [0.7], False),
    ],
    ids=["apart", "overlapping", "one-seed", "missing"],
)
def test_above_needs_the_ranges_apart(left, right, expected):
    assert bench.above(left, right) is expected


def zoology_values(state_effect, gap_growth):
    def value_of(variant, stack):
        kv = variant.tags["kv"]
        jitter = 0.01 * variant.tags["seed"]
        if stack == bench.ATTN2:
            return (0.99 - jitter, 65536.0)
        d_state = int(stack.split("d_state=")[1].split(",")[0])
        acc = 0.3 + state_effect * d_state / 64 - (gap_growth if kv == 8 else 0.0) + jitter
        return (acc, 1000.0 * d_state)

    return value_of


@pytest.mark.parametrize(
    "state_effect, gap_growth, expected",
    [(0.5, 0.1, True), (0.0, 0.1, False), (0.5, 0.0, False)],
    ids=["holds", "no-state-effect", "gap-does-not-grow"],
)
def test_zoology_verdict(state_effect, gap_growth, expected):
    finding, results = results_of("zoology_mqar", zoology_values(state_effect, gap_growth))
    verdict = finding.judge(finding, results)
    assert verdict.reproduced is expected
    assert len(verdict.claims) == 3
    assert verdict.claims[0][1]  # attention at 0.98-0.99 everywhere


@pytest.mark.parametrize(
    "hybrid, expected", [(0.95, True), (0.6, False)], ids=["recovers", "does-not"]
)
def test_hybrid_verdict_is_the_share_of_the_gap_recovered(hybrid, expected):
    accuracy = {"SSD only": 0.3, "1 attention in 4": hybrid, "attention only": 0.99}
    by_stack = {s: accuracy[n] for n, s in bench.HYBRID_STACKS.items()}
    finding, results = results_of(
        "hybrid_minority", lambda v, s: (by_stack[s] + 0.005 * v.tags["seed"], 1.0)
    )
    verdict = finding.judge(finding, results)
    assert verdict.reproduced is expected
    assert ("recovered 9" in verdict.claims[1][2]) is expected
    assert "at 2,000 steps" in verdict.claims[0][0]  # judged at the longest budget run


def test_bytes_verdict_separates_the_weak_and_the_strong_claim():
    # SSD better than attention, but the seeds overlap: the weak claim holds, the strong not.
    bpb = {"SSD": (2.50, 2.60), "attention": (2.55, 2.62)}
    by_stack = {s: bpb[n] for n, s in bench.BYTES_STACKS.items()}
    finding, results = results_of(
        "raw_bytes", lambda v, s: (by_stack[s][v.tags["seed"]], 115_000.0)
    )
    verdict = finding.judge(finding, results)
    assert [holds for _, holds, _ in verdict.claims] == [True, False]
    assert verdict.reproduced  # the published claim is the weak form; the strong one is reported


@pytest.mark.parametrize(
    "gdn, expected", [((0.9, 0.8), True), ((0.9, 0.3), False)], ids=["apart", "overlapping"]
)
def test_gdn_verdict_needs_equal_state_and_recall_beyond_noise(gdn, expected):
    accuracy = {"Mamba-2": (0.5, 0.4), "Gated DeltaNet": gdn}
    state = {"Mamba-2": 12_800.0, "Gated DeltaNet": 12_288.0}
    by_stack = {s: n for n, s in bench.GDN_STACKS.items()}
    finding, results = results_of(
        "gdn_vs_mamba2",
        lambda v, s: (accuracy[by_stack[s]][v.tags["seed"]], state[by_stack[s]]),
    )
    verdict = finding.judge(finding, results)
    assert verdict.claims[0][1]  # 96%
    assert verdict.reproduced is expected


def test_mad_verdict_reads_the_mean_over_tasks():
    accuracy = {"attention": 0.9, "Mamba-1": 0.5, "Mamba-2": 0.6, "hybrid": 0.92}
    by_stack = {s: accuracy[n] for n, s in bench.MAD_STACKS.items()}
    finding, results = results_of("mad_ordering", lambda v, s: (by_stack[s], 1.0))
    verdict = finding.judge(finding, results)
    assert verdict.reproduced
    assert "hybrid 0.920" in verdict.claims[1][2]
    assert any("mean (MAD score)" in line for line in verdict.table)


@pytest.mark.parametrize(
    "name, variant",
    [
        (name, v)
        for name, f in FINDINGS.items()
        for v in f.variants[:: max(1, len(f.variants) // 3)]
    ],
    ids=lambda x: x if isinstance(x, str) else x.key,
)
def test_every_finding_variant_loads_as_a_study(name, variant, tmp_path):
    from hybridlab.study import load_plan

    plan = load_plan(FINDINGS[name].study, [*variant.overrides, f"output={tmp_path}"])
    assert plan.budget.trials == len(bench.stack_choices(FINDINGS[name]))


def claims_of(name):
    """The judge's claims for finding `name` on made-up runs (values do not matter here)."""
    finding, results = results_of(name, lambda v, s: (0.5 + 0.01 * v.tags["seed"], 1000.0))
    return finding.judge(finding, results).claims


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_the_page_gives_a_verdict_on_every_claim(name):
    page = (Path(__file__).resolve().parents[1] / "docs" / "findings.md").read_text()
    assert len(bench.PAGE_SAYS[name]) == len(claims_of(name))
    assert f"studies/findings/{name}.yaml" in page
    assert f"findings/{name}.png" in page


def test_a_claim_the_page_says_holds_fails_the_script_when_it_no_longer_does():
    name = "zoology_mqar"
    claims = [(f"claim {i}", not says, "") for i, says in enumerate(bench.PAGE_SAYS[name])]
    broken, changed = bench.against_page(name, bench.Verdict(False, claims, []))
    says = bench.PAGE_SAYS[name]
    assert len(broken) == sum(says) and len(changed) == len(says) - sum(says)
