"""Within-chunk log-decays of the chunked scans: their differences to full precision, and their
gradients summed so that nothing has to cancel.

Shared by ssd/chunk.py (a = Δ·A) and gated_delta/chunk.py (a = g). Inside a chunk,
cs_t = Σ_{j≤t} a_j, and every decay between two positions is exp(cs_t − cs_i).

Differences: in fp32, cs_t − cs_i carries the rounding of cs itself, ulp(|cs|) (1.2e-4 at
|cs| = 1500, i.e. |a| ≈ 25 over a 64-chunk), and exp turns that absolute error of the exponent
into relative error of the decay, and of every gradient through it. `cumulative` sums in float64
and keeps the sum as an fp32 pair hi + lo; `differences` subtracts the hi parts (exact for
nearby positions, whose cs are within a factor of 2) and then the lo parts: the decays are exact
to fp32 rounding, for about two fp32 passes more than a plain difference (a float64 difference
matrix cost 10x that).

Gradients: a term X of the forward carries one of three decay factors, and passes its share
Z = ⟨∂loss/∂X, X⟩ to the log-decays a_j it depends on:

    exp(cs_t − cs_i), i ≤ t   (input i reaching output t)     Z to every a_j with i < j ≤ t
    exp(cs_t)                 (the entering state reaching t)  Z to every a_j with j ≤ t
    exp(cs_last − cs_i)       (input i reaching the chunk end) Z to every a_j with j > i

The identity ∂loss/∂cs_t = Σ_i Z_ti − Σ_s Z_st, followed by a reversed cumulative sum, gives
the same numbers in exact arithmetic, but it adds and then subtracts every Z whose range misses
a_j: the diagonal i = t (exp(0) = 1, so O(1) terms that carry no gradient at all) and every pair
after j. Where decay is strong, the true gradient is of the size of exp(a) (1e-7 at a = −16), and
the rounding left by those O(1) terms was as large: SSD's dA came out with the wrong sign at
Δ·A ≈ −100, the gated delta rule's dg was noise below g ≈ −10. The sums below add each Z over
exactly the a_j it reaches, so every gradient is accurate relative to its own size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cumulative(a: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cumulative sum of `a` along `dim`, summed in float64, as fp32 (hi, lo): hi is the sum
    rounded to fp32 and lo what the rounding left out (0 where the sum is not finite, so that an
    infinite log-decay stays an infinity in hi, not a NaN in lo)."""
    cs = a.double().cumsum(dim)
    hi = cs.float()
    return hi, (cs - hi.double()).float().nan_to_num_(0.0)


def differences(hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """cs_t − cs_i for every pair, from `cumulative`'s pair: (..., C) -> (..., C, C), [t, i]."""
    diff = hi[..., :, None] - hi[..., None, :]
    return diff.add_(lo[..., :, None]).sub_(lo[..., None, :])


def pair_sums(Z: torch.Tensor) -> torch.Tensor:
    """Σ_{t ≥ j} Σ_{i < j} Z_ti for each j: Z (..., C, C) with rows t and columns i, read
    strictly below the diagonal (the diagonal and above are ignored) -> (..., C)."""
    # row_tk = Σ_{i ≤ k} Z_ti along the rows (the contiguous dimension); every term of it with
    # t > k reaches a_{k+1} (i ≤ k < t), so P_{k+1} = Σ_{t > k} row_tk: a strictly lower column
    # sum, shifted one on. 2.6x faster than a reversed cumsum down the columns (two flips) at
    # the quickstart's shapes, and as exact (benchmarks/README.md, SSD on CPU).
    row = Z.cumsum(-1).tril_(-1).sum(-2)
    return F.pad(row[..., :-1], (1, 0))


def suffix_sums(z: torch.Tensor) -> torch.Tensor:
    """Σ_{t ≥ j} z_t along the last dimension: terms that carry exp(cs_t)."""
    return z.flip(-1).cumsum(-1).flip(-1)


def prefix_sums_before(z: torch.Tensor) -> torch.Tensor:
    """Σ_{i < j} z_i along the last dimension: terms that carry exp(cs_last − cs_i)."""
    return F.pad(z[..., :-1].cumsum(-1), (1, 0))
