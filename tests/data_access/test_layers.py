"""The data layer stands alone: importing all of it loads neither the web framework nor the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Above data_access: Dash and Flask (the app layer), gunicorn and the app's log set-up (serving).
FORBIDDEN = ("dash", "flask", "flask_caching", "gunicorn", "app_logging", "app_context")
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import data_access
for module in pkgutil.iter_modules(data_access.__path__):
    importlib.import_module("data_access." + module.name)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {forbidden})))
"""


def test_data_access_imports_nothing_above_it():
    # A fresh interpreter: in this one the test run has imported Flask already.
    script = IMPORT_ALL.format(forbidden=set(FORBIDDEN))
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
