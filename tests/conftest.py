import faulthandler
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from slt_plugin import pytest_addoption, pytest_collect_file  # noqa: E402,F401 - .slt files are tests


def pytest_sessionfinish(session, exitstatus):
    """Close the DuckDB connections tests left open while the interpreter is whole. Destroyed
    during interpreter shutdown instead, a DuckDB database whose worker threads still hold Python
    objects (registered Arrow tables) aborts the process now and then ('terminate called ...
    exception not rethrown', exit 134 after every test passed): a thread that needs the GIL
    after finalization began is stopped inside DuckDB's C++ code."""
    import gc
    import duckdb
    gc.collect()
    for obj in gc.get_objects():
        # type(), not isinstance: isinstance reads __class__, which lazy modules (torch's)
        # answer with deprecation warnings
        if type(obj) is duckdb.DuckDBPyConnection:
            try:
                obj.close()
            except Exception:
                pass
    gc.collect()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Keep the fault handler on while the interpreter shuts down (pytest turns its own off
    before), so a crash at exit, like a native thread aborting during finalization, prints
    every thread's Python stack in CI's log instead of only 'Aborted'."""
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
