"""Reading the user's table into the pipeline: adding a data source, row-level cleaning of
labelled rows, and the data contract recorded at training time."""
