"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .models.layout import Architecture


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


def layer_table(arch: Architecture) -> str:
    """Every layer with its channel count and, for inception blocks, each branch's range."""
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


def weights_info(path: str | Path) -> str:
    """What `synthcircuits weights info` prints."""
    from .models.weights import content_hash, read_weights
    from .models.zoo import detect_architecture, has_aux_heads

    weights = read_weights(path)
    arch = weights.metadata.get("synthcircuits.architecture") or detect_architecture(weights.tensors) or "unknown"
    rows = [
        ["file", str(weights.path)],
        ["format", weights.format],
        ["architecture", arch + (" (with auxiliary heads, ignored)" if has_aux_heads(weights.tensors) else "")],
        ["tensors", f"{len(weights.tensors)}"],
        ["parameters", f"{weights.parameter_count:,}"],
        ["content sha256", content_hash(weights.tensors)],
    ]
    rows += [[f"metadata {k}", v if len(v) < 80 else v[:77] + "..."] for k, v in sorted(weights.metadata.items())]
    return format_table(["field", "value"], rows)
