/*
 * test_embed_completions.c: the operations beside generation that have their own wire shapes:
 * embeddings (OpenAI /v1/embeddings <-> Gemini :embedContent / :batchEmbedContents, 501 for
 * protocols without embeddings) and legacy text completions (OpenAI /v1/completions: native to
 * OpenAI upstreams, the prompt as one user turn for the others, text_completion answers).
 * Requests through aiproxy_request_parse/build, answers through aiproxy_response_*, as the
 * gateway runs them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "test_jansson.h"

#define UPSTREAM_MODEL "up-model"

static apr_pool_t *pool;

/* ---- helpers ------------------------------------------------------------------------------ */

static aiproxy_request *parse(aiproxy_proto proto, aiproxy_operation op, const char *variant,
                              const char *body, aiproxy_error *err)
{
    aiproxy_route_info route = {.model = proto == AIPROXY_PROTO_GEMINI ? "client-model" : NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = variant,
                                .operation = op};
    memset(err, 0, sizeof(*err));
    return aiproxy_request_parse(pool, proto, body, strlen(body), &route, err);
}

/* Build for an upstream of proto: 0 and *sent (the body parsed back) and *out, or the status. */
static int build(const aiproxy_request *req, aiproxy_proto proto, const char *model,
                 aiproxy_upstream_request *out, json_t **sent, aiproxy_error *err)
{
    /* as the handler does: the upstream streams when the client does */
    aiproxy_target target = {.proto = proto,
                             .model = model,
                             .stream = aiproxy_request_stream(req) != AIPROXY_STREAM_NONE,
                             .dialect = AIPROXY_DIALECT_NONE};
    int rc;

    memset(err, 0, sizeof(*err));
    rc = aiproxy_request_build(pool, req, &target, out, err);
    *sent = rc ? NULL : test_jansson_parse(pool, out->body, out->len);
    return rc;
}

static json_t *json_of(const char *text)
{
    json_t *v = test_jansson_parse(pool, text, strlen(text));
    assert_non_null(v);
    return v;
}

static void assert_json_equal(const json_t *got, const char *want)
{
    char *text = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json_equal((json_t *) got, json_of(want)))
        fail_msg("got %s\nwant %s", text, want);
    free(text);
}

static apr_status_t capture(void *baton, const char *data, apr_size_t len)
{
    tr_buf_add(baton, data, len);
    return APR_SUCCESS;
}

/* The client's bytes for an upstream answer, fed in pieces of 5 bytes. */
static const char *translate(const aiproxy_response_spec *spec, const char *upstream,
                             aiproxy_response_info *info)
{
    tr_buf *out = tr_buf_make(pool, 0);
    aiproxy_sink sink = {capture, out};
    aiproxy_response *t = aiproxy_response_create(pool, spec);
    apr_size_t len = strlen(upstream);

    assert_non_null(t);
    for (apr_size_t at = 0; at < len; at += 5)
        aiproxy_response_feed(t, upstream + at, len - at < 5 ? len - at : 5, &sink);
    aiproxy_response_finish(t, 0, &sink);
    if (info)
        *info = *aiproxy_response_get_info(t);
    return apr_pstrmemdup(pool, out->data ? out->data : "", out->len);
}

static aiproxy_response_spec spec_for(aiproxy_proto client, aiproxy_stream_mode client_stream,
                                      aiproxy_proto upstream, aiproxy_stream_mode upstream_stream,
                                      aiproxy_operation op, unsigned embed_flags)
{
    aiproxy_response_spec spec = {.client = client,
                                  .client_stream = client_stream,
                                  .upstream = upstream,
                                  .upstream_stream = upstream_stream,
                                  .client_model = "client-model",
                                  .operation = op,
                                  .embed_flags = embed_flags};
    return spec;
}

/* ---- embeddings: requests ------------------------------------------------------------------ */

