#!/bin/sh
# `make run`: the demo gateway in the foreground until SIGINT/SIGTERM.
#
#   run-demo.sh PORT            the demo upstreams (conf/demo.conf.in) on 127.0.0.1:PORT
#   run-demo.sh PORT CONFIG     a seed-format config.yaml (absolute path): the gateway listens
#                               on the file's bind/listen (PORT is ignored) and loads its
#                               upstreams with AIProxyConfigFile
#
# Either way the mock upstream answers on MOCK_PORT (default: gateway port + 1), so a
# config.yaml can point base_url at http://127.0.0.1:MOCK_PORT/anthropic (or /openai,
# /responses, /gemini) and work with no keys and no network (test/fixtures/demo-config.yaml).
# Everything written lives under DEMO_ROOT (default out/demo): ServerRoot, logs, the mock's
# request log.
set -eu
PORT=${1:-8080}
CONFIG=${2:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT="$REPO/out"
ROOT=${DEMO_ROOT:-"$OUT/demo"}
LISTEN_TOOL="$OUT/aiproxy-yaml-listen"
GATEWAY_ADDR="127.0.0.1:$PORT"

if [ -n "$CONFIG" ]; then
    case "$CONFIG" in
        /*) ;;
        *) echo "run-demo: CONFIG must be an absolute path (got $CONFIG)" >&2; exit 2 ;;
    esac
    # The tool checks the whole file (errors as file:line:column) and prints "HOST PORT".
    if ! ADDR=$("$LISTEN_TOOL" "$CONFIG"); then
        exit 2
    fi
    HOST=${ADDR% *}
    PORT=${ADDR#* }
    case "$HOST" in
        *:*) GATEWAY_ADDR="[$HOST]:$PORT" ;;
        *) GATEWAY_ADDR="$HOST:$PORT" ;;
    esac
fi
MOCK_PORT=${MOCK_PORT:-$((PORT + 1))}

mkdir -p "$ROOT/run" "$ROOT/logs" "$ROOT/htdocs"
rm -f "$ROOT/run/httpd.pid"
USER_LINES=""
if [ "$(id -u)" = 0 ]; then
    USER_LINES="User nobody
Group nogroup"
    chmod -R a+rX "$OUT" "$ROOT"
fi
"$REPO/build/render-conf.sh" "$REPO/conf/httpd-base.conf.in" "$ROOT" "$USER_LINES" warn > "$ROOT/httpd.conf"
if [ -z "$CONFIG" ]; then
    sed -e "s#@PORT@#$PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" -e "s#@ROOT@#$ROOT#g" \
        -e "s#@OUT@#$OUT#g" "$REPO/conf/demo.conf.in" >> "$ROOT/httpd.conf"
else
    # The demo configuration with the config.yaml in place of the AIProxyUpstream lines.
    # <VirtualHost *:PORT> matches whatever address the file binds.
    cat >> "$ROOT/httpd.conf" <<EOF

Listen $GATEWAY_ADDR
Listen 127.0.0.1:$MOCK_PORT

LoadModule aiproxy_translate_module $OUT/mod_aiproxy_translate.so
LoadModule aiproxy_module           $OUT/mod_aiproxy.so
LoadModule aiproxy_oauth_module     $OUT/mod_aiproxy_oauth.so
LoadModule aiproxy_mock_module      $OUT/mod_aiproxy_mock.so

<VirtualHost *:$PORT>
    ServerName gateway.demo
    AIProxyConfigFile "$CONFIG"
    <Location "/">
        SetHandler aiproxy
    </Location>
    <Location "/balancer-manager">
        SetHandler balancer-manager
        Require local
    </Location>
    # Prometheus / OpenMetrics scrape target (docs/operations.md)
    <Location "/metrics">
        SetHandler aiproxy-metrics
        Require local
    </Location>
</VirtualHost>

<VirtualHost 127.0.0.1:$MOCK_PORT>
    ServerName mock.demo
    AIProxyMockName demo-mock
    AIProxyMockRecordFile $ROOT/logs/mock-requests.jsonl
    <Location "/">
        SetHandler aiproxy-mock
    </Location>
</VirtualHost>
EOF
fi

echo "aiproxy demo gateway on http://$GATEWAY_ADDR (mock upstream on $MOCK_PORT); Ctrl-C stops it"
[ -z "$CONFIG" ] || echo "  upstreams: $CONFIG"
echo "  logs: $ROOT/logs   config: $ROOT/httpd.conf"
# -DFOREGROUND keeps the parent attached; exec hands it our signals (SIGINT/SIGTERM stop it).
exec apache2 -f "$ROOT/httpd.conf" -DFOREGROUND
