"""Quick start: SQL over an Arrow table and a Parquet file, with the plan Dawn ran.

Run: python examples/quickstart.py
Data: generated here (numpy), nothing downloaded.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import engine


def main() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    sales = pa.table({
        "store": rng.integers(0, 50, n),
        "day": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 366, n)).cast(pa.date32()),
        "amount": np.round(rng.gamma(2.0, 20.0, n), 2),
    })
    stores = pa.table({"store": np.arange(50), "region": [["north", "south", "east", "west"][i % 4]
                                                         for i in range(50)]})
    path = os.path.join(tempfile.mkdtemp(prefix="dawn-quickstart-"), "sales.parquet")
    # written in day order, so each row group's min/max lets the reader skip it by date
    pq.write_table(sales.sort_by("day"), path, row_group_size=20_000)

    con = engine.connect()
    con.register("stores", stores)  # an in-memory Arrow table (a pandas DataFrame works too)
    sql = f"""
        SELECT s.region, count(*) AS orders, round(sum(f.amount), 2) AS revenue
        FROM read_parquet('{path}') f JOIN stores s ON f.store = s.store
        WHERE f.day >= DATE '2024-12-01' AND f.amount > ?
        GROUP BY s.region ORDER BY revenue DESC"""
    cur = con.execute(sql, [10.0])  # parameters are bound as values, never spliced into the text
    print([d[0] for d in cur.description])
    for row in cur.fetchall():
        print(row)
    print()
    # the plan: the date predicate and the column list reach the Parquet reader
    for (line,) in con.execute("EXPLAIN ANALYZE " + sql, [10.0]).fetchall():
        print(line)
    df = con.execute("SELECT store, avg(amount) AS avg_amount FROM read_parquet(?) GROUP BY store "
                     "ORDER BY avg_amount DESC LIMIT 3", [path]).fetch_df()
    print()
    print(df.to_string(index=False))
    con.close()


if __name__ == "__main__":
    main()
