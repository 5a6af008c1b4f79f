"""Unit families as data: the family table and the articles' shares per layer (torch-free)."""

from .articles import ARTICLE_SHARES, ArticleShare
from .families import ALIASES, FAMILIES_BY_NAME, FAMILY_TABLE, OTHER, WEAK, Condition, UnitFamily, family_named

__all__ = ["ALIASES", "ARTICLE_SHARES", "ArticleShare", "FAMILIES_BY_NAME", "FAMILY_TABLE", "OTHER", "WEAK", "Condition", "UnitFamily",
           "family_named"]
