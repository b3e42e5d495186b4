"""A stored database used like any PEP 249 driver, and the run log that every statement leaves.

Run: python examples/stored_database.py [DIR]
Writes DIR/shop.dawn (a DuckDB file holding the tables and Dawn's catalog) and DIR/mlruns (the
run log exported in MLflow's file-store layout; `mlflow ui --backend-store-uri DIR/mlruns`
shows it). Data: generated here.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings

import pandas as pd

import engine


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="dawn-shop-")
    path = os.path.join(where, "shop.dawn")
    with engine.connect(path) as con:          # autocommit is off, as PEP 249 says
        cur = con.cursor()
        cur.execute("SET experiment = 'pricing'")
        cur.execute("CREATE OR REPLACE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                    "price DECIMAL(10, 2))")
        cur.executemany("INSERT INTO item VALUES (?, ?, ?)",
                        [(i, f"item-{i}", round(1 + i * 0.75, 2)) for i in range(1, 101)])
        con.commit()
        try:                                   # a bad row: the whole statement changes nothing
            cur.execute("INSERT INTO item VALUES (101, 'ok', 1.0), (1, 'duplicate id', 2.0)")
        except engine.IntegrityError as e:
            print("refused:", e)
        print("rows after the refused insert:", cur.execute("SELECT count(*) FROM item").fetchone()[0])
        cur.execute("UPDATE item SET price = price * 0.9 WHERE id <= ?", [10])
        print("discounted rows:", cur.rowcount)
        con.commit()
        # pandas warns about every DB-API driver that is not sqlite3; read_sql works on Dawn's
        warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
        df = pd.read_sql("SELECT name, price FROM item WHERE price < ? ORDER BY price", con, params=[5])
        print(df.head().to_string(index=False))
    with engine.connect(path) as con:          # reopened: the data and the run log are there
        print("\nlast statements of experiment 'pricing':")
        for row in con.execute("""
                SELECT r.statement_kind, r.status, round(m.value, 1) AS wall_ms, left(r.error, 50) AS error
                FROM dawn.runs r JOIN dawn.experiments e ON r.experiment_id = e.experiment_id
                JOIN dawn.metrics m ON r.run_id = m.run_id AND m.key = 'wall_time_ms'
                WHERE e.name = 'pricing' ORDER BY r.run_id""").fetchall():
            print("  ", row)
    from engine.interfaces.cli import main as dawn
    dawn(["-d", path, "runs", "export", "--mlflow", os.path.join(where, "mlruns")])


if __name__ == "__main__":
    main()
