"""The Pareto scatter of a study, drawn once as data and rendered two ways for the parent run:
`pareto.png` (matplotlib, shown inline by the MLflow UI) and `pareto.html` (plotly with its
JavaScript embedded: interactive, hover names the trial and its stack, renders offline).

Both plot the first two objectives of every complete trial, the front highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Series:
    """One group of points: the front, or the other complete trials."""

    name: str
    front: bool
    numbers: list[int]
    x: list[float]
    y: list[float]


@dataclass
class Scatter:
    title: str
    x_title: str
    y_title: str
    series: list[Series]
    stacks: Mapping[int, str]


def pareto_scatter(
    title: str,
    labels: Sequence[str],
    directions: Sequence[str],
    values: Mapping[int, Sequence[float]],
    front: Mapping[int, str],
) -> Scatter | None:
    """The scatter of `values` (trial number → objective values) with the trials in `front`
    (number → stack) highlighted; None with fewer than two objectives."""
    if len(labels) < 2:
        return None
    series = []
    for on_front, name in ((False, "other trials"), (True, "Pareto front")):
        numbers = [n for n in values if (n in front) == on_front]
        series.append(
            Series(
                name,
                on_front,
                numbers,
                [values[n][0] for n in numbers],
                [values[n][1] for n in numbers],
            )
        )
    return Scatter(
        title=title,
        x_title=f"{labels[0]} ({directions[0]})",
        y_title=f"{labels[1]} ({directions[1]})",
        series=series,
        stacks=front,
    )


def to_matplotlib(scatter: Scatter) -> Any:
    """A matplotlib `Figure`, or None without matplotlib (it comes with mlflow)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(5, 4), dpi=100)
    axes = figure.add_subplot()
    for series in scatter.series:
        if series.numbers:
            color, size = ("C3", 28) if series.front else ("0.6", 14)
            axes.scatter(series.x, series.y, c=color, s=size, label=series.name)
    axes.set(xlabel=scatter.x_title, ylabel=scatter.y_title, title=scatter.title)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure


def to_html(scatter: Scatter) -> str:
    """A standalone HTML page (plotly, JavaScript embedded)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for series in scatter.series:
        figure.add_trace(
            go.Scatter(
                x=series.x,
                y=series.y,
                mode="markers",
                name=series.name,
                marker={
                    "color": "#d62728" if series.front else "#999999",
                    "size": 10 if series.front else 7,
                },
                text=[f"trial {n}<br>{scatter.stacks.get(n, '')}" for n in series.numbers],
                hoverinfo="text+x+y",
            )
        )
    figure.update_layout(
        title=scatter.title, xaxis_title=scatter.x_title, yaxis_title=scatter.y_title
    )
    return str(figure.to_html(include_plotlyjs=True, full_html=True))