static void test_embed_openai_to_openai(void **state)
{
    aiproxy_error err;
    aiproxy_upstream_request out;
    json_t *sent;
    aiproxy_request *req = parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL,
                                 "{\"model\":\"m\",\"input\":[[1,2]],\"x\":1}", &err);

    assert_non_null(req);
    assert_int_equal(aiproxy_request_embed_flags(req), AIPROXY_EMBED_LIST);
    assert_int_equal(build(req, AIPROXY_PROTO_OPENAI, UPSTREAM_MODEL, &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1/embeddings");
    assert_null(out.query);
    assert_int_equal(out.upstream_stream, AIPROXY_STREAM_NONE);
    /* token arrays and unknown members pass within the protocol */
    assert_json_equal(sent, "{\"model\":\"up-model\",\"input\":[[1,2]],\"x\":1}");
    /* the same model: the client's own bytes */
    assert_int_equal(build(req, AIPROXY_PROTO_OPENAI, "m", &out, &sent, &err), 0);
    assert_string_equal(out.body, "{\"model\":\"m\",\"input\":[[1,2]],\"x\":1}");
}

static void test_embed_openai_to_gemini(void **state)
{
    aiproxy_error err;
    aiproxy_upstream_request out;
    json_t *sent;
    aiproxy_request *one = parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL,
                                 "{\"model\":\"m\",\"input\":\"hi\",\"dimensions\":3}", &err);
    aiproxy_request *many =
        parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL,
              "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}", &err);

    assert_non_null(one);
    assert_int_equal(build(one, AIPROXY_PROTO_GEMINI, "g/x", &out, &sent, &err), 0);
    assert_int_equal(out.proto, AIPROXY_PROTO_GEMINI);
    assert_string_equal(out.path, "/v1beta/models/g%2Fx:embedContent");
    assert_json_equal(sent, "{\"model\":\"models/g/x\",\"content\":{\"parts\":[{\"text\":\"hi\"}]},"
                            "\"outputDimensionality\":3}");

    assert_non_null(many);
    assert_int_equal(aiproxy_request_embed_flags(many), AIPROXY_EMBED_LIST | AIPROXY_EMBED_BASE64);
    assert_int_equal(build(many, AIPROXY_PROTO_GEMINI, "g", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1beta/models/g:batchEmbedContents");
    assert_json_equal(sent,
                      "{\"requests\":["
                      "{\"model\":\"models/g\",\"content\":{\"parts\":[{\"text\":\"a\"}]}},"
                      "{\"model\":\"models/g\",\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}");
}

static void test_embed_gemini_to_openai_and_gemini(void **state)
{
    aiproxy_error err;
    aiproxy_upstream_request out;
    json_t *sent;
    aiproxy_request *one = parse(AIPROXY_PROTO_GEMINI, AIPROXY_OP_EMBED, NULL,
                                 "{\"content\":{\"parts\":[{\"text\":\"a\"},{\"text\":\"b\"}]},"
                                 "\"taskType\":\"RETRIEVAL_QUERY\",\"outputDimensionality\":2}",
                                 &err);
    aiproxy_request *batch =
        parse(AIPROXY_PROTO_GEMINI, AIPROXY_OP_EMBED, "batch",
              "{\"requests\":[{\"model\":\"models/client-model\",\"content\":{\"parts\":[{\"text\":"
              "\"x\"}]},\"taskType\":\"CLUSTERING\"},{\"model\":\"models/client-model\","
              "\"content\":{\"parts\":[{\"text\":\"y\"}]}}]}",
              &err);

    assert_non_null(one);
    assert_int_equal(aiproxy_request_embed_flags(one), 0);
    assert_int_equal(build(one, AIPROXY_PROTO_OPENAI, "o", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1/embeddings");
    assert_json_equal(sent, "{\"model\":\"o\",\"input\":\"a\\nb\",\"dimensions\":2}");

    assert_non_null(batch);
    assert_int_equal(aiproxy_request_embed_flags(batch), AIPROXY_EMBED_LIST);
    assert_int_equal(build(batch, AIPROXY_PROTO_OPENAI, "o", &out, &sent, &err), 0);
    assert_json_equal(sent, "{\"model\":\"o\",\"input\":[\"x\",\"y\"]}");
    /* natively every request names the upstream's model, the rest of each kept; the client's
     * tree stays as parsed, so a second attempt renames again */
    assert_int_equal(build(batch, AIPROXY_PROTO_GEMINI, "g1", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1beta/models/g1:batchEmbedContents");
    assert_int_equal(build(batch, AIPROXY_PROTO_GEMINI, "g2", &out, &sent, &err), 0);
    assert_json_equal(sent, "{\"requests\":[{\"model\":\"models/g2\",\"content\":{\"parts\":[{"
                            "\"text\":\"x\"}]},\"taskType\":\"CLUSTERING\"},{\"model\":"
                            "\"models/g2\",\"content\":{\"parts\":[{\"text\":\"y\"}]}}]}");
}

/* Protocols without embeddings answer 501; input another protocol cannot take answers 400. */
static void test_embed_unexpressible(void **state)
{
    static const struct {
        aiproxy_proto client, target;
        const char *variant, *body;
        int status;
        const char *contains;
    } cases[] = {
        {AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_ANTHROPIC, NULL, "{\"model\":\"m\",\"input\":\"x\"}",
         501, "anthropic"},
        {AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_RESPONSES, NULL, "{\"model\":\"m\",\"input\":\"x\"}",
         501, "embeddings"},
        {AIPROXY_PROTO_GEMINI, AIPROXY_PROTO_ANTHROPIC, NULL,
         "{\"content\":{\"parts\":[{\"text\":\"x\"}]}}", 501, "embeddings"},
        {AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_GEMINI, NULL, "{\"model\":\"m\",\"input\":[1,2]}", 400,
         "token"},
        {AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_GEMINI, NULL,
         "{\"model\":\"m\",\"input\":[\"a\",[1]]}", 400, "token"},
        {AIPROXY_PROTO_GEMINI, AIPROXY_PROTO_OPENAI, NULL,
         "{\"content\":{\"parts\":[{\"inlineData\":{\"mimeType\":\"image/"
         "png\",\"data\":\"AA\"}}]}}",
         400, "text parts"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_error err;
        aiproxy_upstream_request out;
        json_t *sent;
        aiproxy_request *req =
            parse(cases[i].client, AIPROXY_OP_EMBED, cases[i].variant, cases[i].body, &err);

        assert_non_null(req);
        assert_int_equal(build(req, cases[i].target, "u", &out, &sent, &err), cases[i].status);
        assert_int_equal(err.status, cases[i].status);
        if (!strstr(err.message, cases[i].contains))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].contains);
    }
}

/* A subscription backend (a dialect) serves generations only: 501 even on a protocol with
 * embeddings (Code Assist behind geminicli and antigravity has no embeddings endpoint). */
static void test_embed_refused_for_dialects(void **state)
{
    static const aiproxy_dialect dialects[] = {AIPROXY_DIALECT_GEMINI_CLI,
                                               AIPROXY_DIALECT_ANTIGRAVITY};
    aiproxy_error err;
    aiproxy_upstream_request out;
    aiproxy_request *req = parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_EMBED, NULL,
                                 "{\"model\":\"m\",\"input\":\"x\"}", &err);

    assert_non_null(req);
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
        aiproxy_target target = {
            .proto = AIPROXY_PROTO_GEMINI, .model = "g", .dialect = dialects[i]};
        assert_int_equal(aiproxy_request_build(pool, req, &target, &out, &err), 501);
        assert_non_null(strstr(err.message, "upstream: its backend serves generations only"));
    }
}

static void test_embed_bad_requests(void **state)
{
    static const struct {
        aiproxy_proto proto;
        const char *variant, *body, *contains;
    } cases[] = {
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\"}", "'input'"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\",\"input\":7}", "'input'"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\",\"input\":[]}", "'input'"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"input\":\"x\"}", "model"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\",\"input\":\"x\",\"encoding_format\":1}",
         "encoding_format"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\",\"input\":\"x\",\"dimensions\":-3}",
         "dimensions"},
        {AIPROXY_PROTO_OPENAI, NULL, "{\"model\":\"m\",\"input\":\"x\",\"dimensions\":1.5}",
         "dimensions"},
        {AIPROXY_PROTO_GEMINI, NULL, "{\"contents\":[]}", "'content'"},
        {AIPROXY_PROTO_GEMINI, "batch", "{\"requests\":{}}", "'requests'"},
        {AIPROXY_PROTO_GEMINI, "batch", "{\"requests\":[{\"content\":{}},3]}", "'content'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_error err;
        assert_null(parse(cases[i].proto, AIPROXY_OP_EMBED, cases[i].variant, cases[i].body, &err));
        assert_int_equal(err.status, 400);
        if (!strstr(err.message, cases[i].contains))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].contains);
    }
}

