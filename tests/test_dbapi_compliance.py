"""The public PEP 249 compliance suite (PyPI package dbapi-compliance, module dbapi20), in full.

The suite leaves ``test_nextset`` and ``test_setoutputsize`` to each driver ("Drivers need to
override this test"); they are overridden below with Dawn's behaviour: one result set per
statement, and ``setoutputsize`` accepted and ignored.
"""
from __future__ import annotations

import os
import tempfile
import unittest

import dbapi20

import engine


class DawnCompliance(dbapi20.DatabaseAPI20Test):
    driver = engine
    connect_args = ()
    connect_kw_args: dict = {}
    lower_func = "lower"

    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.connect_args = (os.path.join(self._dir.name, "compliance.dawn"),)

    def tearDown(self):
        super().tearDown()
        self._dir.cleanup()

    def test_nextset(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            cur.execute("select name from %sbooze" % self.table_prefix)
            self.assertIsNone(cur.nextset())
            self.assertEqual(len(cur.fetchall()), len(self.samples))
        finally:
            con.close()

    def test_setoutputsize(self):
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(1000)
            cur.setoutputsize(2000, 0)
            self._paraminsert(cur)
        finally:
            con.close()


def load_tests(loader, tests, pattern):
    return loader.loadTestsFromTestCase(DawnCompliance)


if __name__ == "__main__":
    unittest.main()
