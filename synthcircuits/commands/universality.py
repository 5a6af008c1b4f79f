"""`synthcircuits universality CENSUS_DIR CENSUS_DIR...`: networks' censuses side by side at
comparable depths (by receptive-field size): each family's count and share in each network, and
each network's clearest members next to each other. Writes universality.json, universality.md,
index.html and one examples PNG per layer pairing."""

from __future__ import annotations

from pathlib import Path

from ..census.battery import KINDS, Scale
from ..census.sheets import examples_sheet, stimulus_picture
from ..census.universality import FAR, Census, Pairing, pair_layers, read_census, share_table
from ..errors import UserError
from ..outputs import atomic_target, make_folders, safe_name
from ..tables import format_table
from ..taxonomy import FAMILIES_BY_NAME, OTHER
from ..pages import write_page
from ..jsontext import strict_json

PER_NETWORK = 3


def run_universality(folders: list[Path], output: Path, names: str | None) -> int:
    labels = [n.strip() for n in names.split(",")] if names else [None] * len(folders)
    if len(labels) != len(folders):
        raise UserError(f"--names gives {len(labels)} names for {len(folders)} censuses", hint="one name per census folder, comma-separated")
    if len(folders) < 2:
        raise UserError("universality compares two or more censuses", hint="e.g. synthcircuits universality out/census-bvlc out/census-resnet")
    censuses = [read_census(f, n) for f, n in zip(folders, labels)]
    _distinct_names(censuses)
    make_folders(output)
    pairings = pair_layers(censuses)
    texts, entries = [], []
    for pairing in pairings:
        text = _pairing_text(censuses, pairing)
        picture = _examples(censuses, pairing, output)
        print(text + "\n")
        texts.append(text)
        entries.append({"layers": [{"network": c.name, "layer": l.layer, "field_px": l.field_px} for c, l in zip(censuses, pairing.layers)],
                        "comparable": pairing.comparable, "examples": picture,
                        "families": [{"family": f, "title": t, "counts": [c for c, _ in cells], "shares": [s for _, s in cells]}
                                     for f, t, cells in share_table(pairing)]})
    with atomic_target(output / "universality.json") as tmp:
        tmp.write_text(strict_json({"networks": [{"name": c.name, "census": str(c.folder)} for c in censuses], "pairings": entries}, indent=1))
    with atomic_target(output / "universality.md") as tmp:
        tmp.write_text("\n\n".join(f"```\n{t}\n```" for t in texts) + "\n")
    _write_page(censuses, texts, entries, output / "index.html")
    print(f"saved {output / 'universality.json'}, universality.md and index.html (examples under {output / 'examples'})")
    return 0


def _distinct_names(censuses: list[Census]) -> None:
    seen: dict[str, int] = {}
    for c in censuses:
        seen[c.name] = seen.get(c.name, 0) + 1
    if any(n > 1 for n in seen.values()):
        raise UserError("two censuses have the same network name (" + ", ".join(n for n, k in seen.items() if k > 1) + ")",
                        hint="name them with --names A,B,...")


def _pairing_text(censuses: list[Census], pairing: Pairing) -> str:
    heads = [f"{c.name} {layer.layer} ({layer.field_px} px)" for c, layer in zip(censuses, pairing.layers)]
    rows = [[family, *[f"{share:.0%} ({count})" for count, share in cells]] for family, _, cells in share_table(pairing)]
    note = "" if pairing.comparable else f"\n(receptive fields differ by more than {FAR:g}x: no layer of comparable depth)"
    return "comparable depth: " + " ~ ".join(heads) + note + "\n\n" + format_table(["family", *[c.name for c in censuses]], rows)


def _examples(censuses: list[Census], pairing: Pairing, output: Path) -> str:
    families = [f for f, _, cells in share_table(pairing) if f != OTHER]
    columns = []
    for census, layer in zip(censuses, pairing.layers):
        cells = []
        for family in families:
            kind = FAMILIES_BY_NAME[family].stimuli[0]
            best = layer.best(family, PER_NETWORK)
            cells += [(u.unit, stimulus_picture(kind, _grid(kind, layer.field_px), u.best[kind], layer.field_px, layer.centre, layer.window)
                       if kind in u.best else None) for u in best]
            cells += [("", None)] * (PER_NETWORK - len(best))
        columns.append((f"{census.name} {layer.layer}", cells))
    name = "examples/" + safe_name("_vs_".join(layer.layer for layer in pairing.layers)) + ".png"
    examples_sheet(columns, families, output / name, PER_NETWORK)
    return name


def _grid(kind: str, field_px: int):
    return KINDS[kind].grid(Scale(field_px))


def _write_page(censuses: list[Census], texts: list[str], entries: list[dict], path: Path) -> None:
    shown = [{"heading": " ~ ".join(x["network"] + " " + x["layer"] for x in entry["layers"]), "text": text, "examples": entry["examples"]}
             for text, entry in zip(texts, entries)]
    write_page(path, "universality.html", title="universality", networks=", ".join(c.name for c in censuses), entries=shown)
