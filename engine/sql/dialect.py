"""The Dawn SQL dialect: DuckDB's grammar, extended here as later features add clauses
(``ERROR WITHIN ... AT CONFIDENCE``, ``RECALL TARGET``, ``LIMIT ... GAP``)."""
from __future__ import annotations

from sqlglot.dialects.duckdb import DuckDB


class Dawn(DuckDB):
    class Tokenizer(DuckDB.Tokenizer):
        pass

    class Parser(DuckDB.Parser):
        pass

    class Generator(DuckDB.Generator):
        pass
