/*
 * test_forward.c: the forwarded routes' pure parts. The streaming multipart scanner
 * (pipeline/tr_multipart.c) at every split offset, with boundaries, padding, preambles, near
 * misses, missing, duplicate and over-size fields and truncated bodies; the forward body's model
 * peek and rewrite (pipeline/tr_forward.c); the forward route table (aip_forward.c); the
 * passthrough route's split, path checks and header lists (aip_passthrough.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "pipeline/tr_forward.h"
#include "pipeline/tr_multipart.h"
#include "aip_forward.h"
#include "aip_passthrough.h"
#include "aip_route.h"

static apr_pool_t *pool;

#define B "----formdata-abc123"

/* A form as the OpenAI SDK sends it: a file part (whose bytes hold near misses of the
 * delimiter), then the model and another field. */
static const char upload[] = "--" B "\r\n"
                             "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                             "Content-Type: audio/wav\r\n"
                             "\r\n"
                             "RIFF\r\n--\r\n-" B "\r\r\n------formdata-abc12X\0\r\n-" B "model"
                             "\r\n--" B "\r\n"
                             "Content-Disposition: form-data; name=\"model\"\r\n"
                             "\r\n"
                             "whisper-1"
                             "\r\n--" B "\r\n"
                             "Content-Disposition: form-data; name=language\r\n"
                             "\r\n"
                             "en"
                             "\r\n--" B "--\r\n";

static tr_multipart_lookup find_in_pieces(const char *body, apr_size_t len, const char *boundary,
                                          apr_size_t split, apr_size_t piece, const char **value,
                                          apr_size_t *value_len, apr_size_t *offset)
{
    tr_multipart_finder *f = tr_multipart_finder_create(pool, boundary, "model");
    apr_size_t at = 0;

    if (split) {
        tr_multipart_finder_feed(f, body, split);
        at = split;
    }
    while (at < len) {
        apr_size_t n = piece && len - at > piece ? piece : len - at;
        tr_multipart_finder_feed(f, body + at, n);
        at += n;
    }
    return tr_multipart_finder_finish(f, value, value_len, offset);
}

/* The same outcome, value and offset whether the body comes whole, in two pieces split at
 * every offset, or byte by byte. */
static tr_multipart_lookup find_everywhere(const char *body, apr_size_t len, const char *boundary,
                                           const char **value)
{
    const char *whole_value, *v;
    apr_size_t whole_len, whole_offset, vlen, offset;
    tr_multipart_lookup whole = tr_multipart_find_field(pool, body, len, boundary, "model",
                                                        &whole_value, &whole_len, &whole_offset);

    for (apr_size_t split = 0; split <= len; split++) {
        assert_int_equal(find_in_pieces(body, len, boundary, split, 0, &v, &vlen, &offset), whole);
        assert_int_equal(vlen, whole_len);
        assert_int_equal(offset, whole_offset);
        if (whole == TR_MULTIPART_FOUND)
            assert_memory_equal(v, whole_value, vlen);
    }
    assert_int_equal(find_in_pieces(body, len, boundary, 0, 1, &v, &vlen, &offset), whole);
    assert_int_equal(offset, whole_offset);
    if (whole == TR_MULTIPART_FOUND) {
        assert_memory_equal(body + whole_offset, whole_value, whole_len);
        assert_int_equal(whole_value[whole_len], '\0');
    }
    *value = whole_value;
    return whole;
}

static void test_multipart_finds_model_at_every_split(void **state)
{
    const char *value;

    (void) state;
    assert_int_equal(find_everywhere(upload, sizeof(upload) - 1, B, &value), TR_MULTIPART_FOUND);
    assert_string_equal(value, "whisper-1");
}

