"""mobylab: try and teach bleeding-edge Docker engine features."""

__version__ = "0.1.0"
