/*
 * test_translate_request.c: request translation between the four protocols.
 *
 * Golden vectors: test/unit/vectors/requests/<source>/<case>.json is a client body; next to it
 * <case>.<target>.json is what the <target> upstream must receive (compared as JSON values),
 * or {"$error": <status>, "$contains": "<text in the message>"} when the target cannot
 * express the request. Every case is encoded to all four targets, the source's own protocol
 * included (a must-stream target sends same-protocol requests through the IR too), and to the
 * upstream-only Kiro (<case>.kiro.json: its random conversationId is checked to be a UUID,
 * then compared as "$uuid").
 * Gemini cases take the model from the route; a case whose name contains "stream" streams.
 *
 * AIPROXY_UPDATE_VECTORS=1 rewrites the expected files from the current output: for adding
 * cases; every rewritten file must be read against the upstream's documented shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "codec/tr_codec.h"
#include "test_files.h"
#include "test_jansson.h"
#include "json/tr_jv.h"
#include "codec/gemini_schema.h"

#define VECTOR_DIR   "test/unit/vectors/requests"
#define TARGET_MODEL "upstream-model"

static apr_pool_t *root_pool;

static const char *vector_dir(void)
{
    const char *dir = getenv("AIPROXY_REQUEST_VECTORS");
    return dir ? dir : VECTOR_DIR;
}

static aiproxy_route_info route_for(aiproxy_proto proto, const char *case_name)
{
    aiproxy_route_info route = {.model = NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = NULL,
                                .operation = AIPROXY_OP_GENERATE};
    if (proto == AIPROXY_PROTO_GEMINI) {
        route.model = "client-model";
        route.stream = strstr(case_name, "stream") ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    }
    return route;
}

/* Parse and fully decode a client body into ir (pipeline/tr_request_pipeline.c does it lazily). */
static int decode_body(apr_pool_t *p, aiproxy_proto proto, const char *body, apr_size_t len,
                       const aiproxy_route_info *route, tr_request *ir, aiproxy_error *err)
{
    const tr_codec *codec = tr_codec_for(proto);

    memset(ir, 0, sizeof(*ir));
    ir->proto = proto;
    ir->parallel_tool_calls = -1;
    ir->thinking = -1;
    ir->format_strict = -1;
    ir->root = tr_jv_parse(p, body, len, err);
    if (!ir->root)
        return err->status;
    if (codec->request_peek(p, ir, route, err))
        return err->status;
    return codec->request_decode(p, ir, err);
}

/* The same value as a jansson tree (pool-owned): golden files are compared and written with
 * jansson, an independent parser, so a tr_jv writer bug cannot hide behind its own parser. */
static json_t *as_jansson(apr_pool_t *p, const tr_jv *v)
{
    apr_size_t len;
    const char *text = tr_jv_dump(p, v, &len);
    return text ? test_jansson_parse(p, text, len) : NULL;
}

/* Encode ir for target; returns the body (pool-owned) or NULL with *err. */
static json_t *encode_for(apr_pool_t *p, const tr_request *ir, aiproxy_proto target_proto,
                          int stream, aiproxy_error *err)
{
    aiproxy_target target = {.proto = target_proto,
                             .model = TARGET_MODEL,
                             .stream = stream,
                             .default_max_tokens = 0,
                             .dialect = AIPROXY_DIALECT_NONE};
    tr_jv *body = NULL;

    if (tr_codec_for(target_proto)->request_encode(p, ir, &target, &body, err))
        return NULL;
    return as_jansson(p, body);
}

/* Kiro's conversationId is random per request: a version 4 UUID, compared as "$uuid". */
static void normalize_conversation_id(json_t *body)
{
    json_t *state = json_object_get(body, "conversationState");
    const char *id = json_string_value(json_object_get(state, "conversationId"));
    unsigned a, b, c, d;
    unsigned long long e;
    char end;

    if (!id)
        return;
    assert_int_equal(strlen(id), 36);
    assert_int_equal(sscanf(id, "%8x-%4x-%4x-%4x-%12llx%c", &a, &b, &c, &d, &e, &end), 5);
    assert_int_equal(c >> 12, 4);
    json_object_set_new(state, "conversationId", json_string("$uuid"));
}

static json_t *error_object(const aiproxy_error *err)
{
    return json_pack("{s:i, s:s}", "$error", err->status, "$contains", err->message);
}

/* Expected matches actual: equal JSON, or an error with the expected status whose message
 * contains the expected text. */
static int vector_matches(const json_t *expected, const json_t *actual, const aiproxy_error *err)
{
    json_t *status = json_object_get(expected, "$error");
    if (status) {
        const char *contains = json_string_value(json_object_get(expected, "$contains"));
        return !actual && err->status == json_integer_value(status) &&
               (!contains || (err->message && strstr(err->message, contains)));
    }
    return actual && json_equal((json_t *) expected, (json_t *) actual);
}