static void test_multipart_shapes(void **state)
{
    static const struct {
        const char *body;
        tr_multipart_lookup want;
        const char *value;
    } cases[] = {
        /* the model first, the closing delimiter with transport padding before the parts */
        {"--" B " \t\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ntts-1\r\n--" B "--",
         TR_MULTIPART_FOUND, "tts-1"},
        /* a preamble before the first delimiter, an epilogue after the last */
        {"this is a preamble\r\n--" B "\r\ncontent-disposition: form-data; name=model\r\n\r\n"
         "m\r\n--" B "--\r\nepilogue --" B "\r\n",
         TR_MULTIPART_FOUND, "m"},
        /* a value ending in CR: the delimiter's CRLF still follows it */
        {"--" B "\r\nContent-Disposition: form-data; name=file; filename=a\r\n\r\nx\r\r\n--" B
         "\r\nContent-Disposition: form-data; name=model\r\n\r\nm\r\n--" B "--",
         TR_MULTIPART_FOUND, "m"},
        /* an empty value is found (the caller refuses it) */
        {"--" B "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n\r\n--" B "--",
         TR_MULTIPART_FOUND, ""},
        /* a file part called model is not the field */
        {"--" B "\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.bin\"\r\n\r\n"
         "x\r\n--" B "--",
         TR_MULTIPART_ABSENT, NULL},
        /* name= must match exactly: "models" and "Model" are other fields */
        {"--" B "\r\nContent-Disposition: form-data; name=\"models\"\r\n\r\nx\r\n--" B
         "\r\nContent-Disposition: form-data; name=\"Model\"\r\n\r\ny\r\n--" B "--",
         TR_MULTIPART_ABSENT, NULL},
        /* a part without headers */
        {"--" B "\r\n\r\nx\r\n--" B "--", TR_MULTIPART_ABSENT, NULL},
        /* the model twice */
        {"--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\na\r\n--" B
         "\r\nContent-Disposition: form-data; name=model\r\n\r\nb\r\n--" B "--",
         TR_MULTIPART_DUPLICATE, NULL},
        /* no closing delimiter */
        {"--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\na\r\n--" B "\r\n",
         TR_MULTIPART_INVALID, NULL},
        /* no delimiter at all, another boundary */
        {"just text", TR_MULTIPART_INVALID, NULL},
        {"--other\r\n\r\nx\r\n--other--", TR_MULTIPART_INVALID, NULL},
        /* a delimiter followed by more of a longer boundary */
        {"--" B "x\r\n\r\nx\r\n--" B "--", TR_MULTIPART_INVALID, NULL},
        /* a bare LF in the part headers */
        {"--" B "\r\nContent-Disposition: form-data; name=model\n\r\n\r\na\r\n--" B "--",
         TR_MULTIPART_INVALID, NULL},
        /* a CR not followed by LF after a delimiter */
        {"--" B "\rx", TR_MULTIPART_INVALID, NULL},
        /* an unterminated quoted name */
        {"--" B "\r\nContent-Disposition: form-data; name=\"model\r\n\r\na\r\n--" B "--",
         TR_MULTIPART_ABSENT, NULL},
        {"", TR_MULTIPART_INVALID, NULL},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *value;
        tr_multipart_lookup got = find_everywhere(cases[i].body, strlen(cases[i].body), B, &value);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d, want %d", i, (int) got, (int) cases[i].want);
        if (cases[i].value)
            assert_string_equal(value, cases[i].value);
    }
}

/* Every proper prefix of a good body is refused as not well-formed: a cut upload never passes
 * as complete. */
static void test_multipart_truncated_everywhere(void **state)
{
    const char *value;
    apr_size_t vlen, offset;

    (void) state;
    for (apr_size_t len = 0; len < sizeof(upload) - 1 - 2; len++)
        assert_int_equal(
            tr_multipart_find_field(pool, upload, len, B, "model", &value, &vlen, &offset),
            TR_MULTIPART_INVALID);
}

static void test_multipart_over_size(void **state)
{
    char *long_value = apr_palloc(pool, TR_MULTIPART_MAX_VALUE + 2);
    char *long_line = apr_palloc(pool, TR_MULTIPART_MAX_HEADER_LINE + 2);
    const char *body, *value;
    apr_size_t vlen, offset;

    (void) state;
    memset(long_value, 'm', TR_MULTIPART_MAX_VALUE + 1);
    long_value[TR_MULTIPART_MAX_VALUE + 1] = '\0';
    body = apr_pstrcat(pool, "--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\n",
                       long_value, "\r\n--" B "--", NULL);
    assert_int_equal(find_everywhere(body, strlen(body), B, &value), TR_MULTIPART_TOO_LONG);
    /* exactly the limit passes */
    long_value[TR_MULTIPART_MAX_VALUE] = '\0';
    body = apr_pstrcat(pool, "--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\n",
                       long_value, "\r\n--" B "--", NULL);
    assert_int_equal(
        tr_multipart_find_field(pool, body, strlen(body), B, "model", &value, &vlen, &offset),
        TR_MULTIPART_FOUND);
    assert_int_equal(vlen, TR_MULTIPART_MAX_VALUE);
    /* a part-header line past the limit */
    memset(long_line, 'h', TR_MULTIPART_MAX_HEADER_LINE + 1);
    long_line[TR_MULTIPART_MAX_HEADER_LINE + 1] = '\0';
    body =
        apr_pstrcat(pool, "--" B "\r\nX-Long: ", long_line,
                    "\r\nContent-Disposition: form-data; name=model\r\n\r\nm\r\n--" B "--", NULL);
    assert_int_equal(
        tr_multipart_find_field(pool, body, strlen(body), B, "model", &value, &vlen, &offset),
        TR_MULTIPART_INVALID);
}

