// Methods: AECNN (channel attention, pruning, feature recovery) and, later, the baselines.