static void write_vector(const char *path, const json_t *actual, const aiproxy_error *err)
{
    json_t *out = actual ? json_incref((json_t *) actual) : error_object(err);
    json_dump_file(out, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(out);
    FILE *f = fopen(path, "a");
    if (f) {
        fputc('\n', f);
        fclose(f);
    }
}

static int run_case(apr_pool_t *p, const char *dir, const char *case_name, void *baton)
{
    aiproxy_proto source = *(const aiproxy_proto *) baton;
    const char *path = apr_psprintf(p, "%s/%s.json", dir, case_name);
    aiproxy_route_info route = route_for(source, case_name);
    aiproxy_error err = {0};
    apr_size_t len;
    const char *body = test_read_file(p, path, &len);
    tr_request ir;
    int failures = 0;
    int update = getenv("AIPROXY_UPDATE_VECTORS") != NULL;

    if (!body || decode_body(p, source, body, len, &route, &ir, &err)) {
        print_error("%s: does not decode: %s\n", path, err.message ? err.message : "unreadable");
        return 1;
    }
    for (int t = 0; t < AIPROXY_PROTO_UPSTREAM_COUNT; t++) {
        const char *expected_path =
            apr_psprintf(p, "%s/%s.%s.json", dir, case_name, aiproxy_proto_name((aiproxy_proto) t));
        aiproxy_error terr = {0};
        json_t *actual =
            encode_for(p, &ir, (aiproxy_proto) t, ir.stream != AIPROXY_STREAM_NONE, &terr);

        if (actual && t == AIPROXY_PROTO_KIRO)
            normalize_conversation_id(actual);
        apr_size_t elen;
        const char *etext = test_read_file(p, expected_path, &elen);
        json_t *expected = etext ? test_jansson_parse(p, etext, elen) : NULL;

        if (update) {
            write_vector(expected_path, actual, &terr);
            continue;
        }
        if (!expected) {
            print_error("%s: missing or invalid\n", expected_path);
            failures++;
        } else if (!vector_matches(expected, actual, &terr)) {
            char *got = actual ? json_dumps(actual, JSON_INDENT(2) | JSON_SORT_KEYS)
                               : strdup(terr.message ? terr.message : "(no message)");
            print_error("%s: mismatch, got:\n%s\n", expected_path, got);
            free(got);
            failures++;
        }
    }
    return failures;
}

static int run_source(aiproxy_proto source, int *cases)
{
    const char *dir = apr_psprintf(root_pool, "%s/%s", vector_dir(), aiproxy_proto_name(source));
    return test_for_each_case(root_pool, dir, run_case, &source, cases);
}

static void test_vectors_source(aiproxy_proto source, int min_cases)
{
    int cases = 0;
    int failures = run_source(source, &cases);
    assert_int_equal(failures, 0);
    assert_true(cases >= min_cases);
}

static void test_vectors_from_anthropic(void **state)
{
    test_vectors_source(AIPROXY_PROTO_ANTHROPIC, 8);
}

static void test_vectors_from_openai(void **state)
{
    test_vectors_source(AIPROXY_PROTO_OPENAI, 8);
}

static void test_vectors_from_responses(void **state)
{
    test_vectors_source(AIPROXY_PROTO_RESPONSES, 5);
}

static void test_vectors_from_gemini(void **state)
{
    test_vectors_source(AIPROXY_PROTO_GEMINI, 5);
}

/* ---- the public path (aiproxy_request_build) ------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    apr_pool_create(&f->p, root_pool);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    apr_pool_destroy(f->p);
    free(f);
    return 0;
}

static aiproxy_request *parse(apr_pool_t *p, aiproxy_proto proto, const char *body,
                              aiproxy_error *err)
{
    aiproxy_route_info route = {.model = proto == AIPROXY_PROTO_GEMINI ? "client-model" : NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = NULL,
                                .operation = AIPROXY_OP_GENERATE};
    return aiproxy_request_parse(p, proto, body, strlen(body), &route, err);
}

/* Build for target; returns the upstream body parsed back, or NULL with *err. */
static json_t *build(apr_pool_t *p, const aiproxy_request *req, aiproxy_proto proto, int stream,
                     aiproxy_error *err)
{
    aiproxy_target target = {.proto = proto,
                             .model = TARGET_MODEL,
                             .stream = stream,
                             .default_max_tokens = 0,
                             .dialect = AIPROXY_DIALECT_NONE};
    aiproxy_upstream_request out;

    if (aiproxy_request_build(p, req, &target, &out, err))
        return NULL;
    return test_jansson_parse(p, out.body, out.len);
}

/* A token count for each upstream protocol: where it goes, in which protocol, and the members
 * the count endpoint accepts (generation settings cut, Gemini's body nested). */
static void test_count_tokens_build(void **state)
{
    fixture *f = *state;
    static const char body[] = "{\"model\":\"m\",\"system\":\"be brief\",\"max_tokens\":5,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const struct {
        aiproxy_proto target, wire;
        const char *path;
        const char *present, *absent; /* top-level members of the count body */
    } cases[] = {
        {AIPROXY_PROTO_ANTHROPIC, AIPROXY_PROTO_ANTHROPIC, "/v1/messages/count_tokens", "system",
         NULL},
        {AIPROXY_PROTO_OPENAI, AIPROXY_PROTO_RESPONSES, "/v1/responses/input_tokens", "input",
         "max_output_tokens"},
        {AIPROXY_PROTO_RESPONSES, AIPROXY_PROTO_RESPONSES, "/v1/responses/input_tokens", "input",
         "max_output_tokens"},
        {AIPROXY_PROTO_GEMINI, AIPROXY_PROTO_GEMINI, "/v1beta/models/" TARGET_MODEL ":countTokens",
         "generateContentRequest", "contents"},
    };
    aiproxy_route_info route = {.model = NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = NULL,
                                .operation = AIPROXY_OP_COUNT_TOKENS};
    aiproxy_error err = {0};
    aiproxy_request *req =
        aiproxy_request_parse(f->p, AIPROXY_PROTO_ANTHROPIC, body, strlen(body), &route, &err);

    assert_non_null(req);
    assert_int_equal(aiproxy_request_operation(req), AIPROXY_OP_COUNT_TOKENS);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_target target = {.proto = cases[i].target,
                                 .model = TARGET_MODEL,
                                 .stream = 1,
                                 .default_max_tokens = 0,
                                 .dialect = AIPROXY_DIALECT_NONE};
        aiproxy_upstream_request out;
        json_t *sent;

        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 0);
        assert_int_equal(out.proto, cases[i].wire);
        assert_string_equal(out.path, cases[i].path);
        assert_int_equal(out.upstream_stream, AIPROXY_STREAM_NONE); /* never streamed */
        sent = test_jansson_parse(f->p, out.body, out.len);
        assert_non_null(sent);
        assert_non_null(json_object_get(sent, cases[i].present));
        if (cases[i].absent)
            assert_null(json_object_get(sent, cases[i].absent));
        if (cases[i].wire == AIPROXY_PROTO_GEMINI)
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(sent, "generateContentRequest"), "model")),
                                "models/" TARGET_MODEL);
        else
            assert_string_equal(json_string_value(json_object_get(sent, "model")), TARGET_MODEL);
    }
}

