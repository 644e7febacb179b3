/*
 * oa_json.h: reading and writing a jansson tree by a dotted path ("tokens.access_token"),
 * so that auth-file formats are tables of paths rather than code per format.
 *
 * Path segments are object keys; a path never indexes arrays (no auth file needs it) and no
 * key of the formats read holds a dot.
 */
#ifndef OA_JSON_H
#define OA_JSON_H

#include <jansson.h>
#include "apr_pools.h"

/* The value at path below root (borrowed), or NULL when a segment is missing or not an
 * object on the way. */
json_t *oa_json_path_get(json_t *root, const char *path);
/* A string at path copied into p; NULL when absent, not a string, empty or holding a NUL. */
const char *oa_json_path_string(apr_pool_t *p, json_t *root, const char *path);
/* Sets path to value (the reference is stolen, also on failure), creating missing objects on
 * the way; the key keeps its place when it exists, else goes last. -1 when a segment on the
 * way exists but is not an object. */
int oa_json_path_set(json_t *root, const char *path, json_t *value);

/* root (may be NULL) released when p is cleared; returns root. */
json_t *oa_json_pool_own(apr_pool_t *p, json_t *root);

#endif /* OA_JSON_H */
