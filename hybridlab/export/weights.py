"""A HybridLM checkpoint, read and checked against the spec it should fit.

A checkpoint is a HybridLM `state_dict`: a mapping in memory, a file written by `torch.save`, or a
`.safetensors` file. It fits a spec when it holds exactly the spec's parameter names with the
spec's shapes (the output head may be left out when the spec ties it to the embedding).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from hybridlab.export.errors import ExportError
from hybridlab.model import HybridLM
from hybridlab.spec import ModelSpec

StateDict = Mapping[str, torch.Tensor]
# How many names an error lists before it says "and N more".
_SHOWN = 3


def read_checkpoint(source: StateDict | str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint given as a mapping or a path (`torch.save` or safetensors).

    Raises:
        ExportError: for a missing or unreadable file, or one that holds no mapping of tensors.
    """
    if isinstance(source, Mapping):
        state, where = dict(source), "weights"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ExportError(f"checkpoint {path} is not a file")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(path)
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a torch pickle or safetensors header can fail many ways
            kind = "a safetensors file" if path.suffix == ".safetensors" else "a torch.save file"
            raise ExportError(
                f"checkpoint {path} could not be read as {kind} ({type(err).__name__})"
            ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ExportError(
            f"{where} must hold a HybridLM state_dict (parameter names to tensors), got "
            f"{type(state).__name__}",
        )
    return dict(state)


def check_checkpoint(state: StateDict, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """`state` with the names and shapes of `HybridLM(spec)`'s parameters, the tied head filled in.

    Raises:
        ExportError: naming the first missing, unexpected and mis-shaped parameters.
    """
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in HybridLM(spec).state_dict().items()}
    state = dict(state)
    if spec.tie_embeddings and "embedding.weight" in state:
        state.setdefault("lm_head.weight", state["embedding.weight"])
    problems = []
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    shapes = [
        f"{name} is {tuple(state[name].shape)}, the spec needs {shape}"
        for name, shape in expected.items()
        if name in state and tuple(state[name].shape) != shape
    ]
    for what, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if names:
            more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
            problems.append(f"{what}: {', '.join(names[:_SHOWN])}{more}")
    if problems:
        raise ExportError(
            f"the weights do not fit the stack {spec.format()!r} at d_model={spec.d_model}, "
            f"vocab_size={spec.vocab_size} ({'; '.join(problems)})",
        )
    return state


__all__ = ["StateDict", "check_checkpoint", "read_checkpoint"]
