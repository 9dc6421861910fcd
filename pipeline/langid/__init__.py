"""Language identification: fastText lid.176 on natural-language documents.

- ``config``: the `langid:` section (keep-lists and cuts, per source).
- ``model``: finding and loading the model, once per process.
- ``fasttext_lid``: the stage.
"""
