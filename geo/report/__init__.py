"""Reports assembled from the register and its analyses (the risk white paper)."""
