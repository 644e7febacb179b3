/* pipeline/tr_envelope.c: see tr_envelope.h. */
#include "pipeline/tr_envelope.h"
#include "json/tr_jv.h"

const char *tr_envelope_open(apr_pool_t *p, const char *member, const char *data, apr_size_t len,
                             apr_size_t *out_len)
{
    aiproxy_error err;
    tr_jv *root = member ? tr_jv_parse(p, data, len, &err) : NULL;
    tr_jv *inner = tr_jv_get_object(root, member);
    const char *text = inner ? tr_jv_dump(p, inner, out_len) : NULL;

    if (text)
        return text;
    *out_len = len;
    return data;
}
