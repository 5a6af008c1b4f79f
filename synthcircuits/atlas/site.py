"""The atlas's pages: static HTML that opens from disk, every link relative.

index.html lists the layers and their families; l_LAYER.html is a grid of every unit's
feature visualisation, coloured by family, with a family filter and a search box (addresses are
looked up in atlas.js, a script, because a page opened from disk may not fetch JSON); one
u_LAYER_CHANNEL.html per unit with its pictures, numbers, dataset examples and its strongest
incoming and outgoing units, each a link. Keys on a unit page: right arrow or j next, left
arrow or k previous, u or Escape up to the layer. `index.html#find=3b:379` opens a unit's page.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..census.classify import CensusUnit
from ..outputs import atomic_target, safe_name
from ..taxonomy import FAMILIES_BY_NAME, FAMILY_TABLE, OTHER
from ..viz.weight_diagram import weight_colour
from .plan import AtlasLayer, AtlasUnit
from .weights import Link, UnitLinks
from ..jsontext import strict_json

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990",
           "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#e6beff", "#ffe119"]
COLOURS = {f.name: PALETTE[i % len(PALETTE)] for i, f in enumerate(FAMILY_TABLE)} | {OTHER: "#dddddd"}

STYLE = """<style>
body{font-family:sans-serif;margin:1.5em;max-width:1200px}a{color:#1a4f9c;text-decoration:none}a:hover{text-decoration:underline}
nav{margin-bottom:1em}nav a{margin-right:1em}table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:6px}.card{display:inline-block;width:72px;text-align:center;font-size:11px;border:3px solid #ddd;
border-radius:4px;padding:2px}.card img{width:64px;height:64px;image-rendering:pixelated}.hidden{display:none}
figure{display:inline-block;margin:4px;font-size:11px;text-align:center}figure img{image-rendering:pixelated}
.links td{vertical-align:middle}.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px}
</style>"""

# Counts script errors and broken images into attributes a headless browser's DOM dump shows.
PROBE = ("<script>document.documentElement.setAttribute('data-js-errors','0');window.addEventListener('error',function(){"
         "var n=+document.documentElement.getAttribute('data-js-errors')+1;document.documentElement.setAttribute('data-js-errors',n);});"
         "window.addEventListener('load',function(){var n=0;for(var i=0;i<document.images.length;i++){var m=document.images[i];"
         "if(!m.complete||m.naturalWidth===0)n++;}document.body.setAttribute('data-broken-images',n);});</script>")

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


def _page(path: Path, title: str, body: str, scripts: Sequence[str] = ()) -> None:
    tags = "".join(f"<script src='{s}'></script>" for s in scripts)
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{PROBE}{STYLE}{tags}</head>"
            f"<body>{body}</body></html>\n")
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _search_box() -> str:
    return ("<form onsubmit='return atlasSearch(this)'><input name='q' size='28' placeholder='unit address, e.g. "
            "3b:379' aria-label='unit address'> <button>find</button> <span class='said'></span></form>")


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


def _write_index(output: Path, title: str, model: str, layers, views, images: int | None) -> None:
    e = html.escape
    rows = []
    for layer in layers:
        counts = _family_counts(layer, views)
        families = ", ".join(f"<span class='swatch' style='background:{COLOURS[f]}'></span>{e(f)} {n}" for f, n in counts.most_common())
        rows.append(f"<tr><td><a href='{layer.page}'>{e(layer.name)}</a></td><td>{len(layer.units)}</td><td>{families}</td></tr>")
    body = (f"<h1>{e(title)}</h1><p>model: {e(model)}" + (f" &middot; dataset examples from {images} images" if images else "")
            + f" &middot; synthcircuits {__version__}</p>{_search_box()}<table><tr><th>layer</th><th>units</th><th>families (census)</th></tr>"
            + "".join(rows) + "</table><p>Keys on a unit page: &rarr; or j next unit, &larr; or k previous, u up to its layer.</p>")
    _page(output / "index.html", title, body, ["atlas.js", "site.js"])


def _write_layer(output: Path, title: str, layer: AtlasLayer, views) -> None:
    e = html.escape
    counts = _family_counts(layer, views)
    options = "".join(f"<option value='{e(f)}'>{e(f)} ({n})</option>" for f, n in counts.most_common())
    cards = []
    for u in layer.units:
        view = views[(u.layer, u.channel)]
        family = view.census.family
        cards.append(f"<a class='card' data-family='{e(family)}' style='border-color:{COLOURS[family]}' href='{u.page}' "
                     f"title='{e(u.name)}: {e(family)}'>"
                     + (f"<img src='{view.vis['neuron']}' alt='{e(u.name)}' loading='lazy'>" if "neuron" in view.vis else
                        "<svg width='64' height='64'><rect width='64' height='64' fill='#eee'/><text x='8' y='36' font-size='11' "
                        "fill='#999'>silent</text></svg>")
                     + f"<br>{u.channel}</a>")
    legend = " ".join(f"<span class='swatch' style='background:{COLOURS[f]}'></span>{e(f)}" for f, _ in counts.most_common())
    body = (f"<nav><a id='up' href='index.html'>{e(title)}</a></nav><h1>{e(layer.name)}</h1><p>{len(layer.units)} units. {legend}</p>"
            f"{_search_box()}<p>family: <select onchange='atlasFilter(this)'><option value=''>all</option>{options}</select></p>"
            f"<div class='grid'>{''.join(cards)}</div>")
    _page(output / layer.page, f"{layer.name} - {title}", body, ["atlas.js", "site.js"])


def _kernel_svg(kernel: np.ndarray, scale: float, cell: int = 6) -> str:
    k = kernel.shape[0]
    rects = "".join(f"<rect x='{c * cell}' y='{r * cell}' width='{cell}' height='{cell}' fill='rgb{weight_colour(float(kernel[r, c]), scale)}'/>"
                    for r in range(k) for c in range(k))
    return f"<svg width='{k * cell}' height='{k * cell}' style='border:1px solid #aaa'>{rects}</svg>"


def _links_table(links: Sequence[Link], pages: set[str], heading: str) -> str:
    if not links:
        return ""
    scale = max(float(np.abs(link.kernel).max()) for link in links) or 1.0
    rows = []
    for link in links:
        page = f"u_{safe_name(link.layer)}_{link.channel}.html"
        name = html.escape(link.unit)
        label = f"<a class='weight-link' href='{page}'>{name}</a>" if page in pages else name
        rows.append(f"<tr><td>{_kernel_svg(link.kernel, scale)}</td><td>{label}</td><td>{link.net:+.3g}</td></tr>")
    return f"<h3>{heading}</h3><table class='links'><tr><th>weights</th><th>unit</th><th>net</th></tr>{''.join(rows)}</table>"


def _write_unit(output: Path, layer: AtlasLayer, view: UnitView, previous, following, pages: set[str]) -> None:
    e = html.escape
    unit, census = view.unit, view.census
    nav = [f"<a href='index.html'>atlas</a>", f"<a id='up' href='{layer.page}'>{e(layer.name)}</a>"]
    if previous:
        nav.append(f"<a id='prev' href='{previous.page}'>&larr; {e(previous.name)}</a>")
    if following:
        nav.append(f"<a id='next' href='{following.page}'>{e(following.name)} &rarr;</a>")
    family = FAMILIES_BY_NAME.get(census.family)
    said = (f"family <b class='family'>{e(census.family)}</b> ({e(family.title)}), confidence {census.confidence:.2f}" if family
            else f"family <b class='family'>other</b>: {e(census.note)}")
    numbers = "".join(f"<tr><td>{e(k)}</td><td>{v:.4g}</td></tr>" for k, v in census.numbers.items())
    body = [f"<nav>{''.join(nav)}</nav><h1>{e(unit.name)}</h1><p>{said}" + (f"; branch {e(unit.branch)}" if unit.branch else "") + "</p>",
            f"<table>{numbers}</table>", "<h2>Feature visualisation</h2>"]
    for kind, caption in (("neuron", "neuron (centre unit)"), ("channel", "channel (mean over positions)"), ("diverse", "diverse batch")):
        if kind in view.vis:
            body.append(f"<figure><img src='{view.vis[kind]}' height='128' alt='{kind}'><figcaption>{caption}</figcaption></figure>")
    if not view.vis:
        body.append("<p>none: no stimulus of the census battery makes this unit answer, so there is no gradient to climb</p>")
    if view.family_pictures:
        body.append("<h2>Tuning and strongest stimuli</h2>")
        for kind, href in view.family_pictures.items():
            body.append(f"<figure><img src='{href}' height='{90 if kind == 'tuning' else 96}' alt='{e(kind)}'>"
                        f"<figcaption>{e(kind.replace('_', ' '))}</figcaption></figure>")
    if view.examples and not any(href for _, href in view.examples):  # rows of a .npy batch: no file to cut crops from
        strongest = ", ".join(f"{e(row['image'])} ({row['activation']:.3g})" for row, _ in view.examples if row["kind"] == "top")
        body.append(f"<h2>Dataset examples</h2><p>strongest: {strongest} (rows of an array: no crops to show)</p>")
    elif view.examples:
        body.append("<h2>Dataset examples</h2>")
        for kind, heading in (("top", "strongest"), ("sigma", "by standard deviations above the mean")):
            figures = [f"<figure><img src='{href}' width='72' alt='{e(Path(row['image']).name)}'><figcaption>"
                       + (f"{row['activation']:.3g}" if kind == "top" else f"{row['bin']}&sigma;: {row['activation']:.3g}")
                       + "</figcaption></figure>" for row, href in view.examples if row["kind"] == kind and href]
            if figures:
                body.append(f"<h3>{heading}</h3>{''.join(figures)}")
    body.append("<h2>Weights</h2>")
    if view.links.note and not view.links.incoming:
        body.append(f"<p>{e(view.links.note)}</p>")
    body.append(_links_table(view.links.incoming, pages, "strongest inputs (expanded weights; red excites, blue inhibits)"))
    body.append(_links_table(view.links.outgoing, pages, "strongest outputs"))
    _page(output / unit.page, f"{unit.name}", "".join(body), ["site.js"])
