"""`ExportError`: a stack that a target format cannot express exactly, or weights that do not fit
the stack, with the layer (index and text) to blame when there is one."""

from __future__ import annotations

from hybridlab.spec import ModelSpec
from hybridlab.spec.model_spec import format_layer


class ExportError(ValueError):
    """Refusal to export: what, where, and why; never an approximate export.

    Attributes:
        reason: what is wrong, in one sentence.
        target: the family or format that cannot express the stack ("Nemotron-H",
            "Megatron-LM"); None when the weights are at fault.
        layer: 0-based index of the layer to blame in the expanded stack (None for the model).
        text: that layer's spec text, as `hybridlab spec` prints it (None for the model).
    """

    def __init__(
        self,
        reason: str,
        *,
        target: str | None = None,
        layer: int | None = None,
        text: str | None = None,
    ) -> None:
        self.reason = reason
        self.target = target
        self.layer = layer
        self.text = text
        where = f"layer {layer} ({text}): " if layer is not None else ""
        head = f"cannot export to {target}: " if target else ""
        super().__init__(f"{head}{where}{reason}")


def refuse(target: str, reason: str, spec: ModelSpec, index: int) -> ExportError:
    """An `ExportError` that blames layer `index` of `spec`, with its text."""
    return ExportError(reason, target=target, layer=index, text=format_layer(spec.layers[index]))
