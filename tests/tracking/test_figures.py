"""The parent run's Pareto figures cover every objective and name each point's architecture."""

from __future__ import annotations

import pytest

from hybridlab.tracking.figures import pareto_figure, to_html, to_matplotlib

VALUES = {0: [0.98, 38080.0, 65536.0], 1: [0.99, 48680.0, 39168.0], 2: [0.25, 59280.0, 12800.0]}
FRONT = {1: "ssd(d_state=8, headdim=16), attn(heads=2)", 2: "ssd(d_state=8, headdim=16)*2"}
DIRECTIONS = ["maximize", "minimize", "minimize"]


@pytest.mark.parametrize("k", [2, 3], ids=["two-objectives", "three-objectives"])
def test_every_objective_is_drawn_and_hover_names_the_architecture(k):
    labels = ["accuracy", "params", "state_bytes"][:k]
    values = {n: v[:k] for n, v in VALUES.items()}
    data = pareto_figure("quickstart", labels, DIRECTIONS[:k], values, FRONT)
    assert data is not None and len(data.axis_titles) == k
    html = to_html(data)
    for label in labels:
        assert label in html
    for stack in FRONT.values():
        assert stack in html
    assert ('"type":"splom"' in html) == (k > 2)
    figure = to_matplotlib(data)
    drawn = [axes for axes in figure.axes if axes.collections]
    # One panel per pair of objectives: 1 for two, 3 for three.
    assert len(drawn) == k * (k - 1) // 2


def test_one_objective_has_no_figure():
    assert pareto_figure("s", ["accuracy"], ["maximize"], {0: [0.5]}, {0: "attn"}) is None
