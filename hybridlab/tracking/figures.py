"""The Pareto figure of a study, drawn once as data and rendered two ways for the parent run:
`pareto.png` (matplotlib, shown inline by the MLflow UI) and `pareto.html` (plotly with its
JavaScript embedded: interactive, renders offline, hovering a point names the trial and its
stack).

Every objective is shown: two objectives are one scatter; three or more are a scatter matrix
(every pair of objectives; plotly's SPLOM, and the lower triangle of a grid in the PNG). Every
complete trial is a point, the front highlighted.
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
    # columns[i] holds objective i of every point
    columns: list[list[float]]


@dataclass
class ParetoFigure:
    title: str
    axis_titles: list[str]
    series: list[Series]
    stacks: Mapping[int, str]


def pareto_figure(
    title: str,
    labels: Sequence[str],
    directions: Sequence[str],
    values: Mapping[int, Sequence[float]],
    front: Mapping[int, str],
) -> ParetoFigure | None:
    """The figure of `values` (trial number → objective values) with the trials in `front`
    (number → stack) highlighted; None with fewer than two objectives."""
    if len(labels) < 2:
        return None
    series = []
    for on_front, name in ((False, "other trials"), (True, "Pareto front")):
        numbers = [n for n in values if (n in front) == on_front]
        columns = [[float(values[n][i]) for n in numbers] for i in range(len(labels))]
        series.append(Series(name, on_front, numbers, columns))
    return ParetoFigure(
        title=title,
        axis_titles=[f"{label} ({d})" for label, d in zip(labels, directions, strict=True)],
        series=series,
        stacks=front,
    )


def _style(front: bool) -> tuple[str, float]:
    """(colour, marker size) of a series."""
    return ("C3", 28.0) if front else ("0.6", 14.0)


def to_matplotlib(figure_data: ParetoFigure) -> Any:
    """A matplotlib `Figure`, or None without matplotlib (it comes with mlflow)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    k = len(figure_data.axis_titles)
    if k == 2:
        figure = Figure(figsize=(5, 4), dpi=100)
        axes = figure.add_subplot()
        for series in figure_data.series:
            if series.numbers:
                color, size = _style(series.front)
                x, y = series.columns
                axes.scatter(x, y, c=color, s=size, label=series.name)
        axes.set(xlabel=figure_data.axis_titles[0], ylabel=figure_data.axis_titles[1])
        axes.legend(loc="best", fontsize=8)
    else:
        # Lower triangle: objective j against objective i for every pair i < j.
        figure = Figure(figsize=(3 * (k - 1), 3 * (k - 1)), dpi=100)
        grid = figure.subplots(k - 1, k - 1, squeeze=False)
        for row in range(k - 1):
            for col in range(k - 1):
                axes = grid[row][col]
                i, j = col, row + 1
                if col > row:
                    axes.set_axis_off()
                    continue
                for series in figure_data.series:
                    if series.numbers:
                        color, size = _style(series.front)
                        label = series.name if (row, col) == (0, 0) else None
                        axes.scatter(
                            series.columns[i], series.columns[j], c=color, s=size, label=label
                        )
                if row == k - 2:
                    axes.set_xlabel(figure_data.axis_titles[i], fontsize=8)
                if col == 0:
                    axes.set_ylabel(figure_data.axis_titles[j], fontsize=8)
                axes.tick_params(labelsize=7)
        figure.legend(loc="upper right", fontsize=8)
    figure.suptitle(figure_data.title)
    figure.tight_layout()
    return figure


def to_html(figure_data: ParetoFigure) -> str:
    """A standalone HTML page (plotly, JavaScript embedded): a scatter for two objectives, a
    scatter matrix for more; hovering a point shows its trial and stack."""
    import plotly.graph_objects as go

    figure = go.Figure()
    titles = figure_data.axis_titles
    for series in figure_data.series:
        marker = {
            "color": "#d62728" if series.front else "#999999",
            "size": 10 if series.front else 7,
        }
        text = [f"trial {n}<br>{figure_data.stacks.get(n, '')}" for n in series.numbers]
        if len(titles) == 2:
            trace: Any = go.Scatter(
                x=series.columns[0],
                y=series.columns[1],
                mode="markers",
                hoverinfo="text+x+y",
            )
        else:
            trace = go.Splom(
                dimensions=[
                    {"label": title, "values": column}
                    for title, column in zip(titles, series.columns, strict=True)
                ],
                diagonal_visible=False,
                showupperhalf=False,
            )
        trace.update(name=series.name, marker=marker, text=text)
        figure.add_trace(trace)
    if len(titles) == 2:
        figure.update_layout(xaxis_title=titles[0], yaxis_title=titles[1])
    else:
        size = 260 * (len(titles) - 1) + 120
        figure.update_layout(width=size, height=size)
    figure.update_layout(title=figure_data.title)
    return str(figure.to_html(include_plotlyjs=True, full_html=True))