static void test_multipart_boundary(void **state)
{
    char long_boundary[80];

    (void) state;
    assert_string_equal(tr_multipart_boundary(pool, "multipart/form-data; boundary=abc"), "abc");
    assert_string_equal(
        tr_multipart_boundary(pool, "Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\""),
        "a b:c");
    assert_string_equal(tr_multipart_boundary(pool, " multipart/form-data; boundary=x;y=z"), "x");
    assert_null(tr_multipart_boundary(pool, NULL));
    assert_null(tr_multipart_boundary(pool, ""));
    assert_null(tr_multipart_boundary(pool, "application/json"));
    assert_null(tr_multipart_boundary(pool, "multipart/mixed; boundary=abc"));
    assert_null(tr_multipart_boundary(pool, "multipart/form-data"));
    assert_null(tr_multipart_boundary(pool, "multipart/form-data; boundary="));
    assert_null(tr_multipart_boundary(pool, "multipart/form-data; boundary=\"abc"));
    assert_null(tr_multipart_boundary(pool, "multipart/form-data; boundary=\"ab\r\"")); /* CR */
    assert_null(tr_multipart_boundary(pool, "multipart/form-data; boundary=\"trailing \""));
    memset(long_boundary, 'b', 71);
    long_boundary[71] = '\0';
    assert_null(tr_multipart_boundary(
        pool, apr_pstrcat(pool, "multipart/form-data; boundary=", long_boundary, NULL)));
    long_boundary[70] = '\0';
    assert_non_null(tr_multipart_boundary(
        pool, apr_pstrcat(pool, "multipart/form-data; boundary=", long_boundary, NULL)));
}

/* ---- the forward body ------------------------------------------------------------------------ */

static void test_forward_multipart_rewrite(void **state)
{
    static const char *ctype = "multipart/form-data; boundary=" B;
    tr_forward_body fb;
    const char *model, *out, *again;
    apr_size_t out_len, again_len;
    aiproxy_error err = {0};

    (void) state;
    assert_int_equal(tr_forward_peek(pool, upload, sizeof(upload) - 1, ctype, &fb, &model, &err),
                     0);
    assert_string_equal(model, "whisper-1");
    /* the same model: the client's own bytes */
    tr_forward_rewrite(pool, &fb, upload, sizeof(upload) - 1, model, "whisper-1", &out, &out_len);
    assert_ptr_equal(out, upload);
    /* another: only the field's bytes differ, and the result still parses to it */
    tr_forward_rewrite(pool, &fb, upload, sizeof(upload) - 1, model, "whisper-large-v3", &out,
                       &out_len);
    assert_int_equal(out_len, sizeof(upload) - 1 + strlen("whisper-large-v3") - strlen(model));
    assert_int_equal(tr_forward_peek(pool, out, out_len, ctype, &fb, &again, &err), 0);
    assert_string_equal(again, "whisper-large-v3");
    assert_memory_equal(out, upload, fb.model_start);
    tr_forward_rewrite(pool, &fb, out, out_len, again, "w", &out, &again_len);
    assert_int_equal(again_len, sizeof(upload) - 1 + 1 - strlen(model));
}

