"""Binding: sqlglot ASTs to logical plans (see binder.py)."""
from engine.sql.bind.binder import Binder

__all__ = ["Binder"]
