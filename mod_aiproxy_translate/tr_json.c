/* tr_json.c: see tr_json.h. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "apr_strings.h"
#include "tr_json.h"

static apr_status_t json_release(void *value)
{
    json_decref(value);
    return APR_SUCCESS;
}

json_t *tr_json_own(apr_pool_t *p, json_t *value)
{
    if (value)
        apr_pool_cleanup_register(p, value, json_release, apr_pool_cleanup_null);
    return value;
}

/* Depth check before jansson builds the tree: jansson recurses per level, so a hostile
 * "[[[[..." body would cost stack and time before any limit of ours applies. Strings are
 * skipped with their escapes so brackets inside them do not count. */
static int nesting_within(const char *text, apr_size_t len, int max_depth)
{
    int depth = 0, in_string = 0;
    for (apr_size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"')
            in_string = 1;
        else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return 0;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return 1;
}

json_t *tr_json_parse(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err)
{
    json_error_t jerr;
    json_t *root;

    if (!nesting_within(text, len, TR_JSON_MAX_DEPTH)) {
        err->status = 400;
        err->type = "invalid_request_error";
        err->message = apr_psprintf(p, "JSON nests deeper than %d levels", TR_JSON_MAX_DEPTH);
        return NULL;
    }
    root = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        err->status = 400;
        err->type = "invalid_request_error";
        err->message = len == 0 ? "request body is empty"
                                : apr_psprintf(p, "malformed JSON at line %d column %d: %s",
                                               jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    return tr_json_own(p, root);
}

/* Most bodies fit this first guess, so they are serialized once, straight into pool memory;
 * larger ones take jansson's own growing buffer (still one pass) and one copy. */
#define TR_JSON_DUMP_FIRST_GUESS 8192

const char *tr_json_dump(apr_pool_t *p, const json_t *value, apr_size_t *len)
{
    char *buf;
    size_t n;

    if (!value)
        return NULL;
    buf = apr_palloc(p, TR_JSON_DUMP_FIRST_GUESS);
    n = json_dumpb(value, buf, TR_JSON_DUMP_FIRST_GUESS - 1, JSON_COMPACT);
    if (n >= TR_JSON_DUMP_FIRST_GUESS) {
        char *text = json_dumps(value, JSON_COMPACT);
        n = text ? strlen(text) : 0;
        buf = apr_pstrmemdup(p, text ? text : "", n);
        free(text);
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

const char *tr_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

json_t *tr_json_obj(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : NULL;
}

json_t *tr_json_arr(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_array(v) ? v : NULL;
}

int tr_json_bool(const json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int tr_json_int(const json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    /* A real past long long's range (1e25) has no integer value: converting it would be
     * undefined behaviour, so it counts as absent. */
    if (json_is_real(v) && json_real_value(v) >= (double) LLONG_MIN &&
        json_real_value(v) < -(double) LLONG_MIN) {
        *out = (long long) json_real_value(v);
        return 1;
    }
    return 0;
}

int tr_json_real(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

void tr_json_set_str(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
}

void tr_json_set_int(json_t *obj, const char *key, long long value)
{
    json_object_set_new(obj, key, json_integer(value));
}
