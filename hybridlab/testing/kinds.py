"""The layer contract as checks: the one source of truth for hybridlab's own contract tests
(tests/layers/test_contract.py runs them over every registered kind) and for a kind from
another package.

    from hybridlab.testing import check_kind
    check_kind(ToyConfig, ToyMixer, configs=[ToyConfig(), ToyConfig(width=3)])

Every `check_*` takes a config (and the model width) and raises `AssertionError` saying what
broke: shapes, causality (changing token t never changes an output before t), gradients reach
every parameter, chunked prefill + step-by-step decoding equal the full forward,
`num_params == numel`, `state_numel · itemsize ==` the bytes of the allocated cache, the spec
text, YAML and pattern round-trips, and the cost model against a model built from the spec.

Shapes: B batch, T tokens, D d_model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch

from hybridlab.cost import count_params, flops_per_token, layer_costs, state_bytes
from hybridlab.layers import LAYERS, Layer, build_layer
from hybridlab.model import build_model
from hybridlab.spec import ModelSpec, build_from_pattern, format_layer, parse
from hybridlab.spec.kinds import ALIASES, KINDS, LETTERS, LayerConfig
from hybridlab.testing.compare import assert_close

D_MODEL = 32
# Tokens handed to the cache before decoding one at a time (0: decode from the first token).
PREFILLS = (0, 1, 6, 13)
CONTEXTS = (1, 3, 100)
DTYPES = (torch.float32, torch.bfloat16)


def make_layer(config: LayerConfig, d_model: int = D_MODEL, seed: int = 0) -> Layer:
    """The layer for `config` in eval mode, its matrices scaled ×3 so every path visibly moves
    the output (initial output projections are small)."""
    torch.manual_seed(seed)
    layer = build_layer(config, d_model)
    with torch.no_grad():
        for p in layer.parameters():
            if p.dim() >= 2:
                p.mul_(3.0)
    return layer.eval()


def check_registered(config_cls: type[LayerConfig], layer_cls: type[Layer] | None = None) -> None:
    """The kind, its aliases and its letter resolve to `config_cls`, and its module to
    `layer_cls` (any module when None) whose `config_cls` is `config_cls`."""
    kind = config_cls.kind
    assert KINDS.get(kind) is config_cls, (
        f"{config_cls.__name__}: KINDS[{kind!r}] is {KINDS.get(kind)!r}; declare the kind in the "
        "entry-point group 'hybridlab.kinds' (and reinstall the package)"
    )
    module_cls = LAYERS.get(kind)
    assert module_cls is not None, f"no module in LAYERS for kind {kind!r}"
    assert layer_cls is None or module_cls is layer_cls, (
        f"LAYERS[{kind!r}] is {module_cls.__name__}, expected {layer_cls.__name__}"
    )
    assert module_cls.config_cls is config_cls, f"{module_cls.__name__}.config_cls is not {kind}'s"
    assert LETTERS.get(config_cls.letter) == kind, f"letter {config_cls.letter!r} is not {kind}'s"
    for alias in config_cls.aliases:
        assert ALIASES.get(alias) == kind, f"alias {alias!r} does not resolve to {kind!r}"
    config_cls()  # every field has a default


def check_shapes(config: LayerConfig, d_model: int = D_MODEL) -> None:
    layer = make_layer(config, d_model)
    for T in (1, 7, 33):
        y = layer(torch.randn(2, T, d_model))
        assert y.shape == (2, T, d_model), f"(2, {T}, {d_model}) came out as {tuple(y.shape)}"


def check_causal(config: LayerConfig, d_model: int = D_MODEL) -> None:
    layer = make_layer(config, d_model)
    x = torch.randn(2, 21, d_model)
    t = 11
    x2 = x.clone()
    x2[:, t] = torch.randn(2, d_model)
    y, y2 = layer(x), layer(x2)
    assert torch.equal(y[:, :t], y2[:, :t]), "an output before t changed when token t changed"
    assert not torch.allclose(y[:, t:], y2[:, t:]), "token t influenced nothing"


def check_gradients(config: LayerConfig, d_model: int = D_MODEL) -> None:
    layer = make_layer(config, d_model).train()
    x = torch.randn(2, 19, d_model, requires_grad=True)
    layer(x).pow(2).mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"
    assert x.grad is not None and x.grad.abs().sum() > 0, "the input got no gradient"


def check_decoding(
    config: LayerConfig, d_model: int = D_MODEL, prefill: int = 6, length: int = 17
) -> None:
    """A prefill of `prefill` tokens in two uneven chunks, then `step` one token at a time,
    equals the full forward."""
    layer = make_layer(config, d_model)
    x = torch.randn(2, length, d_model)
    with torch.no_grad():
        full = layer(x)
        cache = layer.allocate_cache(2, length, torch.float32)
        outs = []
        cut = prefill // 2
        for lo, hi in ((0, cut), (cut, prefill)):
            if hi > lo:
                outs.append(layer(x[:, lo:hi], cache))
        for t in range(prefill, length):
            outs.append(layer.step(x[:, t], cache).unsqueeze(1))
    assert_close(torch.cat(outs, dim=1), full, rel_rms=1e-4, name=f"decoded after {prefill}")


def check_num_params(config: LayerConfig, d_model: int = D_MODEL) -> None:
    numel = sum(p.numel() for p in make_layer(config, d_model).parameters())
    assert config.num_params(d_model) == numel, (
        f"num_params {config.num_params(d_model)} != {numel}"
    )


def check_state_bytes(
    config: LayerConfig,
    d_model: int = D_MODEL,
    context: int = 100,
    dtype: torch.dtype = torch.float32,
) -> None:
    cache = make_layer(config, d_model).allocate_cache(3, context, dtype)
    expected = 3 * config.state_numel(d_model, context) * dtype.itemsize
    actual = cache.nbytes() if cache is not None else 0
    assert actual == expected, (
        f"cache of 3 sequences of {context} tokens in {dtype}: {actual} bytes, "
        f"state_numel says {expected}"
    )


def check_spec_round_trip(config: LayerConfig, d_model: int = D_MODEL) -> None:
    """The stack text, the YAML form, a pattern with per-kind defaults and every alias all
    rebuild the same spec."""
    spec = ModelSpec(layers=(config, config), d_model=d_model, vocab_size=50)
    text = spec.format()
    assert parse(text, d_model=d_model, vocab_size=50) == spec, f"{text!r} parses differently"
    assert parse(spec.to_yaml()) == spec, "the YAML form parses differently"
    defaults = {config.kind: config.non_default_args()}
    rebuilt = build_from_pattern(spec.pattern(), d_model=d_model, vocab_size=50, defaults=defaults)
    assert rebuilt == spec, f"pattern {spec.pattern()!r} with defaults {defaults} differs"
    one = format_layer(config)
    for alias in config.aliases:
        aliased = alias + one[len(config.kind) :]
        assert parse(aliased, d_model=d_model, vocab_size=50).layers == (config,), aliased


def check_cost_model(config: LayerConfig, d_model: int = D_MODEL) -> None:
    """`count_params`, `state_bytes` and `layer_costs` against the model of a two-layer spec."""
    spec = ModelSpec(layers=(config, config), d_model=d_model, vocab_size=50)
    model = build_model(spec)
    numel = sum(p.numel() for p in model.parameters())
    assert count_params(spec) == numel, f"count_params {count_params(spec)} != numel {numel}"
    for context in CONTEXTS:
        cache = model.allocate_cache(1, context, torch.float32).nbytes()
        assert state_bytes(spec, context) == cache, f"state_bytes at {context} != cache {cache}"
        rows = layer_costs(spec, context=context)
        assert [r.params for r in rows] == [config.num_params(d_model) + d_model] * 2
        assert sum(r.state_bytes for r in rows) == state_bytes(spec, context)
        flops = [r.flops_per_token for r in rows]
        assert all(isinstance(f, int) and f > 0 for f in flops), f"FLOPs per token {flops}"
        assert sum(flops) + 2 * d_model * 50 == flops_per_token(spec, context)


# The checks that take (config, d_model) alone, in the order `check_kind` runs them.
CONFIG_CHECKS: tuple[Callable[[LayerConfig, int], None], ...] = (
    check_shapes,
    check_causal,
    check_gradients,
    check_num_params,
    check_spec_round_trip,
    check_cost_model,
)


def check_kind(
    config_cls: type[LayerConfig],
    layer_cls: type[Layer] | None = None,
    *,
    configs: Iterable[LayerConfig] | None = None,
    d_model: int = D_MODEL,
) -> None:
    """Run the whole layer contract on a registered kind.

    Args:
        config_cls: the kind's config class (registered: built in or through `hybridlab.kinds`).
        layer_cls: its module class, checked to be the one registered; None skips that check.
        configs: the configs to check, instances of `config_cls` (default: `config_cls()`);
            include the variants whose code paths differ.
        d_model: the model width to build at; every config must be valid at it.

    Raises:
        AssertionError: naming the config and the check that failed.
    """
    check_registered(config_cls, layer_cls)
    for config in configs if configs is not None else (config_cls(),):
        where = f"{format_layer(config)} at d_model={d_model}"
        assert type(config) is config_cls, f"{where}: not a {config_cls.__name__}"
        issues = config.check(d_model)
        assert not issues, f"{where}: invalid: {issues[0][1]}"
        runs: list[tuple[str, Callable[[], None]]] = [
            (check.__name__, functools.partial(check, config, d_model)) for check in CONFIG_CHECKS
        ]
        runs += [
            (f"check_decoding(prefill={n})", functools.partial(check_decoding, config, d_model, n))
            for n in PREFILLS
        ]
        runs += [
            (
                f"check_state_bytes(context={context}, dtype={dtype})",
                functools.partial(check_state_bytes, config, d_model, context, dtype),
            )
            for dtype in DTYPES
            for context in CONTEXTS
        ]
        for name, run in runs:
            try:
                run()
            except AssertionError as err:
                raise AssertionError(f"{where}: {name}: {err}") from err