static const char *const plain_bodies[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = "{\"model\":\"m\",\"max_tokens\":10,\"x_unknown\":1,"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_OPENAI] =
        "{\"model\":\"m\",\"x_unknown\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_RESPONSES] = "{\"model\":\"m\",\"x_unknown\":1,\"input\":\"hi\"}",
    [AIPROXY_PROTO_GEMINI] =
        "{\"x_unknown\":1,\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
};

/* Same protocol, same stream flag: the client's body with only the model changed (unknown
 * fields kept); a flipped stream flag goes through the IR and still keeps unknown fields. */
static void test_same_protocol_passthrough_and_stream_flip(void **state)
{
    fixture *f = *state;
    for (int proto = 0; proto < AIPROXY_PROTO_COUNT; proto++) {
        aiproxy_error err = {0};
        aiproxy_request *req = parse(f->p, (aiproxy_proto) proto, plain_bodies[proto], &err);
        json_t *same, *flipped;

        assert_non_null(req);
        same = build(f->p, req, (aiproxy_proto) proto, 0, &err);
        assert_non_null(same);
        assert_non_null(json_object_get(same, "x_unknown"));
        assert_null(json_object_get(same, "stream"));
        flipped = build(f->p, req, (aiproxy_proto) proto, 1, &err);
        assert_non_null(flipped);
        assert_non_null(json_object_get(flipped, "x_unknown"));
        if (proto != AIPROXY_PROTO_GEMINI) /* Gemini streams by URL */
            assert_true(json_is_true(json_object_get(flipped, "stream")));
        if (proto != AIPROXY_PROTO_GEMINI)
            assert_string_equal(json_string_value(json_object_get(flipped, "model")), TARGET_MODEL);
        if (proto == AIPROXY_PROTO_OPENAI)
            assert_true(json_is_true(
                json_object_get(json_object_get(flipped, "stream_options"), "include_usage")));
    }
}

/* Every protocol reaches every other with status 0, and unknown fields are dropped. */
static void test_cross_protocol_drops_unknown_fields(void **state)
{
    fixture *f = *state;
    for (int src = 0; src < AIPROXY_PROTO_COUNT; src++) {
        for (int dst = 0; dst < AIPROXY_PROTO_COUNT; dst++) {
            aiproxy_error err = {0};
            aiproxy_request *req = parse(f->p, (aiproxy_proto) src, plain_bodies[src], &err);
            json_t *body;
            if (src == dst)
                continue;
            assert_non_null(req);
            body = build(f->p, req, (aiproxy_proto) dst, 1, &err);
            assert_non_null(body);
            assert_null(json_object_get(body, "x_unknown"));
        }
    }
}

/* ---- bad input ------------------------------------------------------------------------------ */

/* Parse + build to target; expects status and a message containing text. */
static void expect_error(apr_pool_t *p, aiproxy_proto proto, const char *body, aiproxy_proto target,
                         int status, const char *text)
{
    aiproxy_error err = {0};
    aiproxy_request *req = parse(p, proto, body, &err);
    if (req) {
        json_t *out = build(p, req, target, 0, &err);
        assert_null(out);
    }
    assert_int_equal(err.status, status);
    assert_non_null(err.message);
    if (!strstr(err.message, text))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, text);
}

/* Streamed call arguments are asked of a Gemini upstream (streamFunctionCallArguments) exactly
 * when the client asked for them in its own protocol's way and the answer streams. */
