"""gristmill's plain-Python core: the document schema, the stages and their configuration.

Nothing in this package imports Prefect; `flows/` wires these stages into Prefect tasks.
"""

__version__ = "0.1.0"
