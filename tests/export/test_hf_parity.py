"""Exported with its weights, a hybridlab model loads in transformers with the same logits and the
same greedy continuation, for every family; without weights, with the same shape.

Each case is a small random stack in the family's own terms, its weights perturbed away from
their initial values (norm weights of one, D of one would hide a swapped or missing tensor), in
float32, at several seeds.
"""

from __future__ import annotations

import pytest
import torch

import hybridlab
from hybridlab.export import export

SSD = "ssd(d_state=16, headdim=16, ngroups=2, chunk_size=16)"
SCAN = "scan(d_state=8, inner_norms=true)"
NOPE = "attn(heads=4, kv_heads=2, rope=false)"
RELU2 = "mlp(hidden=96, activation=relu2)"

# (family, stack, model-wide settings)
CASES = [
    pytest.param("llama", "[attn(heads=4, kv_heads=2), mlp(hidden=96)]*2", {}, id="llama-gqa"),
    pytest.param(
        "llama",
        "[attn(heads=2, rope_theta=500000.0), mlp]*2",
        {"tie_embeddings": False, "norm_eps": 1e-6},
        id="llama-mha-untied-theta5e5",
    ),
    pytest.param("mamba2", f"{SSD}*3", {}, id="mamba2-g2"),
    pytest.param("mamba2", "ssd(d_state=8, headdim=32, expand=1, d_conv=2)*2", {}, id="mamba2-x1"),
    pytest.param("nemotron_h", f"{SSD}, {RELU2}, {NOPE}, {RELU2}, {SSD}", {}, id="nemotron-h"),
    pytest.param(
        "nemotron_h",
        f"[{SSD}, {SSD}, {NOPE}]*2",
        {"tie_embeddings": False},
        id="nemotron-h-no-mlp-untied",
    ),
    pytest.param(
        "jamba",
        f"[{SCAN}, mlp(hidden=96)]*2, {NOPE}, mlp(hidden=96), [{SCAN}, mlp(hidden=96)]*2",
        {},
        id="jamba-attn-at-2-of-5",
    ),
    pytest.param(
        "jamba",
        f"[{NOPE}, mlp, {SCAN}, mlp]*2",
        {"tie_embeddings": False},
        id="jamba-period2-untied",
    ),
]
# The second seed runs in `make test`, not in `make test-fast`.
SEEDS = [0, pytest.param(1, marks=pytest.mark.slow)]
VOCAB = 97


def perturbed_model(stack: str, settings: dict, seed: int) -> hybridlab.HybridLM:
    spec = hybridlab.parse({"stack": stack, "d_model": 64, "vocab_size": VOCAB, **settings})
    torch.manual_seed(seed)
    model = hybridlab.build_model(spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("seed", SEEDS, ids=["seed0", "seed1"])
@pytest.mark.parametrize("family, stack, settings", CASES)
def test_logits_and_greedy_decoding_equal_hybridlab(
    transformers, tmp_path, family, stack, settings, seed
):
    model = perturbed_model(stack, settings, seed)
    result = export(model, to="hf", out=tmp_path / "model")
    assert result.family == family and result.with_weights
    hf, info = transformers.AutoModelForCausalLM.from_pretrained(
        result.out, output_loading_info=True
    )
    hf.eval()
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensor
    ids = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ours, theirs = model(ids), hf(ids).logits
    assert (ours - theirs).abs().max().item() <= 1e-4
    prompt = ids[:, :7]
    ours = model.generate(prompt, max_new_tokens=12)
    theirs = hf.generate(prompt, max_new_tokens=12, do_sample=False)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("family, stack, settings", CASES[::2])
def test_without_weights_only_the_config_is_written_and_builds_the_same_shape(
    transformers, tmp_path, family, stack, settings
):
    model = perturbed_model(stack, settings, seed=0)
    result = export(model.spec, to="hf", out=tmp_path / "config-only")
    assert sorted(p.name for p in result.out.iterdir()) == ["config.json"]
    config = transformers.AutoConfig.from_pretrained(result.out)
    hf = transformers.AutoModelForCausalLM.from_config(config)
    assert type(hf).__name__ == type(config).__name__.replace("Config", "ForCausalLM")
    # The same parameter count; Nemotron-H holds its own head where hybridlab ties it.
    extra = (
        model.embedding.weight.numel()
        if model.spec.tie_embeddings and family == "nemotron_h"
        else 0
    )
    assert hf.num_parameters() == hybridlab.count_params(model.spec) + extra


def test_a_checkpoint_file_exports_like_the_model(transformers, tmp_path):
    model = perturbed_model(f"{SSD}, {RELU2}, {NOPE}", {}, seed=3)
    torch.save(model.state_dict(), tmp_path / "proxy.pt")
    from_file = export(model.spec, out=tmp_path / "a", weights=tmp_path / "proxy.pt")
    from_model = export(model, out=tmp_path / "b")
    from safetensors.torch import load_file

    a, b = load_file(from_file.files[-1]), load_file(from_model.files[-1])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
