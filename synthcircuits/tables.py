"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .layout.architectures import Architecture
from .layout.geometry import Geometry


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) and rows for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def layer_table(arch: Architecture, geometry: Geometry | None = None) -> str:
    """Every layer with its channel count and, for inception blocks, each branch's range;
    for traced networks, each node's kind, conv kernel, stride and receptive field."""
    if arch.key_scheme == "modules":
        return _traced_table(arch, geometry)
    rows = []
    for layer in arch.layers:
        ranges = {b.name: _branch_text(b) for b in layer.branches}
        rows.append([
            layer.name, layer.short or "", layer.kind, layer.channels,
            ranges.get("1x1", ""), ranges.get("3x3", ""), ranges.get("5x5", ""), ranges.get("pool_reduce", ""),
        ])
    headers = ["layer", "short", "kind", "channels", "1x1", "3x3", "5x5", "pool_reduce"]
    return f"{arch.name}: input {arch.input_description}\n" + format_table(headers, rows)


def _branch_text(branch) -> str:
    text = f"{branch.start}-{branch.stop - 1}"
    if branch.bottleneck:
        text += f" (bn {branch.bottleneck})"
    return text


def _traced_table(arch: Architecture, geometry: Geometry | None) -> str:
    rows = []
    for layer in arch.layers:
        known = geometry is not None and geometry.knows(layer.name)
        span = geometry.span(layer.name) if known else None
        conv = f"{layer.kernel}x{layer.kernel}" + (f" /{layer.groups} groups" if layer.groups > 1 else "") if layer.kernel else ""
        rows.append([layer.name, layer.kind, layer.channels, conv, span.jump if span else "", span.size if span else ""])
    headers = ["layer", "kind", "channels", "conv", "stride", "receptive field (px)"]
    return (f"{arch.name}: input {arch.input_description}, {arch.input_size} px; {len(arch.layers)} layers "
            "(module paths name a block's last node)\n" + format_table(headers, rows))