static void test_stream_function_call_arguments(void **state)
{
    static const char tool_a[] = "{\"name\":\"f\",\"input_schema\":{\"type\":\"object\","
                                 "\"properties\":{\"x\":{\"type\":\"string\"}}}";
    static const char tool_o[] = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                                 "\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":"
                                 "{\"type\":\"string\"}}}}}]";
    static const char tool_r[] =
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}}]";
    static const char on[] = "\"toolConfig\":{\"functionCallingConfig\":"
                             "{\"streamFunctionCallArguments\":true}}";
    static const char user_o[] = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    fixture *f = *state;
    const struct {
        aiproxy_proto proto;
        const char *body;
        int stream, want;
    } cases[] = {
        /* Anthropic: fine-grained tool streaming, eager_input_streaming on a tool */
        {AIPROXY_PROTO_ANTHROPIC,
         apr_psprintf(f->p,
                      "{\"model\":\"m\",\"max_tokens\":9,%s,\"tools\":[%s,"
                      "\"eager_input_streaming\":true}]}",
                      user_o, tool_a),
         1, 1},
        {AIPROXY_PROTO_ANTHROPIC,
         apr_psprintf(f->p,
                      "{\"model\":\"m\",\"max_tokens\":9,%s,\"tools\":[%s,"
                      "\"eager_input_streaming\":true}]}",
                      user_o, tool_a),
         0, 0}, /* not streaming: nothing to stream the arguments in */
        {AIPROXY_PROTO_ANTHROPIC,
         apr_psprintf(f->p,
                      "{\"model\":\"m\",\"max_tokens\":9,%s,\"tools\":[%s,"
                      "\"eager_input_streaming\":false}]}",
                      user_o, tool_a),
         1, 0},
        {AIPROXY_PROTO_ANTHROPIC,
         apr_psprintf(f->p, "{\"model\":\"m\",\"max_tokens\":9,%s,\"tools\":[%s}]}", user_o,
                      tool_a),
         1, 0},
        /* OpenAI and Responses: Gemini's own member, sent at the top of the body */
        {AIPROXY_PROTO_OPENAI, apr_psprintf(f->p, "{\"model\":\"m\",%s,%s,%s}", user_o, tool_o, on),
         1, 1},
        {AIPROXY_PROTO_OPENAI, apr_psprintf(f->p, "{\"model\":\"m\",%s,%s}", user_o, tool_o), 1, 0},
        {AIPROXY_PROTO_OPENAI, apr_psprintf(f->p, "{\"model\":\"m\",%s,%s}", user_o, on), 1,
         0}, /* no tools: no config at all */
        {AIPROXY_PROTO_RESPONSES,
         apr_psprintf(f->p, "{\"model\":\"m\",\"input\":\"hi\",%s,%s}", tool_r, on), 1, 1},
        {AIPROXY_PROTO_RESPONSES,
         apr_psprintf(f->p, "{\"model\":\"m\",\"input\":\"hi\",%s}", tool_r), 1, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_error err = {0};
        aiproxy_request *req = parse(f->p, cases[i].proto, cases[i].body, &err);
        json_t *body, *fcc;

        assert_non_null(req);
        body = build(f->p, req, AIPROXY_PROTO_GEMINI, cases[i].stream, &err);
        assert_non_null(body);
        fcc = json_object_get(json_object_get(body, "toolConfig"), "functionCallingConfig");
        if (json_is_true(json_object_get(fcc, "streamFunctionCallArguments")) != cases[i].want)
            fail_msg("case %d: %s", (int) i, cases[i].body);
        /* never to another protocol */
        body = build(f->p, req,
                     cases[i].proto == AIPROXY_PROTO_ANTHROPIC ? AIPROXY_PROTO_OPENAI
                                                               : AIPROXY_PROTO_ANTHROPIC,
                     cases[i].stream, &err);
        assert_null(json_object_get(body, "toolConfig"));
    }
    /* Gemini clients keep their own member on the way through the IR (a flipped stream). */
    {
        aiproxy_error err = {0};
        const char *g = apr_psprintf(
            f->p,
            "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"tools\":"
            "[{\"functionDeclarations\":[{\"name\":\"f\"}]}],%s}",
            on);
        aiproxy_request *req = parse(f->p, AIPROXY_PROTO_GEMINI, g, &err);
        json_t *body = build(f->p, req, AIPROXY_PROTO_GEMINI, 1, &err);
        assert_true(json_is_true(json_object_get(
            json_object_get(json_object_get(body, "toolConfig"), "functionCallingConfig"),
            "streamFunctionCallArguments")));
    }
    /* a wrong type is named */
    expect_error(
        f->p, AIPROXY_PROTO_OPENAI,
        apr_psprintf(f->p,
                     "{\"model\":\"m\",%s,\"toolConfig\":{\"functionCallingConfig\":"
                     "{\"streamFunctionCallArguments\":1}}}",
                     user_o),
        AIPROXY_PROTO_GEMINI, 400,
        "'toolConfig.functionCallingConfig.streamFunctionCallArguments' must be a boolean");
}

static void test_wrong_types_name_the_field(void **state)
{
    fixture *f = *state;
    expect_error(f->p, AIPROXY_PROTO_ANTHROPIC,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                 AIPROXY_PROTO_OPENAI, 400, "messages[0].content");
    expect_error(f->p, AIPROXY_PROTO_ANTHROPIC,
                 "{\"model\":\"m\",\"temperature\":\"hot\",\"messages\":[]}", AIPROXY_PROTO_GEMINI,
                 400, "'temperature' must be a number");
    expect_error(f->p, AIPROXY_PROTO_ANTHROPIC,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"text\",\"text\":7}]}]}",
                 AIPROXY_PROTO_OPENAI, 400, "'messages[0].content[0].text' must be a string");
    expect_error(f->p, AIPROXY_PROTO_ANTHROPIC,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
                 AIPROXY_PROTO_OPENAI, 400, "messages[0].role");
    expect_error(f->p, AIPROXY_PROTO_OPENAI,
                 "{\"model\":\"m\",\"max_tokens\":\"many\",\"messages\":[]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "'max_tokens' must be an integer");
    expect_error(f->p, AIPROXY_PROTO_OPENAI,
                 "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{}}],"
                 "\"messages\":[]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "tools[0].function.name");
    expect_error(f->p, AIPROXY_PROTO_OPENAI,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"input_audio\",\"input_audio\":{\"data\":\"AA\",\"format\":\"wav\"}}]}]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "audio");
    expect_error(f->p, AIPROXY_PROTO_OPENAI, "{\"model\":\"m\",\"stop\":7,\"messages\":[]}",
                 AIPROXY_PROTO_GEMINI, 400, "'stop'");
    expect_error(f->p, AIPROXY_PROTO_RESPONSES,
                 "{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"name\":\"f\"}]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "call_id");
    expect_error(f->p, AIPROXY_PROTO_RESPONSES,
                 "{\"model\":\"m\",\"input\":[],\"reasoning\":\"high\"}", AIPROXY_PROTO_GEMINI, 400,
                 "'reasoning' must be an object");
    expect_error(f->p, AIPROXY_PROTO_GEMINI,
                 "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":1}]}]}",
                 AIPROXY_PROTO_OPENAI, 400, "contents[0].parts[0].text");
    expect_error(f->p, AIPROXY_PROTO_GEMINI,
                 "{\"contents\":[],\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":"
                 "\"big\"}}}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "generationConfig.thinkingConfig.thinkingBudget");
}

