/* Scenario markers: "[mock:NAME]" or "[mock:NAME=VALUE]" anywhere in the last user text. Several
 * markers combine; one marker may also list several comma-separated items ("[mock:tool,think]"). */
#include <string.h>

#include "mock.h"

#define MARKER_OPEN "[mock:"

void mock_scenario_init(mock_scenario *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->retry_after = -1;
    sc->cut = -1;
    sc->quota = -1;
}

/* Non-negative decimal value, or -1 if it is not one (or is absurdly large). */
static apr_int64_t parse_number(const char *s, apr_size_t len)
{
    apr_int64_t v = 0;
    if (len == 0 || len > 12) {
        return -1;
    }
    for (apr_size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int name_is(const char *name, apr_size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static void apply_item(const char *item, apr_size_t len, mock_scenario *sc)
{
    const char *eq = memchr(item, '=', len);
    apr_size_t name_len = eq ? (apr_size_t) (eq - item) : len;
    apr_int64_t value = eq ? parse_number(eq + 1, len - name_len - 1) : -1;

    if (!eq) {
        if (name_is(item, name_len, "tool")) {
            sc->tool = 1;
        } else if (name_is(item, name_len, "think")) {
            sc->think = 1;
        } else if (name_is(item, name_len, "sse-error")) {
            sc->sse_error = 1;
        } else if (name_is(item, name_len, "drop")) {
            sc->drop = 1;
        } else if (name_is(item, name_len, "bad-crc")) {
            sc->bad_crc = 1;
        } else if (name_is(item, name_len, "no-capacity")) {
            sc->no_capacity = 1;
            sc->status = 503;
        } else if (name_is(item, name_len, "text-tool")) {
            sc->text_tool = 1;
        }
        return;
    }
    if (value < 0) {
        return;
    }
    if (name_is(item, name_len, "status")) {
        if (value >= 100 && value <= 599) {
            sc->status = (int) value;
        }
    } else if (name_is(item, name_len, "retry-after")) {
        sc->retry_after = value;
    } else if (name_is(item, name_len, "slow")) {
        sc->slow_ms = value > 600000 ? 600000 : value;
    } else if (name_is(item, name_len, "cut")) {
        sc->cut = value;
    } else if (name_is(item, name_len, "quota")) {
        sc->quota = value;
    } else if (name_is(item, name_len, "long")) {
        sc->long_n = value > MOCK_MAX_LONG ? MOCK_MAX_LONG : value;
    }
}

void mock_scenario_parse(const char *text, apr_size_t len, mock_scenario *sc)
{
    const apr_size_t open_len = sizeof(MARKER_OPEN) - 1;
    const char *end = text + len;
    const char *s = text;

    while (s && (apr_size_t) (end - s) > open_len) {
        const char *hit = memmem(s, (apr_size_t) (end - s), MARKER_OPEN, open_len);
        if (!hit) {
            break;
        }
        const char *body = hit + open_len;
        const char *close = memchr(body, ']', (apr_size_t) (end - body));
        if (!close) {
            break;
        }
        /* a '[' before the ']' means this was not a marker: rescan from there */
        const char *nested = memchr(body, '[', (apr_size_t) (close - body));
        if (nested) {
            s = nested;
            continue;
        }
        for (const char *item = body; item < close;) {
            const char *comma = memchr(item, ',', (apr_size_t) (close - item));
            const char *item_end = comma ? comma : close;
            apply_item(item, (apr_size_t) (item_end - item), sc);
            item = item_end + 1;
        }
        s = close + 1;
    }
}
