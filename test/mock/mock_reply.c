/* A reply under construction: status, headers and a list of frames (a JSON body, or one frame per
 * stream event) that the glue sends, flushing after each frame of a stream. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

struct mock_scratch {
    char *buf; /* malloc */
    apr_size_t len, cap;
};

static apr_status_t free_scratch(void *data)
{
    struct mock_scratch *s = data;
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    return APR_SUCCESS;
}

void mock_reply_init(mock_reply *rep, apr_pool_t *p)
{
    memset(rep, 0, sizeof(*rep));
    rep->pool = p;
    rep->status = 200;
    rep->content_type = "application/json";
    rep->headers = apr_table_make(p, 4);
    rep->frames = apr_array_make(p, 16, sizeof(mock_frame));
    rep->scratch = apr_pcalloc(p, sizeof(*rep->scratch));
    apr_pool_cleanup_register(p, rep->scratch, free_scratch, apr_pool_cleanup_null);
}

void mock_reply_raw(mock_reply *rep, const char *data, apr_size_t len)
{
    mock_frame *f = apr_array_push(rep->frames);
    f->data = data;
    f->len = len;
}

static int scratch_append(const char *buf, size_t size, void *data)
{
    struct mock_scratch *s = data;
    if (s->len + size > s->cap) {
        apr_size_t cap = s->cap ? s->cap : 1024;
        char *grown;
        while (cap < s->len + size) {
            cap *= 2;
        }
        grown = realloc(s->buf, cap);
        if (!grown) {
            return -1;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, buf, size);
    s->len += size;
    return 0;
}

void mock_reply_json(mock_reply *rep, const char *prefix, json_t *j, const char *suffix)
{
    struct mock_scratch *s = rep->scratch;
    apr_size_t plen = strlen(prefix), slen = strlen(suffix);
    char *frame;

    s->len = 0;
    if (!j || json_dump_callback(j, scratch_append, s, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        s->len = 0;
        if (scratch_append("null", 4, s) != 0) {
            s->len = 0;
        }
    }
    json_decref(j);
    frame = apr_palloc(rep->pool, plen + s->len + slen + 1);
    memcpy(frame, prefix, plen);
    if (s->len) {
        memcpy(frame + plen, s->buf, s->len);
    }
    memcpy(frame + plen + s->len, suffix, slen);
    frame[plen + s->len + slen] = '\0';
    mock_reply_raw(rep, frame, plen + s->len + slen);
}

void mock_reply_sse(mock_reply *rep, const char *event, json_t *j)
{
    const char *prefix =
        event ? apr_pstrcat(rep->pool, "event: ", event, "\ndata: ", NULL) : "data: ";
    mock_reply_json(rep, prefix, j, "\n\n");
}

void mock_reply_body(mock_reply *rep, int status, json_t *j)
{
    rep->status = status;
    rep->stream = 0;
    rep->content_type = "application/json";
    apr_array_clear(rep->frames);
    mock_reply_json(rep, "", j, "");
}

void mock_reply_stream(mock_reply *rep, const char *content_type)
{
    rep->status = 200;
    rep->stream = 1;
    rep->content_type = content_type;
    apr_array_clear(rep->frames);
}
