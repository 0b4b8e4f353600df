"""`MemberStack`: k members of one architecture as one model with a leading member dimension.

Each member is the `HybridLM` that `train_proxy` would build for its seed (`torch.manual_seed`
then `build_model`), so the members start where their lone runs start. Their parameters are
stacked along a new first dimension (M members): a (D_out, D_in) weight becomes (M, D_out, D_in).
The forward pass takes one batch of token ids per member, (M, B, T), and runs every layer once
for all members:

- a linear map is one batched matmul over the members (`torch.bmm`);
- norms, gates and activations broadcast the members' weights over (M, B, T, ...);
- attention folds the members into its batch: (M·B, heads, T, head_dim);
- the recurrences (the depthwise conv, SSD, the selective scan, the gated delta rule) go
  through the kernels unchanged, with their own backward passes, in one of two ways:
  - folded (on CUDA, by default): one call with the members merged into what the kernel
    treats independently: the conv over M·C channels, SSD over M·H heads and M·G groups (head
    m·H + h reads group m·G + h·G/H, its own member's), the selective scan over M·Di channels
    with one group of B and C per member, the gated delta rule over M·H heads. A GPU pays one
    launch per kernel for all members, which is what makes members cheap there;
  - per member (on CPU, by default): one call per member on its slice, as its lone layer
    makes it. At proxy sizes the CPU paths are bound by memory traffic, not by per-call
    overhead, and a folded call M times larger falls out of the caches: fwd+bwd at the
    quickstart's shapes (batch 64 × length 64, one thread), 8 members folded against 8 calls
    took 1,040 against 455 ms for SSD and 3,430 against 1,130 ms for the scan.

Why not `torch.func.vmap(functional_call)` over `HybridLM`: every kernel's PyTorch path is a
`torch.autograd.Function` with a hand-written backward and no `setup_context` (vmap refuses
it), and `HybridLM.forward` checks its ids with `.item()` (vmap refuses that too). Attention
and MLP stacks do vmap (through the model's unchecked forward), measured 5-12% slower than this
module at the quickstart's shapes with 4 members, as vmap has no batching rule for CPU's flash
attention and loops over the members there.

Shapes: M members, B batch, T tokens, D d_model, V vocab_size; per kind as in its layer module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

import hybridlab.kernels as kernels
from hybridlab.layers import MLP, Attention, GatedDeltaNet, Layer, Mamba1, Mamba2
from hybridlab.layers.attn import apply_rope, rope_cos_sin
from hybridlab.layers.gdn import l2norm
from hybridlab.layers.ssm_init import decay_from_log
from hybridlab.model.hybrid_lm import HybridLM

# A layer's stacked parameter by its name inside the layer ("in_proj.weight").
Params = Callable[[str], torch.Tensor]

# The kinds a member stack can run, by their layer module.
STACKED_KINDS = ("ssd", "scan", "gdn", "attn", "mlp")


class MemberStack:
    """The stacked parameters of M members of one `HybridLM` architecture, and their forward.

    Args:
        models: the members' models, built from one spec (same parameter names and shapes);
            the stack copies their parameters. The first model is kept as the template of the
            architecture (its layers' settings and parameter names); its own parameters are
            not trained.
        fold_kernels: True: one kernel call for all members (the members merged into
            channels, heads and groups); False: one call per member; None (the default): folded
            on CUDA, per member on CPU (see the module docstring).

    Attributes:
        params: name -> stacked leaf tensor (M, *shape) that requires grad, for every
            parameter of a member (a tied output head is the embedding, listed once); the
            optimizer steps these.

    Raises:
        ValueError: no models, a model that is not a `HybridLM`, models of different
            architectures, or a layer of a kind the stack has no forward for (a plugin kind),
            naming the layer.
    """

    def __init__(
        self, models: Sequence[torch.nn.Module], *, fold_kernels: bool | None = None
    ) -> None:
        if not models:
            raise ValueError("a member stack needs at least one member model, got none")
        template = models[0]
        for model in models:
            if not isinstance(model, HybridLM):
                raise ValueError(
                    f"a member stack stacks HybridLM models, got {type(model).__name__}"
                )
            if model.spec != template.spec:
                raise ValueError(
                    f"the members must share one architecture: {model.spec.format()!r} differs "
                    f"from {template.spec.format()!r}"
                )
        for index, block in enumerate(template.blocks):
            if not isinstance(block.layer, tuple(_FORWARDS)):
                raise ValueError(
                    f"layer {index} ({block.layer.config.kind}): members train only the "
                    f"built-in kinds {', '.join(STACKED_KINDS)}; a plugin kind has no "
                    f"member-stacked forward (train it alone with train_proxy)"
                )
        self.template: HybridLM = template
        self.fold_kernels = fold_kernels
        self.params: dict[str, torch.Tensor] = {
            name: torch.stack([model.get_parameter(name).detach() for model in models])
            .contiguous()
            .requires_grad_()
            for name, _ in template.named_parameters()
        }

    @property
    def num_members(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member `member`'s `HybridLM` state_dict (every key a lone model has, a tied head
        included), detached copies on the CPU."""
        names = {id(p): name for name, p in self.template.named_parameters()}
        return {
            key: (self.params[names[id(t)]][member] if id(t) in names else t)
            .detach()
            .to("cpu", copy=True)
            for key, t in self.template.state_dict(keep_vars=True).items()
        }

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the members at `index` (a 1-D long tensor of positions), in that order."""
        self.params = {
            name: p.detach()[index].contiguous().requires_grad_() for name, p in self.params.items()
        }

    def __call__(self, ids_MBT: torch.Tensor) -> torch.Tensor:
        """Logits (M, B, T, V) for token ids (M, B, T), member m's ids through member m."""
        model, P = self.template, self.params
        M, V = self.num_members, model.spec.vocab_size
        fold = ids_MBT.device.type == "cuda" if self.fold_kernels is None else self.fold_kernels
        if ids_MBT.dim() != 3 or ids_MBT.shape[0] != M:
            raise ValueError(
                f"ids must be (members={M}, batch, length), got shape {tuple(ids_MBT.shape)}"
            )
        embedding = P["embedding.weight"]  # (M, V, D)
        offsets = torch.arange(M, device=ids_MBT.device).view(M, 1, 1) * V
        x = F.embedding(ids_MBT + offsets, embedding.flatten(0, 1))  # (M, B, T, D)
        for i, block in enumerate(model.blocks):
            layer_params = _prefixed(P, f"blocks.{i}.layer.")
            normed = _rms_norm(x, P[f"blocks.{i}.norm.weight"], block.norm.eps)
            x = x + _FORWARDS[type(block.layer)](block.layer, layer_params, normed, fold)
        x = _rms_norm(x, P["norm_f.weight"], model.norm_f.eps)
        head = P.get("lm_head.weight", embedding)  # tied: the embedding
        return _linear(x, head)


def _prefixed(params: dict[str, torch.Tensor], prefix: str) -> Params:
    return lambda name: params[prefix + name]


def _members(w: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-member weight (M, *rest) viewed as (M, 1, ..., 1, *rest) with `ndim` dimensions,
    so that it broadcasts over an (M, B, T, ...) activation."""
    return w.view(w.shape[0], *([1] * (ndim - w.dim())), *w.shape[1:])


def _linear(x_MBTI: torch.Tensor, weight_MOI: torch.Tensor) -> torch.Tensor:
    """Each member's bias-free `F.linear`: (M, ..., I) -> (M, ..., O), one batched matmul."""
    M, lead = x_MBTI.shape[0], x_MBTI.shape[1:-1]
    y = torch.bmm(x_MBTI.reshape(M, -1, x_MBTI.shape[-1]), weight_MOI.transpose(1, 2))
    return y.view(M, *lead, weight_MOI.shape[1])


def _rms_norm(x: torch.Tensor, weight_MD: torch.Tensor, eps: float) -> torch.Tensor:
    """`RMSNorm` with each member's weight, in float32, returned in x's dtype."""
    h = F.rms_norm(x.float(), (x.shape[-1],), eps=eps)
    return (h * _members(weight_MD.float(), x.dim())).to(x.dtype)


def _through_kernel(
    kernel: Callable[..., torch.Tensor],
    fold: bool,
    out_dim: int,
    member_args: dict[str, tuple[torch.Tensor, int]],
    **shared: Any,
) -> torch.Tensor:
    """Call `kernel` for every member; return its output with the members at `out_dim`.

    `member_args` maps the kernel's argument names to (tensor, d): the tensor holds every member
    at dim d, just before the dim the kernel treats channel by channel (its channels, heads or
    groups). Folded: one call, the members merged into that dim, and the output's dim `out_dim`
    split back. Otherwise: one call per member on its slice, as its lone layer makes it, the
    outputs stacked at `out_dim`.
    """
    first, d = next(iter(member_args.values()))
    M = first.shape[d]
    if fold:
        out = kernel(
            **{name: t.flatten(d, d + 1) for name, (t, d) in member_args.items()}, **shared
        )
        return out.unflatten(out_dim, (M, -1))
    # `unbind`, not one `select` per member: the backward of M selects writes M zero-filled
    # copies of the whole tensor (M² traffic, 1.9x slower at 4 SSD members); unbind's is one
    # stack.
    slices = {name: t.unbind(d) for name, (t, d) in member_args.items()}
    outs = [kernel(**{name: s[m] for name, s in slices.items()}, **shared) for m in range(M)]
    return torch.stack(outs, out_dim)


def _short_conv(layer: Layer, P: Params, x_MBTC: torch.Tensor, fold: bool) -> torch.Tensor:
    """The layer's `ShortConvolution` for every member: (M, B, T, C) -> (B, M, C, T)."""
    conv = layer.conv1d
    args = {"x": (x_MBTC.permute(1, 0, 3, 2), 1), "weight": (P("conv1d.weight"), 0)}
    if conv.bias is not None:
        args["bias"] = (P("conv1d.bias"), 0)
    return _through_kernel(kernels.causal_conv1d, fold, 1, args, activation=conv.activation)


def _ssd(layer: Mamba2, P: Params, u: torch.Tensor, fold: bool) -> torch.Tensor:
    """`Mamba2.forward` for M members; folded, SSD runs over M·H heads and M·G groups (head
    m·H + h reads group m·G + h·G/H, its own member's)."""
    Di, H, Pd, G, N = layer.d_inner, layer.nheads, layer.headdim, layer.ngroups, layer.d_state
    z, xBC, dt = torch.split(_linear(u, P("in_proj.weight")), [Di, layer.conv_dim, H], dim=-1)
    xBC = _short_conv(layer, P, xBC, fold).permute(0, 3, 1, 2)  # (B, T, M, Cc)
    x, B, C = torch.split(xBC, [Di, G * N, G * N], dim=-1)
    out = _through_kernel(
        kernels.ssd,
        fold,
        2,
        {
            "x": (x.unflatten(-1, (H, Pd)), 2),
            "dt": (dt.permute(1, 2, 0, 3), 2),
            "A": (decay_from_log(P("A_log")), 0),
            "B": (B.unflatten(-1, (G, N)), 2),
            "C": (C.unflatten(-1, (G, N)), 2),
            "D": (P("D"), 0),
            "dt_bias": (P("dt_bias"), 0),
        },
        dt_softplus=True,
        chunk_size=layer.config.chunk_size,
    )  # (B, T, M, H, P)
    y = out.permute(2, 0, 1, 3, 4).flatten(-2)  # (M, B, T, Di)
    # Mamba-2's GatedRMSNorm: rmsnorm(y · silu(z)) per group of channels, · weight.
    h = (y.float() * F.silu(z.float())).unflatten(-1, (-1, layer.norm.group_size))
    h = F.rms_norm(h, (layer.norm.group_size,), eps=layer.norm.eps).flatten(-2)
    y = (h * _members(P("norm.weight").float(), 4)).to(u.dtype)
    return _linear(y, P("out_proj.weight"))


def _scan(layer: Mamba1, P: Params, u: torch.Tensor, fold: bool) -> torch.Tensor:
    """`Mamba1.forward` for M members; folded, the selective scan runs over M·Di channels with
    one group of B and C per member."""
    R, N = layer.dt_rank, layer.d_state
    x, z = _linear(u, P("in_proj.weight")).chunk(2, dim=-1)  # (M, B, T, Di) each
    x_BMDT = _short_conv(layer, P, x, fold)
    dt, B, C = torch.split(_linear(x_BMDT.permute(1, 0, 3, 2), P("x_proj.weight")), [R, N, N], -1)
    if layer.config.inner_norms:
        dt = _rms_norm(dt, P("dt_norm.weight"), layer.dt_norm.eps)
        B = _rms_norm(B, P("B_norm.weight"), layer.B_norm.eps)
        C = _rms_norm(C, P("C_norm.weight"), layer.C_norm.eps)
    dt = _linear(dt, P("dt_proj.weight"))  # (M, B, T, Di), before the bias
    # B and C (B, M, N, T): a member's slice is its lone (B, N, T); folded, (B, M, 1, N, T)
    # merges into the grouped (B, M, N, T), channel block m reading group m.
    B, C = B.permute(1, 0, 3, 2), C.permute(1, 0, 3, 2)
    if fold:
        B, C = B.unsqueeze(2), C.unsqueeze(2)
    y = _through_kernel(
        kernels.selective_scan,
        fold,
        1,
        {
            "u": (x_BMDT, 1),
            "delta": (dt.permute(1, 0, 3, 2), 1),
            "A": (decay_from_log(P("A_log")), 0),
            "B": (B, 1),
            "C": (C, 1),
            "D": (P("D"), 0),
            "z": (z.permute(1, 0, 3, 2), 1),
            "delta_bias": (P("dt_proj.bias"), 0),
        },
        delta_softplus=True,
    )  # (B, M, Di, T)
    return _linear(y.permute(1, 0, 3, 2), P("out_proj.weight"))


def _gdn(layer: GatedDeltaNet, P: Params, x_MBTD: torch.Tensor, fold: bool) -> torch.Tensor:
    """`GatedDeltaNet.forward` for M members; folded, the gated delta rule runs over M·H heads."""
    H, dk, dv, Kd = layer.nheads, layer.head_k_dim, layer.head_v_dim, layer.key_dim
    sizes = [layer.conv_dim, layer.gate_dim, H, H]
    qkv, gate, a, b = torch.split(_linear(x_MBTD, P("in_proj.weight")), sizes, dim=-1)
    qkv = _short_conv(layer, P, qkv, fold).permute(0, 3, 1, 2)  # (B, T, M, Cc)
    q, k, v = torch.split(qkv, [Kd, Kd, layer.value_dim], dim=-1)
    # g = -exp(A_log)·softplus(a + dt_bias), β = sigmoid(b) (×2 with negative eigenvalues).
    g = decay_from_log(P("A_log")).float()[:, None, None, :] * F.softplus(
        a.float() + _members(P("dt_bias").float(), 4)
    )  # (M, B, T, H)
    beta = torch.sigmoid(b.float())
    if layer.config.allow_neg_eigval:
        beta = 2 * beta
    o = _through_kernel(
        kernels.gated_delta_rule,
        fold,
        2,
        {
            "q": (l2norm(q.unflatten(-1, (H, dk))), 2),
            "k": (l2norm(k.unflatten(-1, (H, dk))), 2),
            "v": (v.unflatten(-1, (H, dv)), 2),
            "g": (g.permute(1, 2, 0, 3), 2),
            "beta": (beta.permute(1, 2, 0, 3), 2),
        },
    ).permute(2, 0, 1, 3, 4)  # (M, B, T, H, dv)
    norm, weight = layer.norm, _members(P("norm.weight").float(), 5)
    h = F.rms_norm(o.float(), (dv,), eps=norm.eps) * weight
    if layer.config.use_gate:
        h = h * F.silu(gate.unflatten(-1, (H, dv)).float())
    return _linear(h.to(o.dtype).flatten(-2), P("out_proj.weight"))


def _attn(layer: Attention, P: Params, x_MBTD: torch.Tensor, fold: bool) -> torch.Tensor:
    """`Attention.forward` for M members: the members folded into attention's batch."""
    M, Bsz, T, _ = x_MBTD.shape
    Hq, K, E = layer.num_heads, layer.num_kv_heads, layer.head_dim
    q = _linear(x_MBTD, P("q_proj.weight")).view(M * Bsz, T, Hq, E).transpose(1, 2)
    kv = _linear(x_MBTD, P("kv_proj.weight")).view(M * Bsz, T, 2, K, E)
    k, v = kv.permute(2, 0, 3, 1, 4)  # (M·B, K, T, E) each
    if layer.config.rope:
        positions = torch.arange(T, device=x_MBTD.device)
        cos, sin = rope_cos_sin(positions, E, layer.config.rope_theta)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    mask = None
    if layer.window is not None:  # causal and within the window, as `Attention._mask`
        positions = torch.arange(T, device=x_MBTD.device)
        diff = positions[:, None] - positions[None, :]
        mask = (diff >= 0) & (diff < layer.window)
    y = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=mask is None, enable_gqa=Hq != K
    )  # (M·B, H, T, E)
    y = y.transpose(1, 2).reshape(M, Bsz, T, Hq * E)
    return _linear(y, P("out_proj.weight"))


def _mlp(layer: MLP, P: Params, x_MBTD: torch.Tensor, fold: bool) -> torch.Tensor:
    """`MLP.forward` for M members: SwiGLU or squared ReLU."""
    h = _linear(x_MBTD, P("w_in.weight"))
    if layer.gated:
        gate, up = h.chunk(2, dim=-1)
        h = F.silu(gate) * up
    else:
        h = F.relu(h).square()
    return _linear(h, P("w_out.weight"))


_FORWARDS: dict[type[Layer], Callable[..., torch.Tensor]] = {
    Mamba2: _ssd,
    Mamba1: _scan,
    GatedDeltaNet: _gdn,
    Attention: _attn,
    MLP: _mlp,
}
