"""Static HTML pages (reports, atlas, census, universality, decompile round trips, faithfulness):
one Jinja2 template set with autoescape, one base layout, the shared style and scripts as package
files. Pages open from disk in any browser, with no server."""

from .render import render, write_page

__all__ = ["render", "write_page"]