static void test_inexpressible_requests_are_400(void **state)
{
    fixture *f = *state;
    const char *n2 =
        "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    const char *prev = "{\"model\":\"m\",\"previous_response_id\":\"resp_1\",\"input\":\"x\"}";
    aiproxy_error err = {0};
    aiproxy_request *req;

    expect_error(f->p, AIPROXY_PROTO_OPENAI, n2, AIPROXY_PROTO_ANTHROPIC, 400, "candidates");
    expect_error(f->p, AIPROXY_PROTO_OPENAI, n2, AIPROXY_PROTO_RESPONSES, 400, "responses");
    /* Gemini could ask for candidateCount 2, but every answer decoder keeps one candidate */
    expect_error(f->p, AIPROXY_PROTO_OPENAI, n2, AIPROXY_PROTO_GEMINI, 400, "candidates");
    req = parse(f->p, AIPROXY_PROTO_OPENAI, n2, &err);
    assert_non_null(json_object_get(build(f->p, req, AIPROXY_PROTO_OPENAI, 0, &err), "n"));
    /* an image by file id has no Chat Completions form (a file part is for documents) */
    expect_error(f->p, AIPROXY_PROTO_RESPONSES,
                 "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"input_image\",\"file_id\":\"file-9\"}]}]}",
                 AIPROXY_PROTO_OPENAI, 400, "images given by file_id ('file-9')");
    /* allowed_tools under mode auto: Gemini has allowedFunctionNames only for ANY, so the
     * others are not declared */
    {
        const char *allowed =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},"
            "{\"type\":\"function\",\"function\":{\"name\":\"b\"}}],"
            "\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{\"mode\":"
            "\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"b\"}}]}}}";
        json_t *body, *decls;
        req = parse(f->p, AIPROXY_PROTO_OPENAI, allowed, &err);
        body = build(f->p, req, AIPROXY_PROTO_GEMINI, 0, &err);
        decls = json_object_get(json_array_get(json_object_get(body, "tools"), 0),
                                "functionDeclarations");
        assert_int_equal(json_array_size(decls), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(decls, 0), "name")),
                            "b");
    }
    /* an endpoint variant cannot be translated */
    {
        aiproxy_route_info compact = {.model = NULL,
                                      .stream = AIPROXY_STREAM_NONE,
                                      .variant = "compact",
                                      .operation = AIPROXY_OP_GENERATE};
        aiproxy_target target = {.proto = AIPROXY_PROTO_ANTHROPIC,
                                 .model = TARGET_MODEL,
                                 .stream = 0,
                                 .default_max_tokens = 0,
                                 .dialect = AIPROXY_DIALECT_NONE};
        aiproxy_upstream_request out;
        const char *body = "{\"model\":\"m\",\"input\":\"x\"}";
        req = aiproxy_request_parse(f->p, AIPROXY_PROTO_RESPONSES, body, strlen(body), &compact,
                                    &err);
        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 400);
        assert_non_null(strstr(err.message, "'compact' endpoint exists only in the responses API"));
        target.proto = AIPROXY_PROTO_RESPONSES;
        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 0);
        assert_string_equal(out.path, "/v1/responses/compact");
    }

    expect_error(f->p, AIPROXY_PROTO_RESPONSES, prev, AIPROXY_PROTO_ANTHROPIC, 400,
                 "previous_response_id");
    expect_error(f->p, AIPROXY_PROTO_RESPONSES, prev, AIPROXY_PROTO_OPENAI, 400,
                 "previous_response_id");
    expect_error(f->p, AIPROXY_PROTO_RESPONSES, prev, AIPROXY_PROTO_GEMINI, 400,
                 "previous_response_id");
    req = parse(f->p, AIPROXY_PROTO_RESPONSES, prev, &err);
    {
        json_t *body = build(f->p, req, AIPROXY_PROTO_RESPONSES, 1, &err);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "previous_response_id")),
                            "resp_1");
    }
    expect_error(f->p, AIPROXY_PROTO_RESPONSES,
                 "{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"msg_1\"}]}",
                 AIPROXY_PROTO_OPENAI, 400, "item_reference");
    expect_error(f->p, AIPROXY_PROTO_GEMINI,
                 "{\"cachedContent\":\"cachedContents/abc\",\"contents\":[]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "cachedContent");
    /* files live in one provider's store */
    expect_error(f->p, AIPROXY_PROTO_OPENAI,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                 "\"file\",\"file\":{\"file_id\":\"file-1\"}}]}]}",
                 AIPROXY_PROTO_ANTHROPIC, 400, "file-1");
    /* the legacy function-calling API: refused by name on translated routes, passed through
     * unchanged to an OpenAI upstream */
    {
        const char *functions =
            "{\"model\":\"m\",\"functions\":[{\"name\":\"f\",\"parameters\":{}}],"
            "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
        const char *history =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
            "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
            "\"arguments\":\"{}\"}},{\"role\":\"function\",\"name\":\"f\",\"content\":\"1\"}]}";
        expect_error(f->p, AIPROXY_PROTO_OPENAI, functions, AIPROXY_PROTO_ANTHROPIC, 400,
                     "'functions' (the legacy function-calling API)");
        expect_error(f->p, AIPROXY_PROTO_OPENAI, history, AIPROXY_PROTO_GEMINI, 400,
                     "'messages[1]' uses the legacy function-calling API");
        req = parse(f->p, AIPROXY_PROTO_OPENAI, functions, &err);
        assert_non_null(
            json_object_get(build(f->p, req, AIPROXY_PROTO_OPENAI, 0, &err), "functions"));
    }
}

static void test_deep_nesting_and_bad_utf8_rejected_by_parse(void **state)
{
    fixture *f = *state;
    aiproxy_error err = {0};
    char *deep = apr_palloc(f->p, 2 * 300 + 64);
    char *o = deep;
    const char bad_utf8[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}";

    o += sprintf(o, "{\"model\":\"m\",\"messages\":");
    for (int i = 0; i < 300; i++)
        *o++ = '[';
    for (int i = 0; i < 300; i++)
        *o++ = ']';
    *o++ = '}';
    *o = '\0';
    assert_null(parse(f->p, AIPROXY_PROTO_OPENAI, deep, &err));
    assert_int_equal(err.status, 400);
    assert_null(parse(f->p, AIPROXY_PROTO_ANTHROPIC, bad_utf8, &err));
    assert_int_equal(err.status, 400);
}

