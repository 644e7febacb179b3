/* codec/tr_count.c: see tr_count.h. */
#include "codec/tr_count.h"

tr_jv *tr_count_keep_members(apr_pool_t *p, const tr_jv *body, const char *const *keep)
{
    tr_jv *out = tr_jv_object(p);

    for (; *keep; keep++) {
        tr_jv *v = tr_jv_get(body, *keep);
        if (v)
            tr_jv_set(out, *keep, v);
    }
    return out;
}