static void test_forward_errors(void **state)
{
    static const struct {
        const char *content_type, *body;
        int status;
        const char *message;
    } cases[] = {
        {"multipart/form-data", "x", 415, "boundary"},
        {"text/plain", "x", 415, "multipart/form-data"},
        {"multipart/form-data; boundary=" B, "--" B "--", 400, "'model' is required"},
        {"multipart/form-data; boundary=" B, "--" B "\r\n\r\nx", 400, "not well-formed"},
        {"multipart/form-data; boundary=" B,
         "--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\n\r\n--" B "--", 400,
         "non-empty"},
        {"multipart/form-data; boundary=" B,
         "--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\na\tb\r\n--" B "--", 400,
         "control characters"},
        {"multipart/form-data; boundary=" B,
         "--" B "\r\nContent-Disposition: form-data; name=model\r\n\r\na\r\n--" B
         "\r\nContent-Disposition: form-data; name=model\r\n\r\na\r\n--" B "--",
         400, "twice"},
        {NULL, "{\"prompt\":\"x\"}", 400, "model"},
        {NULL, "[1]", 400, "object"},
        {NULL, "{", 400, NULL},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_forward_body fb;
        const char *model = NULL;
        aiproxy_error err = {0};
        int rc = tr_forward_peek(pool, cases[i].body, strlen(cases[i].body), cases[i].content_type,
                                 &fb, &model, &err);
        if (rc != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, rc, cases[i].status);
        assert_int_equal(err.status, cases[i].status);
        if (cases[i].message && !strstr(err.message, cases[i].message))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, cases[i].message);
    }
}

static void test_forward_json_rewrite(void **state)
{
    static const char body[] = "{\"model\":\"gpt-image-1\",\"prompt\":\"a cat\",\"n\":2}";
    tr_forward_body fb;
    const char *model, *out;
    apr_size_t out_len;
    aiproxy_error err = {0};

    (void) state;
    assert_int_equal(tr_forward_peek(pool, body, sizeof(body) - 1, NULL, &fb, &model, &err), 0);
    assert_string_equal(model, "gpt-image-1");
    tr_forward_rewrite(pool, &fb, body, sizeof(body) - 1, model, model, &out, &out_len);
    assert_ptr_equal(out, body);
    tr_forward_rewrite(pool, &fb, body, sizeof(body) - 1, model, "dall-e-3", &out, &out_len);
    assert_non_null(strstr(apr_pstrmemdup(pool, out, out_len), "\"model\":\"dall-e-3\""));
    assert_non_null(strstr(apr_pstrmemdup(pool, out, out_len), "\"prompt\":\"a cat\""));
    assert_non_null(strstr(apr_pstrmemdup(pool, out, out_len), "\"n\":2"));
}

/* ---- the route tables ------------------------------------------------------------------------ */

static void test_forward_routes(void **state)
{
    const aip_forward_route *rerank = aip_forward_route_for("/v1/rerank");
    const aip_forward_route *speech = aip_forward_route_for("/v1/audio/speech");
    const aip_forward_route *edits = aip_forward_route_for("/v1/images/edits");
    aip_config cfg = {.max_body = 1000};

    (void) state;
    assert_non_null(rerank);
    assert_string_equal(aip_forward_upstream_path(rerank, "cohere"), "/v2/rerank");
    assert_string_equal(aip_forward_upstream_path(rerank, "jina"), "/v1/rerank");
    assert_string_equal(aip_forward_upstream_path(rerank, "openai"), "/v1/rerank");
    assert_null(aip_forward_upstream_path(rerank, "anthropic"));
    assert_string_equal(aip_forward_api_types(pool, rerank), "cohere, jina, openai");
    assert_int_equal(speech->answer, AIP_FORWARD_ANSWER_STREAM);
    assert_null(aip_forward_upstream_path(speech, "cohere"));
    assert_int_equal(edits->body, AIP_FORWARD_MULTIPART);
    assert_int_equal(aip_forward_route_for("/v1/audio/transcriptions")->body,
                     AIP_FORWARD_MULTIPART);
    assert_int_equal(aip_forward_route_for("/v1/audio/translations")->body, AIP_FORWARD_MULTIPART);
    assert_int_equal(aip_forward_route_for("/v1/images/generations")->body, AIP_FORWARD_JSON);
    assert_null(aip_forward_route_for("/v1/images"));
    assert_null(aip_forward_route_for("/v1/rerank/"));
    /* the upload default unless AIProxyMaxBodySize is set; JSON routes keep the directive's */
    assert_int_equal(aip_forward_max_body(edits, &cfg), AIP_DEFAULT_MAX_UPLOAD);
    assert_int_equal(aip_forward_max_body(rerank, &cfg), 1000);
    cfg.max_body_set = 1;
    assert_int_equal(aip_forward_max_body(edits, &cfg), 1000);
}

