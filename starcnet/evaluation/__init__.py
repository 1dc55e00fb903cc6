"""Independent candidate generators for evaluation; never used for training."""
