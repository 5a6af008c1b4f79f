"""The atlas's pages: static HTML that opens from disk, every link relative.

index.html lists the layers and their families; l_LAYER.html is a grid of every unit's
feature visualisation, coloured by family, with a family filter and a search box (addresses are
looked up in atlas.js, a script, because a page opened from disk may not fetch JSON); one
u_LAYER_CHANNEL.html per unit with its pictures, numbers, dataset examples and its strongest
incoming and outgoing units, each a link. Keys on a unit page: right arrow or j next, left
arrow or k previous, u or Escape up to the layer. `index.html#find=3b:379` opens a unit's page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..census.classify import CensusUnit
from ..outputs import atomic_target, safe_name
from ..pages import write_page
from ..taxonomy import FAMILIES_BY_NAME, FAMILY_TABLE, OTHER
from ..viz.weight_diagram import weight_colour
from .plan import AtlasLayer, AtlasUnit
from .weights import Link, UnitLinks
from ..jsontext import strict_json

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990",
           "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#e6beff", "#ffe119"]
COLOURS = {f.name: PALETTE[i % len(PALETTE)] for i, f in enumerate(FAMILY_TABLE)} | {OTHER: "#dddddd"}

SITE_JS = """// The atlas's behaviour: search by unit address, filter by family, keyboard navigation.
function atlasFind(text) {
  var q = String(text).trim().toLowerCase().replace(/\\s+/g, '');
  return (window.ATLAS && ATLAS.aliases[q]) || null;
}
function atlasSearch(form) {
  var input = form.querySelector('input');
  var page = atlasFind(input.value);
  var said = form.querySelector('.said');
  if (page) { window.location.href = page; } else { said.textContent = 'no unit ' + input.value + ' in this atlas'; }
  return false;
}
function atlasFilter(select) {
  var cards = document.querySelectorAll('.card');
  for (var i = 0; i < cards.length; i++) {
    var show = !select.value || cards[i].getAttribute('data-family') === select.value;
    cards[i].className = show ? 'card' : 'card hidden';
  }
}
document.addEventListener('keydown', function (e) {
  if (e.target && e.target.tagName === 'INPUT') return;
  var go = {ArrowRight: 'next', j: 'next', ArrowLeft: 'prev', k: 'prev', u: 'up', Escape: 'up'}[e.key];
  var link = go && document.getElementById(go);
  if (link) { window.location.href = link.getAttribute('href'); }
});
window.addEventListener('load', function () {
  var m = /#find=(.+)$/.exec(window.location.hash);
  if (m) {
    var page = atlasFind(decodeURIComponent(m[1]));
    var said = document.querySelector('.said');
    if (page) { window.location.replace(page); } else if (said) { said.textContent = 'no unit ' + decodeURIComponent(m[1]); }
  }
});
"""


@dataclass
class UnitView:
    unit: AtlasUnit
    census: CensusUnit
    vis: Mapping[str, str]
    family_pictures: Mapping[str, str]
    links: UnitLinks
    examples: list[tuple[dict, str | None]] = field(default_factory=list)  # (row, crop href)


def write_site(output: Path, title: str, model: str, layers: Sequence[AtlasLayer], views: Mapping[tuple[str, int], UnitView],
               images: int | None) -> None:
    aliases = {a: u.page for layer in layers for u in layer.units for a in u.aliases}
    index = {"title": title, "layers": [{"name": l.name, "page": l.page, "units": len(l.units)} for l in layers], "aliases": aliases}
    with atomic_target(output / "atlas.js") as tmp:
        tmp.write_text("window.ATLAS = " + strict_json(index, separators=(",", ":")) + ";\n", encoding="utf-8")
    with atomic_target(output / "site.js") as tmp:
        tmp.write_text(SITE_JS, encoding="utf-8")
    _write_index(output, title, model, layers, views, images)
    for layer in layers:
        _write_layer(output, title, layer, views)
        for k, unit in enumerate(layer.units):
            previous = layer.units[k - 1] if k > 0 else None
            following = layer.units[k + 1] if k + 1 < len(layer.units) else None
            _write_unit(output, layer, views[(unit.layer, unit.channel)], previous, following, set(aliases.values()))


def _family_counts(layer: AtlasLayer, views) -> Counter:
    return Counter(views[(u.layer, u.channel)].census.family for u in layer.units)


def _families(layer: AtlasLayer, views) -> list[tuple[str, int, str]]:
    """(family, units, colour) of a layer, most units first."""
    return [(f, n, COLOURS[f]) for f, n in _family_counts(layer, views).most_common()]


def _write_index(output: Path, title: str, model: str, layers, views, images: int | None) -> None:
    rows = [{"page": l.page, "name": l.name, "units": len(l.units), "families": _families(l, views)} for l in layers]
    write_page(output / "index.html", "atlas_index.html", title=title, model=model, images=images, version=__version__, layers=rows,
               scripts=["atlas.js", "site.js"])


def _write_layer(output: Path, title: str, layer: AtlasLayer, views) -> None:
    cards = []
    for u in layer.units:
        view = views[(u.layer, u.channel)]
        family = view.census.family
        cards.append({"family": family, "colour": COLOURS[family], "page": u.page, "name": u.name, "channel": u.channel,
                      "vis": view.vis.get("neuron")})
    write_page(output / layer.page, "atlas_layer.html", title=f"{layer.name} - {title}", atlas=title, layer=layer.name,
               count=len(layer.units), families=_families(layer, views), cards=cards, scripts=["atlas.js", "site.js"])


def _links(links: Sequence[Link], pages: set[str], cell: int = 6) -> list[dict]:
    """Each link's kernel as coloured cells (one colour scale for the table), its page if the atlas has one."""
    if not links:
        return []
    scale = max(float(np.abs(link.kernel).max()) for link in links) or 1.0
    shown = []
    for link in links:
        k = link.kernel.shape[0]
        page = f"u_{safe_name(link.layer)}_{link.channel}.html"
        cells = [(r * cell, c * cell, f"rgb{weight_colour(float(link.kernel[r, c]), scale)}") for r in range(k) for c in range(k)]
        shown.append({"size": k * cell, "cells": cells, "name": link.unit, "page": page if page in pages else None, "net": link.net})
    return shown


