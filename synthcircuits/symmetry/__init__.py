"""Left-right symmetry in a network: every unit's mirror partner, and the units that are their own."""

from .partners import KINDS, LayerMirrors, MirrorStatistics, MirrorUnit, counts, mirror_partners, pairs

__all__ = ["KINDS", "LayerMirrors", "MirrorStatistics", "MirrorUnit", "counts", "mirror_partners", "pairs"]
