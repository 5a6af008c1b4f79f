"""Parametric spatial kernels (gabor, line, edge, arc, center-surround, colour-opponent) and the
connection rules between rotated copies of a family."""