VIS_KINDS = (("neuron", "neuron (centre unit)"), ("channel", "channel (mean over positions)"), ("diverse", "diverse batch"))


def _write_unit(output: Path, layer: AtlasLayer, view: UnitView, previous, following, pages: set[str]) -> None:
    unit, census = view.unit, view.census
    family = FAMILIES_BY_NAME.get(census.family)
    listed = examples = None
    if view.examples and not any(href for _, href in view.examples):  # rows of a .npy batch: no file to cut crops from
        listed = ", ".join(f"{row['image']} ({row['activation']:.3g})" for row, _ in view.examples if row["kind"] == "top")
    elif view.examples:
        examples = []
        for kind, heading in (("top", "strongest"), ("sigma", "by standard deviations above the mean")):
            figures = [(href, Path(row["image"]).name,
                        f"{row['activation']:.3g}" if kind == "top" else f"{row['bin']}\u03c3: {row['activation']:.3g}")
                       for row, href in view.examples if row["kind"] == kind and href]
            if figures:
                examples.append((heading, figures))
    write_page(
        output / unit.page, "atlas_unit.html", title=unit.name, name=unit.name, layer=layer.name, layer_page=layer.page,
        previous={"page": previous.page, "name": previous.name} if previous else None,
        following={"page": following.page, "name": following.name} if following else None,
        family=census.family, family_title=family.title if family else None, confidence=census.confidence, note=census.note,
        branch=unit.branch, numbers=list(census.numbers.items()),
        vis=[(view.vis[kind], kind, caption) for kind, caption in VIS_KINDS if kind in view.vis],
        family_pictures=list(view.family_pictures.items()), examples_listed=listed, examples=examples,
        weights_note=view.links.note if view.links.note and not view.links.incoming else None,
        incoming=_links(view.links.incoming, pages), outgoing=_links(view.links.outgoing, pages), scripts=["site.js"])
