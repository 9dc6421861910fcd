"""gristmill's Prefect layer: stages wrapped as tasks over one partition each, composed into
flows."""
