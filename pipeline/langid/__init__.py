"""Language identification: fastText lid.176 on natural-language documents."""