/* Model names with control characters are refused by every protocol, the Gemini one in the
 * URL included: they would end up in breaker keys, logs and headers. */
static void test_control_characters_in_model_refused(void **state)
{
    fixture *f = *state;
    static const char *const bodies[AIPROXY_PROTO_COUNT] = {
        [AIPROXY_PROTO_ANTHROPIC] = "{\"model\":\"\\u0002token0\",\"max_tokens\":5,"
                                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        [AIPROXY_PROTO_OPENAI] =
            "{\"model\":\"a\\u007fb\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        [AIPROXY_PROTO_RESPONSES] = "{\"model\":\"a\\nb\",\"input\":\"hi\"}",
        [AIPROXY_PROTO_GEMINI] = "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}",
    };
    aiproxy_route_info gemini_route = {.model = "\x02token0",
                                       .stream = AIPROXY_STREAM_NONE,
                                       .variant = NULL,
                                       .operation = AIPROXY_OP_GENERATE};

    for (int p = 0; p < AIPROXY_PROTO_COUNT; p++) {
        aiproxy_error err = {0};
        const char *body = bodies[p];
        if (p == AIPROXY_PROTO_GEMINI)
            assert_null(aiproxy_request_parse(f->p, (aiproxy_proto) p, body, strlen(body),
                                              &gemini_route, &err));
        else
            assert_null(parse(f->p, (aiproxy_proto) p, body, &err));
        assert_int_equal(err.status, 400);
        assert_non_null(strstr(err.message, "control characters"));
    }
    /* a NUL inside the JSON string is one too, not the end of the name */
    {
        aiproxy_error err = {0};
        assert_null(parse(f->p, AIPROXY_PROTO_OPENAI,
                          "{\"model\":\"m\\u0000x\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"hi\"}]}",
                          &err));
        assert_int_equal(err.status, 400);
    }
    /* printable names, non-ASCII included, pass */
    {
        aiproxy_error err = {0};
        assert_non_null(parse(f->p, AIPROXY_PROTO_OPENAI,
                              "{\"model\":\"gpt-4o:latest/\xc3\xa9\",\"messages\":[{\"role\":"
                              "\"user\",\"content\":\"hi\"}]}",
                              &err));
    }
}

/* ---- Kiro's constraints (research/oauth.md §5) ------------------------------------------------
 */

/* The Kiro build of an OpenAI body: the body parsed back and the upstream request. */
static json_t *build_kiro(apr_pool_t *p, const char *body, const char *account, int stream,
                          aiproxy_upstream_request *out, aiproxy_error *err)
{
    aiproxy_request *req = parse(p, AIPROXY_PROTO_OPENAI, body, err);
    aiproxy_target target = {.proto = AIPROXY_PROTO_KIRO,
                             .model = "claude-sonnet-4.5",
                             .stream = stream,
                             .dialect = AIPROXY_DIALECT_NONE,
                             .account = account};

    assert_non_null(req);
    if (aiproxy_request_build(p, req, &target, out, err))
        return NULL;
    return test_jansson_parse(p, out->body, out->len);
}

static json_t *kiro_state(json_t *body)
{
    return json_object_get(body, "conversationState");
}

static json_t *kiro_current(json_t *body)
{
    return json_object_get(
        json_object_get(json_object_get(kiro_state(body), "currentMessage"), "userInputMessage"),
        "content");
}

/* The upstream request names the tools its body offered (the answer may call only these, and
 * Kiro may write such a call into its text): function tools the tool choice allows. */
static void test_kiro_offered_tool_names(void **state)
{
    fixture *f = *state;
    aiproxy_upstream_request out;
    aiproxy_error err = {0};
    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},"
                        "{\"type\":\"function\",\"function\":{\"name\":\"b\"}}]";
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    assert_non_null(build_kiro(f->p, apr_psprintf(f->p, "{\"model\":\"m\",%s,%s}", msgs, tools),
                               NULL, 1, &out, &err));
    assert_non_null(out.tool_names);
    assert_int_equal(out.tool_names->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(out.tool_names, 0, const char *), "a");
    assert_string_equal(APR_ARRAY_IDX(out.tool_names, 1, const char *), "b");
    assert_non_null(build_kiro(
        f->p, apr_psprintf(f->p, "{\"model\":\"m\",%s,%s,\"tool_choice\":\"none\"}", msgs, tools),
        NULL, 1, &out, &err));
    assert_null(out.tool_names);
    assert_non_null(build_kiro(
        f->p,
        apr_psprintf(f->p,
                     "{\"model\":\"m\",%s,%s,\"tool_choice\":{\"type\":\"allowed_tools\","
                     "\"allowed_tools\":{\"mode\":\"auto\",\"tools\":[{\"type\":\"function\","
                     "\"function\":{\"name\":\"b\"}}]}}}",
                     msgs, tools),
        NULL, 1, &out, &err));
    assert_non_null(out.tool_names);
    assert_int_equal(out.tool_names->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(out.tool_names, 0, const char *), "b");
    assert_non_null(
        build_kiro(f->p, apr_psprintf(f->p, "{\"model\":\"m\",%s}", msgs), NULL, 1, &out, &err));
    assert_null(out.tool_names);
}

/* Always the AWS event stream, whatever the client asked; the login's profile when it has one;
 * a token count has no Kiro endpoint. */
