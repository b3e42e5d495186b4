"""Binding the weak-supervision aggregates (9/11): ``LABEL_MODEL(lf1, ..., lfm [, options])`` and
``MAJORITY_VOTE(...)`` as window functions over whole partitions, ``LF_SUMMARY(lf1, ...,
[gold := label])`` as an aggregate. Options are named, ``labels := ['ham', 'spam']`` and
``prior := [0.8, 0.2]`` (the class balance in the labels' order).

The LFs are the positional arguments: calls of labeling functions, SQL expressions (CASE ...)
or columns holding votes, all of one label type (strings or integers), NULL for abstain. LFs
declared with different label sets are refused here, before any data is read.
"""
from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, TypeMismatchError
from engine.plan.expressions import AggCall, ColumnRef, Expr, Literal, UdfCall
from engine.sql.bind.util import cast_to
from engine.sql.parser import location
from udfs.core import UDF
from udfs.weak_supervision import ACCUMULATORS, Options, label_type_of, result_type, sorted_labels, summary_type

WEAK_FUNCTIONS = frozenset(ACCUMULATORS)
PER_ROW = frozenset({"label_model", "majority_vote"})
_OPTIONS = {"label_model": {"labels", "prior"}, "majority_vote": {"labels"},
            "lf_summary": {"labels", "prior", "gold"}}


def is_weak(name: str) -> bool:
    return name.lower() in WEAK_FUNCTIONS


def _lf_name(node: exp.Expression, bound: Expr) -> str:
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(bound, UdfCall):
        return bound.name
    text = node.sql(dialect="duckdb")
    return text if len(text) <= 48 else text[:45] + "..."


def _constant_list(node: exp.Expression, what: str, fn: str) -> tuple:
    items = node.expressions if isinstance(node, exp.Array) else None
    if items is None or not all(isinstance(i, (exp.Literal, exp.Neg)) for i in items):
        raise TypeMismatchError(f"{fn.upper()}: {what} must be a list of constants like [0.8, 0.2], got "
                                f"{node.sql(dialect='duckdb')}{location(node)}")
    out = []
    for i in items:
        lit = i.this if isinstance(i, exp.Neg) else i
        if lit.is_string:
            out.append(lit.this)
        else:
            v = float(lit.this) if any(c in lit.this for c in ".eE") else int(lit.this)
            out.append(-v if isinstance(i, exp.Neg) else v)
    return tuple(out)


