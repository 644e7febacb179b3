/*
 * tr_response.c: translate an upstream response body for the client, incrementally.
 *
 * Same protocol and same framing on both sides: bytes pass straight through. Otherwise the
 * body goes through the IR (tr_stream.c).
 */
#include "apr_strings.h"
#include "tr_codec.h"
#include "tr_json.h"

struct aiproxy_response {
    aiproxy_response_spec spec;
    apr_pool_t *pool;
    int passthrough;
    aiproxy_response_info info;
};

static const char *content_type_for(aiproxy_stream_mode mode)
{
    return mode == AIPROXY_STREAM_SSE ? "text/event-stream" : "application/json";
}

aiproxy_response *aiproxy_response_create(apr_pool_t *p, const aiproxy_response_spec *spec)
{
    aiproxy_response *t = apr_pcalloc(p, sizeof(*t));

    t->spec = *spec;
    t->pool = p;
    t->passthrough = spec->client == spec->upstream && spec->client_stream == spec->upstream_stream;
    return t;
}

const char *aiproxy_response_content_type(const aiproxy_response *t)
{
    return content_type_for(t->spec.client_stream);
}

apr_status_t aiproxy_response_feed(aiproxy_response *t, const char *data, apr_size_t len,
                                   const aiproxy_sink *sink)
{
    if (len == 0)
        return APR_SUCCESS;
    if (t->passthrough) {
        t->info.seen_content = 1;
        return sink->write(sink->baton, data, len);
    }
    return APR_ENOTIMPL;
}

apr_status_t aiproxy_response_finish(aiproxy_response *t, int upstream_broke,
                                     const aiproxy_sink *sink)
{
    return t->passthrough ? APR_SUCCESS : APR_ENOTIMPL;
}

const aiproxy_response_info *aiproxy_response_get_info(const aiproxy_response *t)
{
    return &t->info;
}
