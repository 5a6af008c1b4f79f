"""Unit families as data: the family table and the articles' shares per layer (torch-free)."""

from .articles import ARTICLE_SHARES, ArticleShare
from .families import FAMILIES_BY_NAME, FAMILY_TABLE, OTHER, WEAK, Condition, UnitFamily

__all__ = ["ARTICLE_SHARES", "ArticleShare", "FAMILIES_BY_NAME", "FAMILY_TABLE", "OTHER", "WEAK", "Condition", "UnitFamily"]
