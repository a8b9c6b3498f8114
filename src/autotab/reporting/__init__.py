"""What a run tells people: holdout evaluation, the model card, lineage and the comparison of
experiments."""
