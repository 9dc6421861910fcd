"""Quality filtering: the published heuristic rule sets, every measured value kept as a column.

- ``config``: the `quality:` section (suites per kind and source, every threshold, PII).
- ``stage``: the quality stage (PII, then each document's suite), ``refilter``, ``thresholds``.
- ``rules``: what a rule set is (signals, rules) and the per-document view the rule sets share.
- ``gopher_quality``, ``gopher_repetition``, ``c4``, ``fineweb``: the web rule sets.
- ``code``, ``books``: the rule sets for source code and for books.
- ``pii``: e-mail and IP address replacement.
- ``words``, ``english_exceptions``, ``charclasses``: word splitting as datatrove counts words.
"""
