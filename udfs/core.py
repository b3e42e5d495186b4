"""The UDF framework: declare Python functions as SQL scalar, aggregate and table functions.

A Dawn UDF is a decorated function::

    from udfs import udf

    @udf.scalar(returns="DOUBLE")
    def discounted(price, rate):          # Arrow arrays in, one array out, one call per batch
        return pc.multiply(price, pc.subtract(1, rate))

Calling convention (vectorized): a scalar UDF receives one Arrow array per argument (constants
arrive as arrays too) and returns an Arrow array, a numpy array or a list of the same length.
``batch_size`` caps the rows per call (models use it to bound memory). ``row=True`` declares a
row-at-a-time function instead (called once per row with Python values) for the rare function
that cannot be vectorized. An aggregate UDF is a class with the accumulator methods
(``udfs.accumulator.Accumulator``: ``update`` over a batch with each row's group id, ``merge``,
``state``, ``finalize``; any number of arguments), which works in GROUP BY, without GROUP BY and
``OVER (...)``; or, simpler and slower, a function that receives, per argument, a list array
holding each group's values and returns one value per group. A table UDF receives Python values and returns
an Arrow table (or record batches) with the declared columns.

``deterministic`` (default True) lets the engine reuse results. ``cache=True`` stores results in
the catalog so a repeated query does not call the function again; ``cache=False`` never does; the
default, ``cache=None``, caches a deterministic function once it is known to be expensive (its
measured cost per row, or its ``cost`` hint before any measurement, is at least
``AUTO_CACHE_SECONDS``): a user's own detector is cached without asking, a cheap arithmetic UDF
is not (a lookup would cost more than the call). Model UDFs default to ``cache=True``.
``cost`` is a hint in seconds per row for the optimizer until measured statistics exist.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from catalog.types import parse_type


AUTO_CACHE_SECONDS = 1e-3  # per row: above this a cache lookup (a few microseconds) always pays


@dataclass(eq=False)
class UDF:
    name: str
    fn: Callable[..., Any]
    kind: str                                   # "scalar" | "aggregate" | "table"
    returns: pa.DataType | pa.Schema
    args: tuple[pa.DataType | None, ...] | None = None   # None: any argument types
    deterministic: bool = True
    batch_size: int | None = None
    cost: float | None = None                   # seconds per row (hint)
    version: str = "1"
    cache: bool | None = None                   # None: cache when expensive (AUTO_CACHE_SECONDS)
    row: bool = False                            # row-at-a-time calling convention
    model: bool = False
    source: str = "python"                      # "builtin", "python", or 'module:attr'
    doc: str = ""
    # returns=callable: the result type depends on the arguments, computed at bind time from
    # (argument types, constant argument values or None)
    type_fn: Callable[[list, list], pa.DataType] | None = None
    # check=callable: validates (argument types, constants) at bind time, raising TypeError or
    # ValueError that names the argument, so a bad call fails before any data is read
    check: Callable[[list, list], None] | None = None
    # a function of consecutive video frames, e.g. frame_diff(frame): the binder appends the
    # frame's frame_id and its video (catalog.video.VideoSource.decode_spec) to the arguments,
    # so the function can fetch each frame's neighbour from the video itself, and refuses a
    # frame column that does not come straight from a video table
    needs_video: bool = False
    # an expensive model whose answers the planner may approximate with a cascade (7/11): a
    # specialized model trained on its labels answers most frames, it the uncertain ones
    oracle: bool = False
    # a labeling function (9/11): the labels it may vote (NULL is abstain); a value outside
    # them is an error, and LABEL_MODEL refuses LFs whose label sets differ
    labels: tuple | None = None

    def result_type(self, arg_types: list, constants: list) -> pa.DataType:
        if self.check is not None:
            self.check(arg_types, constants)
        if self.type_fn is not None:
            return self.type_fn(arg_types, constants)
        return self.returns

    def parameters(self) -> tuple[list[str], int, int | None]:
        """(names, fewest, most) of the arguments a call passes, from the Python signature
        (most is None for ``*args``); for a function over video frames, without the
        arguments the binder supplies."""
        if self.args is not None:
            names = [f"arg{i + 1}" for i in range(len(self.args))]
            return names, len(self.args), len(self.args)
        if isinstance(self.fn, type):  # an accumulator class: its update takes any arguments
            return [], 0, None
        from udfs.model import ModelUDF
        fn, skip = self.fn, 0
        if isinstance(fn, ModelUDF):  # predict(self, model, *inputs)
            fn, skip = fn.predict, 1
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return [], 0, None
        names, fewest, most = [], 0, 0
        for p in list(sig.parameters.values())[skip:]:
            if p.kind is p.VAR_POSITIONAL:
                return names, fewest, None
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            names.append(p.name)
            most += 1
            if p.default is p.empty:
                fewest = most
        if self.needs_video:
            names, fewest, most = names[:-2], max(fewest - 2, 0), most - 2
        return names, fewest, most

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    @property
    def signature(self) -> str:
        from catalog.types import SQL_NAMES
        names = {v: k for k, v in reversed(list(SQL_NAMES.items()))}

        def tname(t):
            if t is None:
                return "ANY"
            if t in names:
                return names[t]
            if isinstance(t, pa.FixedShapeTensorType):
                return f"TENSOR<{tname(t.value_type)}>{list(t.shape)}"
            if pa.types.is_list(t) or pa.types.is_large_list(t):
                return f"{tname(t.value_type)}[]"
            if pa.types.is_struct(t):
                return "STRUCT<" + ", ".join(f"{f.name} {tname(f.type)}" for f in t) + ">"
            return str(t).upper()
        if self.args is None:
            params, _, most = self.parameters()
            args = ", ".join(params + (["..."] if most is None else []))
        else:
            args = ", ".join(tname(a) for a in self.args)
        if isinstance(self.returns, pa.Schema):
            ret = "TABLE(" + ", ".join(f"{f.name} {tname(f.type)}" for f in self.returns) + ")"
        else:
            ret = tname(self.returns) if self.type_fn is None else "(depends on the arguments)"
        return f"{self.name}({args}) -> {ret}"

    def renamed(self, name: str, source: str | None = None) -> "UDF":
        return replace(self, name=name, source=source or self.source)


def _types(args) -> tuple[pa.DataType | None, ...] | None:
    if args is None:
        return None
    return tuple(None if a in (None, "ANY", "any") else parse_type(a) for a in args)


def _returns(kind: str, returns) -> pa.DataType | pa.Schema:
    if callable(returns) and not isinstance(returns, (pa.DataType, pa.Schema)):
        return pa.null()
    if kind == "table":
        if isinstance(returns, pa.Schema):
            return returns
        if isinstance(returns, Mapping):
            return pa.schema([pa.field(k, parse_type(v)) for k, v in returns.items()])
        raise TypeError("A table UDF declares returns={'column': 'TYPE', ...} or a pyarrow schema")
    return parse_type(returns)


def _decorator(kind: str, returns, *, name=None, args=None, deterministic=True, batch_size=None,
               cost=None, version="1", cache=None, row=False, model=False, check=None,
               needs_video=False, oracle=False, labels=None):
    def wrap(fn: Callable) -> UDF:
        u = UDF(name=(name or fn.__name__).lower(), fn=fn, kind=kind, returns=_returns(kind, returns),
                args=_types(args), deterministic=deterministic, batch_size=batch_size, cost=cost,
                version=str(version), cache=cache, row=row, model=model,
                doc=(fn.__doc__ or "").strip(), check=check, needs_video=needs_video,
                oracle=oracle, labels=labels,
                type_fn=returns if callable(returns) and not isinstance(returns, (pa.DataType, pa.Schema)) else None)
        functools.update_wrapper(u, fn, updated=())
        return u
    return wrap


class _Namespace:
    """``udf.scalar``, ``udf.aggregate``, ``udf.table``, ``udf.model`` and
    ``udf.labeling_function`` decorators."""

    @staticmethod
    def scalar(returns="DOUBLE", **kw) -> Callable[[Callable], UDF]:
        return _decorator("scalar", returns, **kw)

    @staticmethod
    def aggregate(returns="DOUBLE", **kw) -> Callable[[Callable], UDF]:
        return _decorator("aggregate", returns, **kw)

    @staticmethod
    def table(returns, **kw) -> Callable[[Callable], UDF]:
        return _decorator("table", returns, **kw)

    @staticmethod
    def labeling_function(labels, **kw) -> Callable[[Callable], UDF]:
        """A labeling function: votes one of ``labels`` per row, or NULL (None) to abstain.

        Labels are strings (``["ham", "spam"]``, the LF returns VARCHAR) or integers (BIGINT).
        Like any scalar UDF it is vectorized (Arrow arrays in, one value per row out); pass
        ``row=True`` for a function of one row's Python values. A returned value outside
        ``labels`` is an error naming the LF and the value."""
        labels = tuple(labels)
        if not labels:
            raise TypeError("labeling_function needs labels=[...], the labels it may vote")
        if all(isinstance(x, str) for x in labels):
            returns = "VARCHAR"
        elif all(isinstance(x, int) and not isinstance(x, bool) for x in labels):
            returns = "BIGINT"
        else:
            raise TypeError(f"labeling_function labels must be all strings or all integers, got {list(labels)}")
        if len(set(labels)) != len(labels):
            raise TypeError(f"labeling_function labels repeat: {list(labels)}")
        return _decorator("scalar", returns, labels=labels, **kw)

    @staticmethod
    def model(returns="DOUBLE", **kw):
        """Decorate a ``ModelUDF`` subclass (or a function) as an expensive, cached model UDF."""
        from udfs.model import ModelUDF

        def wrap(obj):
            if isinstance(obj, type) and issubclass(obj, ModelUDF):
                inst = obj()
                return inst.as_udf(returns=returns, **kw)
            kw.setdefault("cache", True)
            kw.setdefault("cost", 0.01)
            return _decorator("scalar", returns, model=True, **kw)(obj)
        return wrap


udf = _Namespace()


def as_udf(obj: Any, name: str | None = None) -> UDF:
    """Accept a UDF, or a ModelUDF instance/class, as something registrable."""
    from udfs.model import ModelUDF
    if isinstance(obj, UDF):
        return obj.renamed(name.lower()) if name else obj
    if isinstance(obj, type) and issubclass(obj, ModelUDF):
        obj = obj()
    if isinstance(obj, ModelUDF):
        u = obj.as_udf()
        return u.renamed(name.lower()) if name else u
    raise TypeError(f"{obj!r} is not a UDF: decorate it with @udf.scalar(returns=...) "
                    "(or @udf.aggregate / @udf.table / @udf.model)")
