import faulthandler
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from slt_plugin import pytest_addoption, pytest_collect_file  # noqa: E402,F401 - .slt files are tests


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Keep the fault handler on while the interpreter shuts down (pytest turns its own off
    before), so a crash at exit, like a native thread aborting during finalization, prints
    every thread's Python stack in CI's log instead of only 'Aborted'."""
    faulthandler.enable(file=sys.__stderr__, all_threads=True)
