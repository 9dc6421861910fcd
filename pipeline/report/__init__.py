"""Inspecting runs from the shell: what `gristmill show`, `stats`, `dropped`, `diff` and `check`
compute, as plain data (for ``--json``) and as text tables that fit a 100-column terminal.

Everything here reads what the stages wrote (the manifest, `_stage.json` records, kept and
dropped Parquet); nothing is recomputed, so the numbers are the stages' own.
"""