static void test_kiro_framing_and_profile(void **state)
{
    fixture *f = *state;
    aiproxy_upstream_request out;
    aiproxy_error err = {0};
    const char *plain = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    json_t *body;

    for (int stream = 0; stream < 2; stream++) {
        body =
            build_kiro(f->p, plain, stream ? NULL : "arn:aws:codewhisperer:us-east-1:1:profile/X",
                       stream, &out, &err);
        assert_non_null(body);
        assert_int_equal(out.proto, AIPROXY_PROTO_KIRO);
        assert_int_equal(out.upstream_stream, AIPROXY_STREAM_EVENTSTREAM);
        assert_string_equal(out.accept, "application/vnd.amazon.eventstream");
        assert_string_equal(out.path, "/generateAssistantResponse");
        assert_null(out.query);
        assert_string_equal(json_string_value(kiro_current(body)), "hi");
        if (stream)
            assert_null(json_object_get(body, "profileArn"));
        else
            assert_string_equal(json_string_value(json_object_get(body, "profileArn")),
                                "arn:aws:codewhisperer:us-east-1:1:profile/X");
    }
    {
        const char *count =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        aiproxy_route_info route = {.stream = AIPROXY_STREAM_NONE,
                                    .variant = "count_tokens",
                                    .operation = AIPROXY_OP_COUNT_TOKENS};
        aiproxy_request *req = aiproxy_request_parse(f->p, AIPROXY_PROTO_ANTHROPIC, count,
                                                     strlen(count), &route, &err);
        aiproxy_target target = {.proto = AIPROXY_PROTO_KIRO, .model = "m"};
        assert_non_null(req);
        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 400);
        assert_non_null(strstr(err.message, "no token count endpoint"));
    }
}

/* Non-empty content everywhere, no repeated tool-use id, names of at most 64 characters,
 * descriptions cut to 10240 bytes at a character boundary, only function tools, none at all
 * with tool_choice none. */
static void test_kiro_limits(void **state)
{
    fixture *f = *state;
    aiproxy_upstream_request out;
    aiproxy_error err = {0};
    char *desc = apr_palloc(f->p, 10300 * 2 + 1), *body;
    json_t *sent, *history, *spec;

    /* 10239 ASCII bytes, then two-byte characters: the cut lands before the one at 10239 */
    memset(desc, 'd', 10239);
    for (int i = 0; i < 1000; i++)
        memcpy(desc + 10239 + 2 * i, "\xc3\xa9", 2);
    desc[10239 + 2000] = '\0';
    body = apr_psprintf(
        f->p,
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"t\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"t\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"t\",\"description\":\"%s\"}}]}",
        desc);
    sent = build_kiro(f->p, body, NULL, 0, &out, &err);
    assert_non_null(sent);
    history = json_object_get(kiro_state(sent), "history");
    assert_int_equal(json_array_size(history), 4);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(history, 0), "userInputMessage"), "content")),
        "Continue");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(history, 1), "assistantResponseMessage"), "content")),
        "Calling tools.");
    /* the second call with the same id is dropped */
    assert_non_null(json_object_get(
        json_object_get(json_array_get(history, 1), "assistantResponseMessage"), "toolUses"));
    assert_null(json_object_get(
        json_object_get(json_array_get(history, 3), "assistantResponseMessage"), "toolUses"));
    assert_string_equal(json_string_value(kiro_current(sent)), "Tool results provided.");
    spec = json_object_get(
        json_array_get(
            json_object_get(
                json_object_get(json_object_get(json_object_get(kiro_state(sent), "currentMessage"),
                                                "userInputMessage"),
                                "userInputMessageContext"),
                "tools"),
            0),
        "toolSpecification");
    assert_int_equal(strlen(json_string_value(json_object_get(spec, "description"))), 10239);
    /* no parameters: an empty object schema */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(spec, "inputSchema"), "json"), "type")),
                        "object");

    /* 65 characters: refused, naming the tool */
    body = apr_psprintf(f->p,
                        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"%s\"}}]}",
                        apr_psprintf(f->p, "%065d", 7));
    assert_null(build_kiro(f->p, body, NULL, 0, &out, &err));
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.message, "at most 64 characters"));

    /* tool_choice none: no tools go */
    body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
           "\"tool_choice\":\"none\",\"tools\":[{\"type\":\"function\",\"function\":"
           "{\"name\":\"t\"}}]}";
    sent = build_kiro(f->p, body, NULL, 0, &out, &err);
    assert_non_null(sent);
    assert_null(json_object_get(
        json_object_get(json_object_get(kiro_state(sent), "currentMessage"), "userInputMessage"),
        "userInputMessageContext"));
}

/* A 4 MB text block crosses every protocol intact. */
static void test_huge_strings(void **state)
{
    fixture *f = *state;
    apr_size_t n = 4 * 1024 * 1024;
    char *text = apr_palloc(f->p, n + 1);
    memset(text, 'a', n);
    text[n] = '\0';
    const char *body = apr_pstrcat(f->p,
                                   "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                   "\"content\":\"",
                                   text, "\"}]}", NULL);
    aiproxy_error err = {0};
    aiproxy_request *req = parse(f->p, AIPROXY_PROTO_OPENAI, body, &err);

    assert_non_null(req);
    for (int t = 0; t < AIPROXY_PROTO_COUNT; t++) {
        aiproxy_target target = {.proto = (aiproxy_proto) t,
                                 .model = TARGET_MODEL,
                                 .stream = 0,
                                 .default_max_tokens = 0,
                                 .dialect = AIPROXY_DIALECT_NONE};
        aiproxy_upstream_request out;
        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 0);
        assert_true(out.len > n);
    }
}

/* Anthropic needs max_tokens above the thinking budget; a small client limit shrinks the
 * budget, a limit below the minimum budget turns thinking off. */
