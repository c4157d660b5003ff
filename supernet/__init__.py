"""One-shot weight-sharing training (supernets, PruningNet)."""
