/* oa_json_path.c: see oa_json.h. */
#include <string.h>
#include "apr_strings.h"
#include "oa_json.h"

/* Longest path segment: longer keys are not in any format. */
#define OA_PATH_SEGMENT_MAX 64

/* The next segment of *path into key (NUL-terminated), *path moved past it and its dot.
 * -1 when the segment is empty or too long. */
static int next_segment(const char **path, char key[OA_PATH_SEGMENT_MAX + 1])
{
    size_t n = strcspn(*path, ".");

    if (n == 0 || n > OA_PATH_SEGMENT_MAX)
        return -1;
    memcpy(key, *path, n);
    key[n] = '\0';
    *path += n + ((*path)[n] == '.');
    return 0;
}

json_t *oa_json_path_get(json_t *root, const char *path)
{
    char key[OA_PATH_SEGMENT_MAX + 1];
    json_t *node = root;

    while (*path) {
        if (!json_is_object(node) || next_segment(&path, key))
            return NULL;
        node = json_object_get(node, key);
    }
    return node;
}

const char *oa_json_path_string(apr_pool_t *p, json_t *root, const char *path)
{
    json_t *v = oa_json_path_get(root, path);
    size_t len;

    if (!json_is_string(v))
        return NULL;
    len = json_string_length(v);
    /* A token with a NUL would be cut where C strings end: refused rather than shortened. */
    if (len == 0 || memchr(json_string_value(v), '\0', len))
        return NULL;
    return apr_pstrmemdup(p, json_string_value(v), len);
}

int oa_json_path_set(json_t *root, const char *path, json_t *value)
{
    char key[OA_PATH_SEGMENT_MAX + 1];
    json_t *node = root;

    if (!json_is_object(root) || next_segment(&path, key))
        goto fail;
    while (*path) {
        json_t *child = json_object_get(node, key);
        if (!child) {
            child = json_object();
            if (json_object_set_new(node, key, child))
                goto fail;
        }
        if (!json_is_object(child))
            goto fail;
        node = child;
        if (next_segment(&path, key))
            goto fail;
    }
    return json_object_set_new(node, key, value) ? -1 : 0;
fail:
    json_decref(value);
    return -1;
}

static apr_status_t release_json(void *root)
{
    json_decref(root);
    return APR_SUCCESS;
}

json_t *oa_json_pool_own(apr_pool_t *p, json_t *root)
{
    if (root)
        apr_pool_cleanup_register(p, root, release_json, apr_pool_cleanup_null);
    return root;
}
