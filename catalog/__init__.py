"""Everything that persists and describes data: table sources, the catalog of names, statistics.

This package never imports ``engine``; the engine reads sources through ``TableSource``.
"""
from catalog.catalog import Catalog
from catalog.sources import ArrowSource, CSVSource, ParquetSource, ScanStats, TableSource

__all__ = ["Catalog", "TableSource", "ArrowSource", "ParquetSource", "CSVSource", "ScanStats"]
