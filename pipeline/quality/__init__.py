"""Quality filtering: published heuristic rule sets, each measured value kept as a column."""
