/* The request record: one JSON object per line, appended with O_APPEND under flock by a single
 * write(), so several httpd children can share one file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <apr_base64.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mock.h"

typedef struct {
    apr_pool_t *pool;
    json_t *headers;
} header_ctx;

/* Header names are stored lower-cased; repeated headers are joined with ", ". */
static int add_header(void *data, const char *key, const char *value)
{
    header_ctx *ctx = data;
    char *name = apr_pstrdup(ctx->pool, key);
    const char *old;

    for (char *s = name; *s; s++) {
        *s = (char) apr_tolower(*s);
    }
    old = mock_json_str(ctx->headers, name);
    if (old) {
        value = apr_pstrcat(ctx->pool, old, ", ", value, NULL);
    }
    json_object_set_new(ctx->headers, name, mock_json_string(value, strlen(value)));
    return 1;
}

char *mock_record_line(apr_pool_t *p, const mock_record *rec, apr_size_t *len)
{
    json_t *o = json_object();
    header_ctx hctx = {p, json_object()};
    char *b64, *dumped, *line;
    apr_size_t dlen;

    json_object_set_new(o, "time", json_real((double) rec->time / APR_USEC_PER_SEC));
    json_object_set_new(o, "upstream", mock_json_string(rec->upstream, strlen(rec->upstream)));
    json_object_set_new(o, "port", json_integer(rec->port));
    json_object_set_new(o, "method", mock_json_string(rec->method, strlen(rec->method)));
    json_object_set_new(o, "path", mock_json_string(rec->path, strlen(rec->path)));
    json_object_set_new(
        o, "query", rec->query ? mock_json_string(rec->query, strlen(rec->query)) : json_null());
    if (rec->headers) {
        apr_table_do(add_header, &hctx, rec->headers, NULL);
    }
    json_object_set_new(o, "headers", hctx.headers);
    json_object_set_new(o, "content_encoding",
                        rec->content_encoding
                            ? mock_json_string(rec->content_encoding, strlen(rec->content_encoding))
                            : json_null());
    b64 = apr_palloc(p, (apr_size_t) apr_base64_encode_len((int) rec->raw_len));
    apr_base64_encode_binary(b64, (const unsigned char *) rec->raw, (int) rec->raw_len);
    json_object_set_new(o, "body_b64", json_string(b64));
    if (rec->decoded) {
        json_t *body = json_stringn(rec->decoded, rec->decoded_len);
        json_object_set_new(o, "body", body ? body : json_null());
    } else {
        json_object_set_new(o, "body", json_null());
    }

    if (rec->oauth) {
        json_object_set(o, "oauth", rec->oauth);
    }

    dumped = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!dumped) {
        *len = 0;
        return NULL;
    }
    dlen = strlen(dumped);
    line = apr_palloc(p, dlen + 2);
    memcpy(line, dumped, dlen);
    line[dlen] = '\n';
    line[dlen + 1] = '\0';
    free(dumped);
    *len = dlen + 1;
    return line;
}

int mock_record_append(int fd, const char *line, apr_size_t len)
{
    int err = 0;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            break;
        }
        line += n;
        len -= (apr_size_t) n;
    }
    flock(fd, LOCK_UN);
    return err;
}