static void test_anthropic_max_tokens_and_budget(void **state)
{
    fixture *f = *state;
    aiproxy_error err = {0};
    aiproxy_request *req;
    json_t *body;

    req = parse(f->p, AIPROXY_PROTO_OPENAI,
                "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"messages\":[{\"role\":"
                "\"user\",\"content\":\"x\"}]}",
                &err);
    body = build(f->p, req, AIPROXY_PROTO_ANTHROPIC, 0, &err);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(body, "thinking"), "budget_tokens")),
        24576);
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 24576 + 4096);

    req = parse(f->p, AIPROXY_PROTO_OPENAI,
                "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"max_completion_tokens\":500,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                &err);
    body = build(f->p, req, AIPROXY_PROTO_ANTHROPIC, 0, &err);
    assert_null(json_object_get(body, "thinking"));
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 500);

    req =
        parse(f->p, AIPROXY_PROTO_GEMINI, "{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}]}", &err);
    {
        aiproxy_target target = {.proto = AIPROXY_PROTO_ANTHROPIC,
                                 .model = TARGET_MODEL,
                                 .stream = 0,
                                 .default_max_tokens = 12345,
                                 .dialect = AIPROXY_DIALECT_NONE};
        aiproxy_upstream_request out;
        assert_int_equal(aiproxy_request_build(f->p, req, &target, &out, &err), 0);
        assert_non_null(strstr(out.body, "\"max_tokens\":12345"));
    }
}

static tr_jv *parse_text(apr_pool_t *p, const char *text)
{
    aiproxy_error err;
    return tr_jv_parse(p, text, strlen(text), &err);
}

static void test_gemini_schema_cleaning(void **state)
{
    fixture *f = *state;
    aiproxy_error err = {0};
    const char *in =
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
        "\"additionalProperties\":false,\"$defs\":{\"Pt\":{\"type\":\"object\",\"properties\":"
        "{\"x\":{\"type\":\"number\"}},\"required\":[\"x\"]}},"
        "\"properties\":{"
        "\"mode\":{\"const\":\"fast\"},"
        "\"name\":{\"type\":[\"string\",\"null\"],\"format\":\"uri\",\"minLength\":1},"
        "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"level\":{\"type\":\"integer\",\"enum\":[1,2]},"
        "\"pt\":{\"$ref\":\"#/$defs/Pt\",\"description\":\"a point\"},"
        "\"self\":{\"$ref\":\"#\"},"
        "\"either\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
        "\"many\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"a\",null]},"
        "\"uniqueItems\":true}},"
        "\"required\":[\"mode\",\"ghost\"]}";
    const char *want =
        "{\"type\":\"object\",\"properties\":{"
        "\"mode\":{\"enum\":[\"fast\"]},"
        "\"name\":{\"type\":\"string\",\"nullable\":true,\"minLength\":1},"
        "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"level\":{\"type\":\"integer\"},"
        "\"pt\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\"}},"
        "\"required\":[\"x\"],\"description\":\"a point\"},"
        "\"self\":{\"type\":\"object\"},"
        "\"either\":{\"type\":\"string\",\"nullable\":true},"
        "\"many\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"nullable\":true,"
        "\"enum\":[\"a\"]}}},"
        "\"required\":[\"mode\"]}";
    tr_jv *schema = tr_jv_parse(f->p, in, strlen(in), &err);
    tr_jv *expected = tr_jv_parse(f->p, want, strlen(want), &err);
    tr_jv *cleaned = tr_gemini_schema_from_json_schema(f->p, schema);

    if (!tr_jv_equal(cleaned, expected))
        fail_msg("cleaned schema: %s", tr_jv_dump(f->p, cleaned, NULL));
    /* an object without properties is no Gemini parameters at all */
    schema = parse_text(f->p, "{\"type\":\"object\",\"properties\":{}}");
    assert_null(tr_gemini_schema_from_json_schema(f->p, schema));
    /* Gemini -> JSON Schema */
    schema = parse_text(f->p, "{\"type\":\"OBJECT\",\"properties\":{\"a\":{\"type\":"
                              "\"STRING\",\"nullable\":true}},\"propertyOrdering\":[\"a\"]}");
    assert_non_null(schema);
    expected = parse_text(f->p, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
                                "[\"string\",\"null\"]}}}");
    cleaned = tr_gemini_schema_to_json_schema(f->p, schema);
    assert_true(tr_jv_equal(cleaned, expected));
}

/* Cyclic and fan-out $ref graphs stay bounded. */
static void test_gemini_schema_ref_bomb(void **state)
{
    fixture *f = *state;
    aiproxy_error err = {0};
    const char *in = "{\"type\":\"object\",\"$defs\":{"
                     "\"a\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/b\"},"
                     "\"y\":{\"$ref\":\"#/$defs/b\"},\"z\":{\"$ref\":\"#/$defs/b\"}}},"
                     "\"b\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"},"
                     "\"y\":{\"$ref\":\"#/$defs/a\"},\"z\":{\"$ref\":\"#/$defs/a\"}}}},"
                     "\"properties\":{\"root\":{\"$ref\":\"#/$defs/a\"}}}";
    tr_jv *schema = tr_jv_parse(f->p, in, strlen(in), &err);
    tr_jv *cleaned = tr_gemini_schema_from_json_schema(f->p, schema);
    assert_non_null(cleaned);
    assert_true(strlen(tr_jv_dump(f->p, cleaned, NULL)) < 200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_from_anthropic),
        cmocka_unit_test(test_vectors_from_openai),
        cmocka_unit_test(test_vectors_from_responses),
        cmocka_unit_test(test_vectors_from_gemini),
        cmocka_unit_test_setup_teardown(test_control_characters_in_model_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_protocol_passthrough_and_stream_flip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cross_protocol_drops_unknown_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_function_call_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inexpressible_requests_are_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting_and_bad_utf8_rejected_by_parse, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_huge_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kiro_framing_and_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kiro_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kiro_offered_tool_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anthropic_max_tokens_and_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gemini_schema_cleaning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gemini_schema_ref_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_tokens_build, setup, teardown),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(root_pool);
    apr_terminate();
    return rc;
}
