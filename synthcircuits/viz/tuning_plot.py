"""Tuning plots: response against stimulus orientation, several models overlaid, as PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..outputs import atomic_target
from ..probe.tuning import TuningCurve


def _grid(n: int):
    """A figure with one small axes per panel, five to a row: a `Figure` on its own Agg canvas, so
    drawing touches neither pyplot's global figures nor the caller's matplotlib backend."""
    cols = min(5, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, axes


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


Panels = Sequence[tuple[str, Sequence[tuple[str, TuningCurve]]]]


def _draw_panel(ax, title: str, curves: Sequence[tuple[str, TuningCurve]], normalise: bool) -> None:
    for label, curve in curves:
        y = curve.responses / curve.peak if normalise and curve.peak > 0 else curve.responses
        ax.plot(curve.angles, y, label=label, linewidth=1.4)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([0, 90, 180, 270, 360])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("orientation (deg)", fontsize=7)


def plot_tuning(panels: Panels, path: str | Path, normalise: bool = True) -> Path:
    """One panel per unit, each with labelled curves (e.g. compiled vs trained), written atomically."""
    fig, axes = _grid(len(panels))
    for ax, (title, curves) in zip(axes.flat, panels):
        _draw_panel(ax, title, curves, normalise)
    axes.flat[0].legend(fontsize=6, loc="upper right")
    return _save(fig, path)


def plot_tuning_each(panels: Panels, paths: Sequence[str | Path], normalise: bool = True) -> list[Path]:
    """A picture per panel, as `plot_tuning` draws a single one, but rendered as one figure
    and cut apart: a figure render costs about as much for one panel as for thirty."""
    fig, axes = _grid(len(panels))
    for ax, (title, curves) in zip(axes.flat, panels):
        _draw_panel(ax, title, curves, normalise)
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    renderer = fig.canvas.get_renderer()
    height, width = pixels.shape[:2]
    written = []
    for ax, path in zip(axes.flat, paths):
        x0, y0, x1, y1 = ax.get_tightbbox(renderer).extents  # pixels, origin at the bottom left
        box = pixels[max(0, int(height - y1) - 4) : min(height, int(height - y0) + 4), max(0, int(x0) - 4) : min(width, int(x1) + 4)]
        with atomic_target(Path(path)) as tmp:
            Image.fromarray(box[..., :3].copy()).save(tmp, format="PNG")
        written.append(Path(path))
    return written


def plot_orientation_radius(panels: Sequence[tuple[str, Sequence[float], Sequence[float], np.ndarray]], path: str | Path) -> Path:
    """One heatmap per unit: response by orientation (x) and arc radius (y), as the articles show curves."""
    fig, axes = _grid(len(panels))
    for ax, (title, angles, radii, responses) in zip(axes.flat, panels):
        ax.imshow(responses, aspect="auto", origin="lower", cmap="magma",
                  extent=(angles[0], angles[-1] + (angles[1] - angles[0]), 0, len(radii)))
        ax.set_yticks([i + 0.5 for i in range(len(radii))], [f"{r:g}" for r in radii])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("orientation (deg)", fontsize=7)
        ax.set_ylabel("radius (px)", fontsize=7)
        ax.tick_params(labelsize=7)
    return _save(fig, path)


def plot_profiles(profiles: Sequence[tuple[str, Sequence[float], Sequence[float]]], path: str | Path) -> Path:
    """Weight against orientation difference, one panel per (title, degrees, weights)."""
    fig, axes = _grid(len(profiles))
    for ax, (title, degrees, weights) in zip(axes.flat, profiles):
        ax.plot(degrees, weights, marker="o", linewidth=1.4)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("orientation difference (deg)", fontsize=7)
    return _save(fig, path)
