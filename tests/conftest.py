import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from slt_plugin import pytest_addoption, pytest_collect_file  # noqa: E402,F401 - .slt files are tests
