/*
 * tr_json.h: jansson values tied to APR pool lifetimes, and small typed accessors.
 *
 * Parsed trees are released by a pool cleanup, so IR strings may point into them for as long
 * as the request's pool lives. Accessors return NULL/0 for a missing key or a wrong type, so
 * decoders read optional fields without branching on jansson types everywhere.
 */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <jansson.h>
#include "apr_pools.h"
#include "aiproxy_translate.h"

/* Deepest nesting accepted from clients and upstreams (jansson's own limit is 2048). */
#define TR_JSON_MAX_DEPTH 128

/* Parse text; the tree is released with pool p. Returns NULL and fills *err (400) when the
 * text is not a single valid JSON value or nests deeper than TR_JSON_MAX_DEPTH. */
json_t *tr_json_parse(apr_pool_t *p, const char *text, apr_size_t len, aiproxy_error *err);
/* Release value with pool p (takes over the reference). Returns value. */
json_t *tr_json_own(apr_pool_t *p, json_t *value);
/* Serialize compactly into pool memory. Returns NULL only when value is NULL. */
const char *tr_json_dump(apr_pool_t *p, const json_t *value, apr_size_t *len);

const char *tr_json_str(const json_t *obj, const char *key);
json_t *tr_json_obj(const json_t *obj, const char *key);
json_t *tr_json_arr(const json_t *obj, const char *key);
/* 1 if key holds true, 0 if false, dflt when missing or not a boolean. */
int tr_json_bool(const json_t *obj, const char *key, int dflt);
/* Integer value of key into *out; returns 1 when present and a number. */
int tr_json_int(const json_t *obj, const char *key, long long *out);
int tr_json_real(const json_t *obj, const char *key, double *out);

/* Set key to a new string / integer (no-op when value is NULL). */
void tr_json_set_str(json_t *obj, const char *key, const char *value);
void tr_json_set_int(json_t *obj, const char *key, long long value);

#endif /* TR_JSON_H */
