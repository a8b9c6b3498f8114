"""Answering with the packaged model: the BentoML service, its request schema and gate, batch
prediction, the split of the model after its cleaner, and building the Bento."""