/* ---- embeddings: answers ------------------------------------------------------------------- */

static const char gemini_one[] = "{\"embedding\":{\"values\":[0.5,-0.25,1]}}";
static const char gemini_many[] = "{\"embeddings\":[{\"values\":[1,-2]},{\"values\":[0.5]}]}";
static const char openai_many[] =
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,-2]},"
    "{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5]}],\"model\":\"up\","
    "\"usage\":{\"prompt_tokens\":9,\"total_tokens\":9}}";

static void test_embed_answers(void **state)
{
    aiproxy_response_info info;
    aiproxy_response_spec spec;
    const char *out;

    spec = spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_GEMINI,
                    AIPROXY_STREAM_NONE, AIPROXY_OP_EMBED, 0);
    out = translate(&spec, gemini_one, &info);
    assert_json_equal(json_of(out), "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
                                    "\"index\":0,\"embedding\":[0.5,-0.25,1]}],\"model\":"
                                    "\"client-model\",\"usage\":{\"prompt_tokens\":0,"
                                    "\"total_tokens\":0}}");
    assert_true(info.seen_content);

    /* base64: little-endian float32, 1.0 = 00 00 80 3f, -2.0 = 00 00 00 c0 */
    spec.embed_flags = AIPROXY_EMBED_LIST | AIPROXY_EMBED_BASE64;
    out = translate(&spec, gemini_many, NULL);
    assert_json_equal(json_of(out), "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
                                    "\"index\":0,\"embedding\":\"AACAPwAAAMA=\"},{\"object\":"
                                    "\"embedding\",\"index\":1,\"embedding\":\"AAAAPw==\"}],"
                                    "\"model\":\"client-model\",\"usage\":{\"prompt_tokens\":0,"
                                    "\"total_tokens\":0}}");

    spec = spec_for(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_OPENAI,
                    AIPROXY_STREAM_NONE, AIPROXY_OP_EMBED, AIPROXY_EMBED_LIST);
    out = translate(&spec, openai_many, &info);
    assert_json_equal(json_of(out), gemini_many);
    assert_int_equal(info.input_tokens, 9);
    spec.embed_flags = 0;
    out = translate(&spec, openai_many, NULL);
    assert_json_equal(json_of(out), "{\"embedding\":{\"values\":[1,-2]}}");

    /* same protocol: the answer as it came, its usage read on the way */
    spec = spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_OPENAI,
                    AIPROXY_STREAM_NONE, AIPROXY_OP_EMBED, AIPROXY_EMBED_LIST);
    out = translate(&spec, openai_many, &info);
    assert_string_equal(out, openai_many);
    assert_int_equal(info.input_tokens, 9);
}

