"""test/deb runs with the integration harness (private httpds, HTTP helpers)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
