"""Commands on circuit specs: `build`, `check-spec`, `schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..outputs import atomic_target
from ..language import SPEC_SCHEMA, load_spec
from ..language.parse import spec_from_source
from ..language.source import read_source


# The compiler (and torch behind it) is imported only once the YAML has been read and checked:
# a bad spec is refused in a fraction of a second and a few tens of MB.


def run_build(spec_path: Path, output: Path, target: str, base: Path | None, units_out: Path | None) -> int:
    spec = load_spec(spec_path)
    from ..compile import compile_spec

    build = compile_spec(spec, target, base)
    build.save(output)
    if units_out:
        with atomic_target(units_out) as tmp:
            tmp.write_text(build.units_json())
    print(build.summary())
    print(f"\nsaved {output}" + (f" and {units_out}" if units_out else ""))
    return 0


def run_check_spec(spec_path: Path) -> int:
    source = read_source(spec_path)
    if isinstance(source.data, dict) and "synthcircuits_edit" in source.data:
        return _check_edit(source)
    if isinstance(source.data, dict) and "synthcircuits_patch" in source.data:
        from ..causal.patch_spec import patch_from_source

        patch = patch_from_source(source)
        print(f"{source.file}: ok (intervention spec, {len(patch.ops)} intervention{'s' if len(patch.ops) != 1 else ''} on {patch.architecture}; "
              "run it with `synthcircuits patch`)")
        return 0
    spec = spec_from_source(source)
    from ..compile.graph import build_graph

    graph = build_graph(spec)
    print(f"{spec_path}: ok ({len(spec.families)} families, {spec.unit_count} units, {graph.edge_count()} connections)")
    return 0


def _check_edit(source) -> int:
    """An edit spec: its structure, addresses and files, and every circuit spec it splices in."""
    from ..compile.graph import build_graph
    from ..edit.spec import edit_from_source

    edit = edit_from_source(source)
    for op in edit.ops:
        if op.path is not None and op.kind in ("splice", "transplant") and not op.from_weights:
            build_graph(load_spec(op.path))
    print(f"{source.file}: ok (edit spec, {len(edit.ops)} operations on {edit.architecture}; "
          "apply it with `synthcircuits edit`)")
    return 0


def run_schema(output: Path | None) -> int:
    text = json.dumps(SPEC_SCHEMA, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return 0
    with atomic_target(output) as tmp:
        tmp.write_text(text)
    print(f"saved {output}")
    return 0
