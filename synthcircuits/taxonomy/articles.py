"""The articles' taxonomy of InceptionV1's early layers: each family they name, its share of the
layer's units (Olah et al., "An Overview of Early Vision in InceptionV1", Distill 2020), and the
row of the family table it corresponds to, or none where the census battery cannot tell it
apart yet."""

from __future__ import annotations

from dataclasses import dataclass

from .families import OTHER


@dataclass(frozen=True)
class ArticleShare:
    name: str  # the articles' family name
    share: float
    family: str | None  # the row of FAMILY_TABLE it corresponds to (None: the battery cannot tell it apart)


def _shares(*rows: tuple[str, float, str | None]) -> tuple[ArticleShare, ...]:
    return tuple(ArticleShare(n, s, f) for n, s, f in rows)


# The articles' taxonomy of InceptionV1's early layers (shares of the layer's units).
ARTICLE_SHARES: dict[str, tuple[ArticleShare, ...]] = {
    "conv2d2": _shares(
        ("colour contrast", 0.20, "colour_contrast"), ("line", 0.17, "line"), ("shifted line", 0.08, "shifted_line"),
        ("textures", 0.07, "texture"), ("colour center-surround", 0.06, "colour_centre_surround"), ("tiny curves", 0.06, "tiny_curve"),
        ("early brightness gradient", 0.06, "brightness_gradient"), ("Gabor textures", 0.06, "gabor_texture"),
        ("texture contrast", 0.04, None), ("hatch textures", 0.03, "hatch"), ("colour/multicolour", 0.02, "colour"),
        ("other", 0.07, OTHER)),
    "mixed3a": _shares(
        ("texture", 0.25, "texture"), ("colour center-surround", 0.11, "colour_centre_surround"),
        ("high-low frequency", 0.05, "high_low_frequency"), ("brightness gradient", 0.05, "brightness_gradient"),
        ("colour contrast", 0.05, "colour_contrast"), ("complex center-surround", 0.05, "centre_surround"),
        ("line misc.", 0.05, None), ("lines", 0.05, "line"), ("other", 0.05, OTHER), ("repeating patterns", 0.04, None),
        ("curves", 0.04, "early_curve"), ("black-and-white vs colour", 0.03, "black_and_white"), ("angles", 0.03, "angle"),
        ("fur precursors", 0.02, None), ("eyes / small circles", 0.01, "circle"), ("crosses / diverging lines", 0.01, "cross")),
}