static void test_route_match_forward_and_passthrough(void **state)
{
    aip_route route;
    const char *at;

    (void) state;
    assert_int_equal(aip_route_find(pool, "/ai/v1/audio/speech", NULL, &route, &at),
                     AIP_ROUTE_MATCHED);
    assert_int_equal(route.kind, AIP_ROUTE_FORWARD);
    assert_string_equal(route.method, "POST");
    assert_int_equal(route.info.operation, AIPROXY_OP_FORWARD);
    assert_string_equal(route.forward->path, "/v1/audio/speech");
    assert_int_equal(aip_route_find(pool, "/passthrough/up1/v1/messages", "a=b", &route, &at),
                     AIP_ROUTE_MATCHED);
    assert_int_equal(route.kind, AIP_ROUTE_PASSTHROUGH);
    assert_null(route.method);
    assert_string_equal(route.upstream, "up1");
    assert_string_equal(route.rest, "/v1/messages");
    assert_string_equal(at, "/passthrough/up1/v1/messages");
    assert_int_equal(aip_route_find(pool, "/gw/passthrough/up1", NULL, &route, &at),
                     AIP_ROUTE_MATCHED);
    assert_string_equal(route.upstream, "up1");
    assert_string_equal(route.rest, "/");
    assert_int_equal(aip_route_find(pool, "/passthrough/", NULL, &route, &at), AIP_ROUTE_UNKNOWN);
    assert_int_equal(aip_route_find(pool, "/passthrough//x", NULL, &route, &at), AIP_ROUTE_UNKNOWN);
}

static void test_passthrough_path_safe(void **state)
{
    static const char *const safe[] = {
        "/passthrough/up/v1/models",  "/passthrough/up/v1/files/file-abc.json",
        "/passthrough/up/a..b/.c/d.", "/passthrough/up/v1/x%20y%3a",
        "/passthrough/up/",           "/passthrough/up",
    };
    static const char *const unsafe[] = {
        "/passthrough/up/../admin",    "/passthrough/up/..",
        "/passthrough/up/./x",         "/passthrough/up/%2e%2e/admin",
        "/passthrough/up/.%2E/admin",  "/passthrough/up/%2e/x",
        "/passthrough/up/a%2fb",       "/passthrough/up/a%2F..%2Fb",
        "/passthrough/up/a%5cb",       "/passthrough/up/a\\b",
        "/passthrough/up/a%252e%252e", "/passthrough/up/a%0d%0aX-Injected:%201",
        "/passthrough/up/a%0A",        "/passthrough/up/a%00",
        "/passthrough/up/a%7f",        "/passthrough/up/a\r\nb",
        "/passthrough/up/a\tb",
    };

    (void) state;
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (!aip_passthrough_path_safe(safe[i]))
            fail_msg("refused a safe path: %s", safe[i]);
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
        if (aip_passthrough_path_safe(unsafe[i]))
            fail_msg("accepted an unsafe path: %s", unsafe[i]);
}

static void test_passthrough_headers(void **state)
{
    (void) state;
    assert_true(aip_passthrough_drops_request_header("authorization"));
    assert_true(aip_passthrough_drops_request_header("X-API-Key"));
    assert_true(aip_passthrough_drops_request_header("x-goog-api-key"));
    assert_true(aip_passthrough_drops_request_header("Cookie"));
    assert_true(aip_passthrough_drops_request_header("Connection"));
    assert_true(aip_passthrough_drops_request_header("Host"));
    assert_true(aip_passthrough_drops_request_header("Content-Length"));
    assert_true(aip_passthrough_drops_request_header("Content-Encoding"));
    assert_false(aip_passthrough_drops_request_header("Content-Type"));
    assert_false(aip_passthrough_drops_request_header("anthropic-version"));
    assert_false(aip_passthrough_drops_request_header("OpenAI-Beta"));
    assert_true(aip_passthrough_drops_response_header("Transfer-Encoding"));
    assert_true(aip_passthrough_drops_response_header("content-length"));
    assert_false(aip_passthrough_drops_response_header("Content-Type"));
    assert_false(aip_passthrough_drops_response_header("x-request-id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_finds_model_at_every_split),
        cmocka_unit_test(test_multipart_shapes),
        cmocka_unit_test(test_multipart_truncated_everywhere),
        cmocka_unit_test(test_multipart_over_size),
        cmocka_unit_test(test_multipart_boundary),
        cmocka_unit_test(test_forward_multipart_rewrite),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_forward_json_rewrite),
        cmocka_unit_test(test_forward_routes),
        cmocka_unit_test(test_route_match_forward_and_passthrough),
        cmocka_unit_test(test_passthrough_path_safe),
        cmocka_unit_test(test_passthrough_headers),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
