"""mobylab's benchmarks: each runs the mobylab way and the by-hand way side by side."""
