"""Why the model answered what it did: each raw column's contribution to a prediction."""
