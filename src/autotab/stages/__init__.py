"""One module per DVC stage: read inputs, call the library, write outputs. Nothing else."""