/* An answer without vectors is a 502 in the client's envelope. */
static void test_embed_answer_without_vectors(void **state)
{
    static const char *const answers[] = {"{\"embeddings\":[{\"x\":1}]}", "{}", "not json"};
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        aiproxy_response_info info;
        aiproxy_response_spec spec =
            spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_GEMINI,
                     AIPROXY_STREAM_NONE, AIPROXY_OP_EMBED, AIPROXY_EMBED_LIST);
        json_t *body = json_of(translate(&spec, answers[i], &info));
        assert_non_null(json_object_get(json_object_get(body, "error"), "message"));
        assert_true(info.seen_error);

        spec = spec_for(AIPROXY_PROTO_GEMINI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_OPENAI,
                        AIPROXY_STREAM_NONE, AIPROXY_OP_EMBED, 0);
        body = json_of(translate(&spec, answers[i], NULL));
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(body, "error"), "code")), 502);
    }
}

/* ---- legacy completions --------------------------------------------------------------------- */

static void test_completion_requests(void **state)
{
    aiproxy_error err;
    aiproxy_upstream_request out;
    json_t *sent;
    aiproxy_request *req = parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_COMPLETE, NULL,
                                 "{\"model\":\"m\",\"prompt\":[\"tell me\"],\"max_tokens\":9,"
                                 "\"stop\":[\"\\n\"],\"stream\":true,\"suffix\":\"\"}",
                                 &err);

    assert_non_null(req);
    assert_int_equal(aiproxy_request_operation(req), AIPROXY_OP_COMPLETE);
    assert_int_equal(aiproxy_request_stream(req), AIPROXY_STREAM_SSE);
    /* natively: the client's body to /v1/completions */
    assert_int_equal(build(req, AIPROXY_PROTO_OPENAI, "o", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1/completions");
    assert_json_equal(sent, "{\"model\":\"o\",\"prompt\":[\"tell me\"],\"max_tokens\":9,"
                            "\"stop\":[\"\\n\"],\"stream\":true,\"suffix\":\"\"}");
    /* elsewhere a generation with the prompt as one user turn */
    assert_int_equal(build(req, AIPROXY_PROTO_ANTHROPIC, "a", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1/messages");
    assert_int_equal(json_integer_value(json_object_get(sent, "max_tokens")), 9);
    assert_json_equal(json_object_get(sent, "stop_sequences"), "[\"\\n\"]");
    assert_json_equal(json_object_get(sent, "messages"),
                      "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"tell "
                      "me\"}]}]");
    assert_true(json_is_true(json_object_get(sent, "stream")));
    assert_int_equal(build(req, AIPROXY_PROTO_GEMINI, "g", &out, &sent, &err), 0);
    assert_string_equal(out.path, "/v1beta/models/g:streamGenerateContent");
    assert_json_equal(json_object_get(sent, "contents"),
                      "[{\"role\":\"user\",\"parts\":[{\"text\":\"tell me\"}]}]");
}

/* Without max_tokens the legacy API stops at 16 tokens; another protocol is told so. */
static void test_completion_default_max_tokens(void **state)
{
    static const char *const bodies[] = {"{\"model\":\"m\",\"prompt\":\"x\"}",
                                         "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":null}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        aiproxy_error err;
        aiproxy_upstream_request out;
        json_t *sent;
        aiproxy_request *req =
            parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_COMPLETE, NULL, bodies[i], &err);

        assert_non_null(req);
        assert_int_equal(build(req, AIPROXY_PROTO_ANTHROPIC, "a", &out, &sent, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(sent, "max_tokens")), 16);
        assert_int_equal(build(req, AIPROXY_PROTO_GEMINI, "g", &out, &sent, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(sent, "generationConfig"), "maxOutputTokens")),
                         16);
        /* natively the upstream applies its own default */
        assert_int_equal(build(req, AIPROXY_PROTO_OPENAI, "o", &out, &sent, &err), 0);
        assert_false(json_is_integer(json_object_get(sent, "max_tokens")));
    }
}

