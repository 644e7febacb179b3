#!/bin/sh
# Integration tests: real httpd instances (gateway and mock upstream) started by the tests.
# Debian's pytest lives under /usr/bin/python3, which may not be the python3 first on PATH.
set -eu
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
    echo "run-integration: python3-pytest is missing (build/install-deps.sh installs it)" >&2
    exit 1
fi
# npm SDK tests need node_modules; they skip themselves when node is unavailable.
exec "$PYTHON" -m pytest -p no:cacheprovider -q -rs test/integration "$@"
