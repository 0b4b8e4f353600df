"""The layout resolver: depth, attention ratio, placement, SSM kind and MLPs → a stack string.

`layout_stack(depth=8, attn_ratio=0.125, placement="spread", ssm="ssd", mlp=True)` is how a
search space turns a handful of sampled knobs into hybridlab's stack language. `ssm` is the kind
of every mixer that is not attention: `ssd`, `scan`, `gdn` or any other registered kind except
`attn` and `mlp` (a kind from another package too), by name or alias. Placements:

- `spread` (Megatron-LM's allocator, used for NVIDIA's Mamba-2-Hybrid and Nemotron-H): attention
  layers evenly spaced among the mixers, **never first or last**. The SSM layers are cut into
  `num_attn + 1` sections whose ends are at round((j + 1)·num_ssm / (num_attn + 1)), so the
  sections differ by at most one layer; when there are fewer SSM layers than gaps the outer
  sections still keep one each. Needs at least two SSM layers once there is any attention
  (else `InfeasibleSample`), unless every mixer is attention.
- `front` / `back`: all attention layers first / last (ablations).
- an explicit mixer pattern such as `"MM*MG*M"` (`*` attention, `M` ssd, `S` scan, `G` gdn, or
  any registered kind's letter; with `-` it is a whole Megatron pattern including MLPs): taken
  literally; `depth` and the ratio, when given, must agree with it.

With `mlp=True` every mixer is followed by an MLP (`M-M-*-`, Nemotron-H's alternation).

Example:
    >>> layout_pattern(depth=8, attn_ratio=0.25, placement="spread", ssm="ssd", mlp=False)
    'MM*MM*MM'
    >>> layout_stack(depth=3, num_attn=1, placement="spread", ssm="scan", mlp=True)
    'scan, mlp, attn, mlp, scan, mlp'
"""

from __future__ import annotations

import math
from typing import Any

from hybridlab.space.errors import InfeasibleSample
from hybridlab.spec.kinds import KINDS, LETTERS, resolve_kind

PLACEMENTS = ("spread", "front", "back")
# Kinds that are never the `ssm` of a layout: the layout places them itself.
NOT_SSM = ("attn", "mlp")
# {kind: pattern letter} of the kinds `ssm` may name (built-in and plugin kinds).
SSM_KINDS = {kind: cls.letter for kind, cls in KINDS.items() if kind not in NOT_SSM}


def num_attention(depth: int, attn_ratio: float) -> int:
    """round(attn_ratio · depth), halves rounded up (0.125 of 4 layers → 1)."""
    if not 0.0 <= attn_ratio <= 1.0:
        raise ValueError(f"attn_ratio must be in [0, 1], got {attn_ratio}")
    return math.floor(attn_ratio * depth + 0.5)


def attention_positions(depth: int, num_attn: int, placement: str = "spread") -> list[int]:
    """0-based mixer indices of the attention layers (see the module docstring)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if not 0 <= num_attn <= depth:
        raise ValueError(f"the number of attention layers must be in [0, {depth}], got {num_attn}")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; valid: {', '.join(PLACEMENTS)}")
    if num_attn == 0:
        return []
    if num_attn == depth or placement == "front":
        return list(range(num_attn))
    if placement == "back":
        return list(range(depth - num_attn, depth))
    num_ssm = depth - num_attn
    if num_ssm < 2:
        raise InfeasibleSample(
            f"placement 'spread' keeps attention off the first and last layer, so it needs at "
            f"least 2 SSM layers; depth {depth} with {num_attn} attention layers has {num_ssm}"
        )
    # Ends of the SSM sections before each attention layer, clamped so that the first and the
    # last section keep at least one SSM layer.
    ends = [math.floor((j + 1) * num_ssm / (num_attn + 1) + 0.5) for j in range(num_attn)]
    ends = [min(max(end, 1), num_ssm - 1) for end in ends]
    return [end + j for j, end in enumerate(ends)]


def layout_pattern(
    *,
    depth: int | None = None,
    attn_ratio: float | None = None,
    num_attn: int | None = None,
    placement: str = "spread",
    ssm: str = "ssd",
    mlp: bool = False,
) -> str:
    """The Megatron-style pattern (`M` ssd, `S` scan, `G` gdn, `*` attn, `-` mlp) of a layout."""
    ssm_cls = resolve_kind(ssm) if isinstance(ssm, str) else None
    if ssm_cls is None or ssm_cls.kind not in SSM_KINDS:
        raise ValueError(f"unknown ssm kind {ssm!r}; valid: {', '.join(SSM_KINDS)}")
    if placement not in PLACEMENTS:
        return _explicit(placement, depth, attn_ratio, num_attn, mlp)
    if depth is None:
        raise ValueError("a layout needs depth (the number of mixer layers)")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    if attn_ratio is not None and num_attn is not None:
        raise ValueError("give attn_ratio or num_attn, not both")
    count = num_attn if num_attn is not None else num_attention(depth, attn_ratio or 0.0)
    where = set(attention_positions(depth, count, placement))
    mixers = ["*" if i in where else ssm_cls.letter for i in range(depth)]
    return "".join(m + "-" if mlp else m for m in mixers)


def layout_stack(**layout: Any) -> str:
    """The stack text of a layout (arguments as `layout_pattern`): `"ssd, mlp, attn, mlp"`."""
    return ", ".join(LETTERS[c] for c in layout_pattern(**layout))


def _explicit(
    pattern: str, depth: int | None, attn_ratio: float | None, num_attn: int | None, mlp: bool
) -> str:
    text = "".join(pattern.split())
    bad = sorted(set(text) - set(LETTERS))
    if not text or bad:
        letters = ", ".join(f"{letter} ({kind})" for letter, kind in LETTERS.items())
        raise ValueError(
            f"placement {pattern!r} is neither one of {', '.join(PLACEMENTS)} nor a pattern of "
            f"the letters {letters}"
        )
    mixers = text.replace("-", "")
    if "-" in text and mlp:
        raise ValueError(f"placement {pattern!r} already places MLPs ('-'); set mlp to false")
    if depth is not None and depth != len(mixers):
        raise InfeasibleSample(f"placement {pattern!r} has {len(mixers)} mixers, depth is {depth}")
    count = mixers.count("*")
    expected = num_attn
    if attn_ratio is not None:
        expected = num_attention(len(mixers), attn_ratio)
    if expected is not None and expected != count:
        raise InfeasibleSample(
            f"placement {pattern!r} has {count} attention layers, the ratio asks for {expected}"
        )
    if "-" in text or not mlp:
        return text
    return "".join(m + "-" for m in mixers)
