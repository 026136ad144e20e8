"""Figures without pyplot: no global figure state, any backend (the CLI saves PNG with Agg)."""

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def axes(ax: Axes | None = None, size: tuple[float, float] = (5.0, 3.6)) -> tuple[Figure, Axes]:
    """The given axes and their figure, or a new figure with one axes."""
    if ax is not None:
        figure = ax.figure
        while not isinstance(figure, Figure):  # axes of a subfigure: the figure it belongs to saves it
            figure = figure.figure
        return figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()
