"""The accumulator and partition-evaluator interfaces: how an aggregate or a window function is
computed, for built-ins and user code alike (the home of the protocol; the engine's built-in
implementations are in ``engine.physical.accumulator`` and ``engine.physical.window_evaluators``).

Accumulator (DataFusion's ``GroupsAccumulator``): one object computes one aggregate call for many
groups at once, vectorized over a batch; groups are dense ids ``0 .. n_groups - 1``::

    acc = Wavg()                                   # one instance per aggregate call and run
    acc.update([x, w], group_ids, n_groups)        # a batch: row i belongs to group group_ids[i]
    acc.update([x2, w2], group_ids2, n_groups2)    # n_groups never shrinks; new ids are new groups
    other.merge(acc.state(), mapping, n)           # acc's group j is other's group mapping[j]
    out = acc.finalize()                           # one value per group, as an Arrow array

* ``update(args, group_ids, n_groups)``: ``args`` are Arrow arrays of the call's value arguments
  (one per argument, same length as ``group_ids``, a numpy int64 array); rows that a FILTER
  clause drops never arrive. NULLs arrive as NULLs: the aggregate decides what they mean.
* ``state() -> list[pa.Array]``: the intermediate state, each array one entry per group.
* ``merge(states, group_ids, n_groups)``: fold another accumulator's ``state()`` in, entry j of
  the states into group ``group_ids[j]``. The engine uses it to combine partial aggregations
  (chunks of a big input, a window frame assembled from pieces of a segment tree).
* ``finalize() -> pa.Array`` (a numpy array or list is accepted from user code): one value per
  group, ``n_groups`` long (a group that saw no rows gets the aggregate's empty answer, NULL for
  most).
* ``retract(args, group_ids, n_groups)`` (optional; ``supports_retract`` says whether it exists):
  the inverse of ``update``, for sliding window frames evaluated row by row in order (the
  streaming window execution); frames evaluated all at once use ``state``/``merge`` instead.

* ``evaluate_rows(args, group_ids) -> pa.Array`` (optional): one value per row instead of one per
  group, computed after ``update`` from the row's group state, for window functions that learn
  from their partition and answer per row (``LABEL_MODEL``: fit on the partition's votes, label
  each row). The window calls it over whole partitions (``OVER ()`` / ``OVER (PARTITION BY ...)``).

``update`` and ``finalize`` are required; ``state`` and ``merge`` are needed where the engine
combines partial results (an ``ORDER BY`` window frame); a class without them works in GROUP BY,
without GROUP BY and over whole partitions, and a frame over it is refused by name.

An aggregate without GROUP BY is one group (``n_groups == 1``); ``OVER (PARTITION BY ...)`` is one
group per partition; a frame ``OVER (ORDER BY ...)`` is one group per output row (the engine builds
each row's frame from merged states, or by update and retract). A user aggregate is a class with
these methods, decorated ``@udf.aggregate(returns=...)`` and registered like a scalar UDF
(``conn.register_function``); it takes any number of arguments. This is also what labeling-model
and approximate aggregates implement.

PartitionEvaluator (DataFusion's ``PartitionEvaluator``): a window function that returns one value
per row of its partition (``row_number``, ``rank``, ``lag``, ...)::

    evaluate_all(args, n_rows, rows) -> pa.Array

``args`` are the call's arguments over the ``n_rows`` rows sorted by (partition, ORDER BY);
``rows`` (``WindowRows``) describes where each row's partition and peer group start and end, so
one call evaluates every partition at once, vectorized, instead of one Python call per partition
(over a single partition, ``rows.partition_start`` is all zeros).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


class Accumulator:
    """Base class of grouped accumulators (see the module docstring for the contract)."""

    supports_retract: bool = False

    def update(self, args: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        raise NotImplementedError

    def merge(self, states: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        raise NotImplementedError

    def state(self) -> list[pa.Array]:
        raise NotImplementedError

    def finalize(self) -> pa.Array:
        raise NotImplementedError

    def retract(self, args: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot retract rows")


def implements(cls: type, method: str) -> bool:
    """Whether a user aggregate class has ``method`` of its own (not the base class's stub)."""
    fn = getattr(cls, method, None)
    return callable(fn) and fn is not getattr(Accumulator, method, None)


@dataclass(frozen=True)
class WindowRows:
    """Rows sorted by (partition, ORDER BY): for each row, where its partition and its peer group
    (rows equal in every ORDER BY key) start, and one past where they end."""
    partition_start: np.ndarray
    partition_end: np.ndarray
    peer_start: np.ndarray
    peer_end: np.ndarray

    @property
    def position(self) -> np.ndarray:
        return np.arange(len(self.partition_start))

    @property
    def peer_change(self) -> np.ndarray:
        """True on the first row of each peer group."""
        return self.peer_start == self.position


class PartitionEvaluator:
    """Base class of window functions that return one value per row of a partition."""

    def evaluate_all(self, args: list[pa.Array], n_rows: int, rows: WindowRows) -> pa.Array:
        raise NotImplementedError
