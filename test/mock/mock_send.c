/* Writing a mock_reply to the client: every stream frame leaves at once (a FLUSH bucket after
 * each), [mock:slow] pauses with apr_sleep, [mock:cut] ends the connection without a terminator,
 * [mock:drop] closes it without any response. */
#include "httpd.h"
#include "http_connection.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <stdlib.h>
#include <string.h>

#include <apr_buckets.h>
#include <apr_strings.h>

#include "mock_glue.h"

/* Close the connection abruptly: a 502 error bucket makes the chunk filter skip the last-chunk
 * and the connection is not kept alive (what mod_proxy_http does when a backend breaks). When
 * nothing was sent yet, a FLUSH first sends the status line and headers. */
static void break_connection(request_rec *r, apr_bucket_brigade *bb, int headers_sent)
{
    conn_rec *c = r->connection;
    apr_brigade_cleanup(bb);
    if (!headers_sent) {
        /* keep-alive still on here, so the headers announce a chunked body that never ends */
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
        if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            return;
        }
        apr_brigade_cleanup(bb);
    }
    c->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(
        bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
}

/* Close before anything was sent: the client sees the connection end with no response. An
 * aborted connection makes the output filters drop everything, and the MPM closes it. */
static void drop_connection(request_rec *r)
{
    conn_rec *c = r->connection;
    c->keepalive = AP_CONN_CLOSE;
    c->aborted = 1;
}

static apr_status_t pass_data(request_rec *r, apr_bucket_brigade *bb, const char *data,
                              apr_size_t len, int flush)
{
    conn_rec *c = r->connection;
    apr_status_t rv;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(data, len, r->pool, c->bucket_alloc));
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    }
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv;
}

static void set_status(request_rec *r, const mock_reply *rep)
{
    r->status = rep->status;
    if (atoi(ap_get_status_line(rep->status)) != rep->status) {
        /* httpd does not know it (529): give it a reason phrase of our own */
        r->status_line =
            apr_psprintf(r->pool, "%d %s", rep->status, mock_status_reason(rep->status));
    }
    ap_set_content_type(r, rep->content_type);
    apr_table_overlap(r->headers_out, rep->headers, APR_OVERLAP_TABLES_SET);
}

static int send_body(request_rec *r, apr_bucket_brigade *bb, const mock_reply *rep,
                     const mock_scenario *sc)
{
    const char *data = "";
    apr_size_t len = 0;

    if (rep->frames->nelts == 1) {
        const mock_frame *f = &APR_ARRAY_IDX(rep->frames, 0, mock_frame);
        data = f->data;
        len = f->len;
    } else if (rep->frames->nelts > 1) {
        char *joined;
        for (int i = 0; i < rep->frames->nelts; i++) {
            len += APR_ARRAY_IDX(rep->frames, i, mock_frame).len;
        }
        joined = apr_palloc(r->pool, len ? len : 1);
        len = 0;
        for (int i = 0; i < rep->frames->nelts; i++) {
            const mock_frame *f = &APR_ARRAY_IDX(rep->frames, i, mock_frame);
            memcpy(joined + len, f->data, f->len);
            len += f->len;
        }
        data = joined;
    }
    if (sc->slow_ms > 0) {
        apr_sleep((apr_interval_time_t) sc->slow_ms * 1000);
    }
    ap_set_content_length(r, (apr_off_t) len);
    if (sc->cut >= 0) {
        apr_size_t part = (apr_size_t) sc->cut < len / 2 ? (apr_size_t) sc->cut : len / 2;
        if (part == 0 || pass_data(r, bb, data, part, 1) == APR_SUCCESS) {
            break_connection(r, bb, part > 0);
        }
        return OK;
    }
    if (len) {
        pass_data(r, bb, data, len, 0);
    }
    return OK;
}

static int send_stream(request_rec *r, apr_bucket_brigade *bb, const mock_reply *rep,
                       const mock_scenario *sc)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    for (int i = 0; i < rep->frames->nelts; i++) {
        const mock_frame *f = &APR_ARRAY_IDX(rep->frames, i, mock_frame);
        if (sc->cut >= 0 && i >= sc->cut) {
            break_connection(r, bb, i > 0);
            return OK;
        }
        if (i > 0 && sc->slow_ms > 0) {
            apr_sleep((apr_interval_time_t) sc->slow_ms * 1000);
        }
        if (pass_data(r, bb, f->data, f->len, 1) != APR_SUCCESS || r->connection->aborted) {
            return OK; /* the client went away */
        }
    }
    return OK;
}

int mock_send_reply(request_rec *r, const mock_reply *rep, const mock_scenario *sc)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (sc->drop) {
        drop_connection(r);
        return OK;
    }
    set_status(r, rep);
    return rep->stream ? send_stream(r, bb, rep, sc) : send_body(r, bb, rep, sc);
}
