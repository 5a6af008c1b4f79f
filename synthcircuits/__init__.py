"""synthcircuits: write circuits of a vision network as specs, compile them into weights, check them."""

__version__ = "0.1.0"
