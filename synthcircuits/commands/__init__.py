"""Command bodies, one module per group: they open inputs, call the library, print and write files,
and return exit codes. Only `cli.py` imports this package; the library never does."""
