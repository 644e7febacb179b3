#!/bin/sh
# `make run`: the demo gateway on 127.0.0.1:$1 in the foreground until SIGINT/SIGTERM.
# Everything it writes lives under out/demo (ServerRoot, logs, the mock's request log).
# Usage: run-demo.sh PORT [CONFIG]  (CONFIG: a seed-format config.yaml, once supported)
set -eu
PORT=${1:-8080}
CONFIG=${2:-}
MOCK_PORT=${MOCK_PORT:-$((PORT + 1))}
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT="$REPO/out"
ROOT="$OUT/demo"

if [ -n "$CONFIG" ]; then
    echo "run-demo: CONFIG=$CONFIG: loading config.yaml is not supported yet" >&2
    exit 2
fi
mkdir -p "$ROOT/run" "$ROOT/logs" "$ROOT/htdocs"
rm -f "$ROOT/run/httpd.pid"
USER_LINES=""
if [ "$(id -u)" = 0 ]; then
    USER_LINES="User nobody
Group nogroup"
    chmod -R a+rX "$OUT"
fi
"$REPO/build/render-conf.sh" "$REPO/conf/httpd-base.conf.in" "$ROOT" "$USER_LINES" warn > "$ROOT/httpd.conf"
sed -e "s#@PORT@#$PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" -e "s#@ROOT@#$ROOT#g" \
    -e "s#@OUT@#$OUT#g" "$REPO/conf/demo.conf.in" >> "$ROOT/httpd.conf"

echo "aiproxy demo gateway on http://127.0.0.1:$PORT (mock upstream on $MOCK_PORT); Ctrl-C stops it"
echo "  logs: $ROOT/logs   config: $ROOT/httpd.conf"
# -DFOREGROUND keeps the parent attached; exec hands it our signals (SIGINT/SIGTERM stop it).
exec apache2 -f "$ROOT/httpd.conf" -DFOREGROUND