def bind_weak(eb, node: exp.Anonymous, *, window: bool, whole: bool = True, bind_arg=None):
    """The AggCall pieces (name, args, type, options) of a weak-supervision call; ``eb`` is the
    expression binder, ``bind_arg`` binds one argument where the call sits."""
    fn = node.name.lower()
    what = fn.upper()
    if fn in PER_ROW and not window:
        raise NotSupportedError(f"{what} returns one label per row: write it as a window function, "
                                f"{what}(...) OVER () or OVER (PARTITION BY ...){location(node)}")
    if fn not in PER_ROW and window:
        raise NotSupportedError(f"{what} is an aggregate with one row per LF, not a window function"
                                f"{location(node)}")
    if window and not whole:
        raise NotSupportedError(f"{what} learns from a whole partition: OVER () or OVER (PARTITION BY "
                                f"...), without ORDER BY or a frame{location(node)}")
    positional, opts = [], {}
    for a in node.expressions:
        if isinstance(a, (exp.PropertyEQ, exp.Kwarg)):
            key = a.this.name.lower()
            if key not in _OPTIONS[fn]:
                raise NotSupportedError(f'{what} has no option "{a.this.name}"{location(a)}; its options: '
                                        + ", ".join(f"{o} :=" for o in sorted(_OPTIONS[fn])))
            opts[key] = a.expression
        elif isinstance(a, (exp.Distinct, exp.Order)):
            raise NotSupportedError(f"DISTINCT or ORDER BY in {what} is not supported{location(a)}")
        else:
            if opts:
                raise BindError(f"{what}: the LFs come before the named options{location(a)}")
            positional.append(a)
    if not positional:
        raise BindError(f"{what} needs at least one labeling function{location(node)}")
    bound = [bind_arg(a) for a in positional]
    names = [_lf_name(n, b) for n, b in zip(positional, bound)]
    gold = None
    if "gold" in opts:
        gold = bind_arg(opts["gold"])
    try:
        label_type = label_type_of([(n, b.dtype) for n, b in zip(names, bound)]
                                   + ([("gold", gold.dtype)] if gold is not None else []), what)
    except TypeError as e:
        raise TypeMismatchError(f"{e}{location(node)}") from None
    declared = [(n, b.udf.labels) for n, b in zip(names, bound)
                if isinstance(b, UdfCall) and getattr(b.udf, "labels", None) is not None]
    labels = None
    if declared:
        first = declared[0]
        for other in declared[1:]:
            if set(other[1]) != set(first[1]):
                raise BindError(f'{what}: the labeling functions declare different label sets: "{first[0]}" '
                                f'votes {list(first[1])}, "{other[0]}" votes {list(other[1])}{location(node)}')
        labels = tuple(first[1])
    if "labels" in opts:
        given = _constant_list(opts["labels"], "labels", fn)
        if labels is not None and set(given) != set(labels):
            raise BindError(f"{what}: labels := {list(given)} differs from the LFs' declared labels "
                            f"{list(labels)}{location(opts['labels'])}")
        if len(set(given)) != len(given) or len(given) < 2:
            raise BindError(f"{what}: labels := needs at least two distinct labels{location(opts['labels'])}")
        labels = given
    prior = None
    if "prior" in opts:
        prior = _constant_list(opts["prior"], "prior", fn)
        if not all(isinstance(p, (int, float)) and 0 < p < 1 for p in prior) or abs(sum(prior) - 1) > 1e-6:
            raise BindError(f"{what}: prior := must be class probabilities in (0, 1) summing to 1, got "
                            f"{list(prior)}{location(opts['prior'])}")
        if labels is None:
            raise BindError(f"{what}: prior := needs the labels it refers to: pass labels := [...] "
                            f"(in the prior's order) or use declared labeling functions{location(opts['prior'])}")
        if len(prior) != len(labels):
            raise BindError(f"{what}: prior := has {len(prior)} entries for {len(labels)} labels "
                            f"{list(labels)}{location(opts['prior'])}")
    if labels is not None:
        labels, prior = sorted_labels(labels, prior)
    args = [b if b.dtype == label_type else cast_to(b, label_type) for b in bound]
    if gold is not None:
        args.append(gold if gold.dtype == label_type else cast_to(gold, label_type))
    options = Options(fn, tuple(names), label_type, labels, prior, gold is not None)
    dtype = result_type(label_type) if fn in PER_ROW else summary_type(label_type)
    u = UDF(name=fn, fn=ACCUMULATORS[fn].configured(options), kind="aggregate", returns=dtype,
            source="builtin", deterministic=True)
    return f"udf:{fn}", args, dtype, (("udf", u),)


def weak_aggregate(eb, node: exp.Anonymous, flt) -> AggCall:
    """LF_SUMMARY (or a per-row function, refused) where aggregates are allowed."""
    fn, args, dtype, options = bind_weak(eb, node, window=False, bind_arg=eb.bind)
    return AggCall(fn, tuple(args), dtype, False, flt, options)


def summary_query(sel: exp.Select) -> exp.Select | None:
    """``SELECT LF_SUMMARY(...) FROM ...`` as one row per LF: the aggregate's list unnested
    into columns (any other select list, or GROUP BY, keeps the list value)."""
    items = sel.expressions
    if len(items) != 1 or sel.args.get("group"):
        return None
    call = items[0].this if isinstance(items[0], exp.Alias) else items[0]
    if not (isinstance(call, exp.Anonymous) and call.name.lower() == "lf_summary"):
        return None
    from udfs.weak_supervision import SUMMARY_FIELDS
    inner = sel.copy()
    inner.set("expressions", [exp.alias_(exp.Explode(this=call.copy()), "_lf", quoted=True)])
    for k in ("order", "limit", "offset"):
        inner.set(k, None)
    outer = exp.select(*[exp.alias_(exp.Dot(this=exp.column("_lf", quoted=True), expression=exp.to_identifier(f)), f)
                         for f in SUMMARY_FIELDS]).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_lf_summary"))))
    for k in ("order", "limit", "offset"):
        if sel.args.get(k) is not None:
            outer.set(k, sel.args[k].copy())
    return outer