static void test_completion_refusals(void **state)
{
    static const struct {
        const char *body, *contains;
        int at_parse; /* refused for every upstream (else only through the IR) */
    } cases[] = {
        {"{\"model\":\"m\"}", "'prompt'", 1},
        {"{\"model\":\"m\",\"prompt\":{}}", "'prompt'", 1},
        {"{\"model\":\"m\",\"prompt\":[]}", "'prompt'", 1},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stream\":1}", "stream", 1},
        {"{\"model\":\"m\",\"prompt\":[1,2]}", "token ids", 0},
        {"{\"model\":\"m\",\"prompt\":[[1],[2]]}", "token ids", 0},
        {"{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "several prompts", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}", "'echo'", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"n\":3}", "'n'", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":2}", "'best_of'", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":0}", "'logprobs'", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"s\"}", "'suffix'", 0},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"logit_bias\":{}}", "'logit_bias'", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_error err;
        aiproxy_upstream_request out;
        json_t *sent;
        aiproxy_request *req =
            parse(AIPROXY_PROTO_OPENAI, AIPROXY_OP_COMPLETE, NULL, cases[i].body, &err);

        if (cases[i].at_parse) {
            assert_null(req);
        } else {
            assert_non_null(req);
            assert_int_equal(build(req, AIPROXY_PROTO_OPENAI, "o", &out, &sent, &err), 0);
            assert_int_equal(build(req, AIPROXY_PROTO_RESPONSES, "r", &out, &sent, &err), 400);
        }
        assert_int_equal(err.status, 400);
        if (!strstr(err.message, cases[i].contains))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].contains);
    }
}

static const char anthropic_answer[] =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"a\",\"content\":["
    "{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"s\"},"
    "{\"type\":\"text\",\"text\":\"hello \"},{\"type\":\"text\",\"text\":\"world\"}],"
    "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":4,\"output_tokens\":6}}";

static void test_completion_json_answer(void **state)
{
    aiproxy_response_spec spec =
        spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_ANTHROPIC,
                 AIPROXY_STREAM_NONE, AIPROXY_OP_COMPLETE, 0);
    json_t *body = json_of(translate(&spec, anthropic_answer, NULL));
    json_t *choice = json_array_get(json_object_get(body, "choices"), 0);

    assert_string_equal(json_string_value(json_object_get(body, "object")), "text_completion");
    assert_string_equal(json_string_value(json_object_get(body, "id")), "cmpl-msg_1");
    assert_string_equal(json_string_value(json_object_get(body, "model")), "client-model");
    assert_int_equal(json_array_size(json_object_get(body, "choices")), 1);
    /* the text only: thinking has no place in a completion */
    assert_string_equal(json_string_value(json_object_get(choice, "text")), "hello world");
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "length");
    assert_true(json_is_null(json_object_get(choice, "logprobs")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(body, "usage"), "total_tokens")), 10);
}

