"""Plotting and table helpers shared by lessons (matplotlib only, framework-free)."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np


def _axes(ax=None, figsize=None):
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def curves(x: Sequence[float], ys: Mapping[str, Sequence[float]], *, title: str = "",
           xlabel: str = "", ylabel: str = "", logy: bool = False, ax=None, **style):
    """Several named curves over the same x, with a legend."""
    ax = _axes(ax)
    for name, y in ys.items():
        ax.plot(x, y, label=name, **style)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    if len(ys) > 1:
        ax.legend(fontsize="small")
    return ax


def per_layer(values: Mapping[str, Sequence[float]], *, title: str = "", ylabel: str = "",
              logy: bool = True, ax=None):
    """One line per setting, x = layer index (1 = closest to the input)."""
    ax = _axes(ax)
    for name, v in values.items():
        ax.plot(np.arange(1, len(v) + 1), v, marker="o", markersize=3, label=name)
    ax.set(title=title, xlabel="layer (1 = input side)", ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


def decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                      y: np.ndarray, *, title: str = "", ax=None, steps: int = 150,
                      margin: float = 0.5):
    """Shade ``predict(points) -> P(class 1)`` over the plane and scatter the data."""
    ax = _axes(ax)
    x0 = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, steps)
    x1 = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, steps)
    g0, g1 = np.meshgrid(x0, x1)
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1).astype(np.float32)
    p = np.asarray(predict(grid)).reshape(g0.shape)
    ax.contourf(g0, g1, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(g0, g1, p, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", linewidths=0.3, s=12)
    ax.set(title=title, xticks=[], yticks=[])
    return ax


def grid(n: int, *, cols: int = 3, size: float = 2.6):
    """A figure with ``n`` axes in rows of ``cols``; returns (fig, flat list of axes)."""
    import matplotlib.pyplot as plt
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def table(rows: Iterable[Mapping[str, object]], *, floatfmt: str = ".3f") -> str:
    """Format dict rows as an aligned text table (stable output for regression checks)."""
    rows = list(rows)
    if not rows:
        return "(no rows)"
    cols = list(rows[0])

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    body = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w)
                                  for i, (v, w) in enumerate(zip(vals, widths)))
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(b) for b in body])


def show_table(rows: Iterable[Mapping[str, object]], *, floatfmt: str = ".3f") -> None:
    print(table(rows, floatfmt=floatfmt))
