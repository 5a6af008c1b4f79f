"""What a census says about a layer as a whole: each family's count and share beside the
articles' share, and, for a compiled spec, how many designed units landed in their family."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..taxonomy import ARTICLE_SHARES, FAMILY_TABLE, OTHER
from .classify import CensusUnit


@dataclass(frozen=True)
class ShareRow:
    family: str
    title: str
    count: int | None  # None: a family of the articles' the battery cannot tell apart (it has no count here)
    share: float | None
    articles: float | None  # the articles' share for the counterpart layer (None: not listed, or no counterpart)
    articles_name: str = ""


def share_rows(units: Sequence[CensusUnit], counterpart: str | None) -> list[ShareRow]:
    """Every family of the table (found or listed by the articles), then other, then the
    articles' families the battery cannot tell apart (count blank)."""
    counts = Counter(u.family for u in units)
    total = max(len(units), 1)
    listed = ARTICLE_SHARES.get(counterpart or "", ())
    by_family = {a.family: a for a in listed if a.family}
    rows = []
    for f in (*FAMILY_TABLE, None):
        name = f.name if f else OTHER
        title = f.title if f else "fits no family"
        article = by_family.get(name)
        if counts[name] or article:
            rows.append(ShareRow(name, title, counts[name], counts[name] / total, article.share if article else None,
                                 article.name if article else ""))
    rows += [ShareRow("", a.name, None, None, a.share, a.name) for a in listed if a.family is None]
    return rows


@dataclass(frozen=True)
class Recovery:
    kind: str  # the census family the designed units were built to be
    designed: int
    recovered: int
    elsewhere: dict[str, int]

    @property
    def share(self) -> float:
        return self.recovered / self.designed if self.designed else 1.0


def recovery(units: Sequence[CensusUnit], designed: Mapping[tuple[str, int], str]) -> tuple[list[Recovery], int, int]:
    """For each designed kind, how many of its units the census put in it; then the undesigned
    units and how many of them the census claimed for a family. `designed` maps (layer, channel)
    to the kind the spec built there ("" for a designed unit of no census kind)."""
    by_kind: dict[str, list[CensusUnit]] = {}
    undesigned = claimed = 0
    for u in units:
        kind = designed.get((u.layer, u.channel))
        if kind is None:
            undesigned += 1
            claimed += u.family != OTHER
        elif kind:
            by_kind.setdefault(kind, []).append(u)
    rows = []
    for kind, members in by_kind.items():
        found = sum(u.family == kind for u in members)
        rows.append(Recovery(kind, len(members), found, dict(Counter(u.family for u in members if u.family != kind))))
    return rows, undesigned, claimed