/* Chunks of a client stream: the JSON of every data line before [DONE], which must end it. */
static json_t *stream_chunks(const char *sse)
{
    json_t *chunks = json_array();
    const char *at = sse, *line;
    int done = 0;

    apr_pool_cleanup_register(pool, chunks, test_jansson_release, apr_pool_cleanup_null);
    while ((line = strstr(at, "data: ")) != NULL) {
        const char *end = strstr(line, "\n\n");
        assert_non_null(end);
        assert_false(done);
        if (!strncmp(line + 6, "[DONE]", 6))
            done = 1;
        else
            json_array_append_new(chunks, json_loadb(line + 6, end - line - 6, 0, NULL));
        at = end + 2;
    }
    assert_true(done);
    return chunks;
}

static void test_completion_stream_answer(void **state)
{
    static const char upstream[] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"a\",\"content\":[],"
        "\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"he\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"llo\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    aiproxy_response_spec spec =
        spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_SSE, AIPROXY_PROTO_ANTHROPIC,
                 AIPROXY_STREAM_SSE, AIPROXY_OP_COMPLETE, 0);
    json_t *chunks, *chunk;
    size_t i;
    const char *text = "";

    spec.include_usage = 1;
    chunks = stream_chunks(translate(&spec, upstream, NULL));
    assert_int_equal(json_array_size(chunks), 4); /* 2 deltas, the finish, the usage */
    json_array_foreach(chunks, i, chunk)
    {
        json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
        assert_string_equal(json_string_value(json_object_get(chunk, "object")), "text_completion");
        assert_string_equal(json_string_value(json_object_get(chunk, "id")), "cmpl-msg_2");
        if (choice)
            text =
                apr_pstrcat(pool, text, json_string_value(json_object_get(choice, "text")), NULL);
        if (i < 2)
            assert_true(json_is_null(json_object_get(choice, "finish_reason")));
    }
    assert_string_equal(text, "hello");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(chunks, 2), "choices"), 0),
            "finish_reason")),
        "stop");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(chunks, 3), "usage"), "total_tokens")),
                     5);
}

/* An OpenAI completion streamed upstream for a JSON client: its chunks read back into one
 * text_completion (the completions stream decoder). */
static void test_completion_upstream_stream_to_json(void **state)
{
    static const char upstream[] =
        "data: {\"id\":\"cmpl-9\",\"object\":\"text_completion\",\"created\":1,\"model\":\"o\","
        "\"choices\":[{\"text\":\"ab\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"cmpl-9\",\"object\":\"text_completion\",\"created\":1,\"model\":\"o\","
        "\"choices\":[{\"text\":\"cd\",\"index\":0,\"logprobs\":null,\"finish_reason\":"
        "\"length\"}]}\n\n"
        "data: {\"id\":\"cmpl-9\",\"object\":\"text_completion\",\"created\":1,\"model\":\"o\","
        "\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2,"
        "\"total_tokens\":4}}\n\n"
        "data: [DONE]\n\n";
    aiproxy_response_info info;
    aiproxy_response_spec spec =
        spec_for(AIPROXY_PROTO_OPENAI, AIPROXY_STREAM_NONE, AIPROXY_PROTO_OPENAI,
                 AIPROXY_STREAM_SSE, AIPROXY_OP_COMPLETE, 0);
    json_t *body = json_of(translate(&spec, upstream, &info));
    json_t *choice = json_array_get(json_object_get(body, "choices"), 0);

    assert_string_equal(json_string_value(json_object_get(body, "object")), "text_completion");
    assert_string_equal(json_string_value(json_object_get(choice, "text")), "abcd");
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "length");
    assert_int_equal(info.output_tokens, 2);
    assert_int_equal(info.input_tokens, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_openai_to_openai),
        cmocka_unit_test(test_embed_openai_to_gemini),
        cmocka_unit_test(test_embed_gemini_to_openai_and_gemini),
        cmocka_unit_test(test_embed_unexpressible),
        cmocka_unit_test(test_embed_refused_for_dialects),
        cmocka_unit_test(test_embed_bad_requests),
        cmocka_unit_test(test_embed_answers),
        cmocka_unit_test(test_embed_answer_without_vectors),
        cmocka_unit_test(test_completion_requests),
        cmocka_unit_test(test_completion_default_max_tokens),
        cmocka_unit_test(test_completion_refusals),
        cmocka_unit_test(test_completion_json_answer),
        cmocka_unit_test(test_completion_stream_answer),
        cmocka_unit_test(test_completion_upstream_stream_to_json),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
