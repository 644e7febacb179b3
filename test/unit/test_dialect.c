/*
 * test_dialect.c: the subscription dialects (codex, claudecode, geminicli, antigravity) for
 * every client protocol,
 * through the public request path (aiproxy_request_build), JSON and stream requests.
 *
 * Golden vectors: test/unit/vectors/dialects/<source>/<case>.json is a client body; next to
 * it <case>.<dialect>.json is what that backend receives: {"path", "query", "accept",
 * "upstream_stream", "body"}, or {"$error": <status>, "$contains": "<text in the message>"}.
 * The target streams when the client does (as the handler asks); a Gemini case streams when
 * its name contains "stream". AIPROXY_UPDATE_VECTORS=1 rewrites the expected files (read
 * every rewritten file against the backend's documented shape).
 *
 * Sweep: every request vector of test_translate_request.c (test/unit/vectors/requests),
 * streaming and not, built for each dialect meets that dialect's invariants.
 *
 * The answer side (a forced stream accumulated for a non-streaming client) is in
 * test_recorded.c (test_codex_streams).
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
#include "test_files.h"
#include "test_jansson.h"

#define DIALECT_VECTORS "test/unit/vectors/dialects"
#define REQUEST_VECTORS "test/unit/vectors/requests"
#define TARGET_MODEL    "upstream-model"
#define CLAUDE_CODE_ID  "You are Claude Code, Anthropic's official CLI for Claude."
#define TARGET_PROJECT  "test-project-1"

static apr_pool_t *root_pool;

/* Each dialect, the protocol it is a variant of, and its name in vector file names. */
static const struct {
    aiproxy_dialect dialect;
    aiproxy_proto proto;
    const char *name;
} dialects[] = {
    {AIPROXY_DIALECT_CODEX, AIPROXY_PROTO_RESPONSES, "codex"},
    {AIPROXY_DIALECT_CLAUDE_CODE, AIPROXY_PROTO_ANTHROPIC, "claudecode"},
    {AIPROXY_DIALECT_GEMINI_CLI, AIPROXY_PROTO_GEMINI, "geminicli"},
    {AIPROXY_DIALECT_ANTIGRAVITY, AIPROXY_PROTO_GEMINI, "antigravity"},
};
#define NDIALECTS (sizeof(dialects) / sizeof(dialects[0]))

static aiproxy_request *parse_case(apr_pool_t *p, aiproxy_proto source, const char *body,
                                   apr_size_t len, const char *case_name, int force_stream,
                                   aiproxy_error *err)
{
    aiproxy_route_info route = {.model = NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = NULL,
                                .operation = AIPROXY_OP_GENERATE};
    if (source == AIPROXY_PROTO_GEMINI) {
        route.model = "client-model";
        route.stream =
            force_stream || strstr(case_name, "stream") ? AIPROXY_STREAM_SSE : AIPROXY_STREAM_NONE;
    }
    return aiproxy_request_parse(p, source, body, len, &route, err);
}

/* The attempt the handler would make for dialect d: stream as the client does. */
static int build_for(apr_pool_t *p, const aiproxy_request *req, size_t d, int stream,
                     aiproxy_upstream_request *out, aiproxy_error *err)
{
    aiproxy_target target = {.proto = dialects[d].proto,
                             .model = TARGET_MODEL,
                             .stream = stream,
                             .default_max_tokens = 0,
                             .dialect = dialects[d].dialect,
                             .project = TARGET_PROJECT};
    return aiproxy_request_build(p, req, &target, out, err);
}

static int client_streams(const aiproxy_request *req)
{
    return aiproxy_request_stream(req) != AIPROXY_STREAM_NONE;
}

/* ---- golden vectors ---------------------------------------------------------------------------
 */

/* The attempt as a vector: endpoint, framing and body; or the error. */
static json_t *attempt_as_json(apr_pool_t *p, int rc, const aiproxy_upstream_request *out,
                               const aiproxy_error *err)
{
    if (rc)
        return json_pack("{s:i, s:s}", "$error", err->status, "$contains", err->message);
    return json_pack("{s:s, s:s?, s:s, s:s, s:O}", "path", out->path, "query", out->query, "accept",
                     out->accept, "upstream_stream",
                     out->upstream_stream == AIPROXY_STREAM_SSE ? "sse" : "none", "body",
                     test_jansson_parse(p, out->body, out->len));
}

static int vector_matches(const json_t *expected, const json_t *actual)
{
    json_t *status = json_object_get(expected, "$error");
    if (status) {
        const char *contains = json_string_value(json_object_get(expected, "$contains"));
        const char *message = json_string_value(json_object_get(actual, "$contains"));
        return json_equal(status, json_object_get(actual, "$error")) &&
               (!contains || (message && strstr(message, contains)));
    }
    return json_equal((json_t *) expected, (json_t *) actual);
}

static void write_vector(const char *path, const json_t *actual)
{
    FILE *f;
    json_dump_file(actual, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    if ((f = fopen(path, "a"))) {
        fputc('\n', f);
        fclose(f);
    }
}

static int run_vector(apr_pool_t *p, const char *dir, const char *case_name, void *baton)
{
    aiproxy_proto source = *(const aiproxy_proto *) baton;
    const char *path = apr_psprintf(p, "%s/%s.json", dir, case_name);
    aiproxy_error err = {0};
    apr_size_t len;
    const char *body = test_read_file(p, path, &len);
    aiproxy_request *req = body ? parse_case(p, source, body, len, case_name, 0, &err) : NULL;
    int failures = 0;

    if (!req) {
        print_error("%s: does not parse: %s\n", path, err.message ? err.message : "unreadable");
        return 1;
    }
    for (size_t d = 0; d < NDIALECTS; d++) {
        const char *expected_path =
            apr_psprintf(p, "%s/%s.%s.json", dir, case_name, dialects[d].name);
        aiproxy_upstream_request out;
        aiproxy_error berr = {0};
        int rc = build_for(p, req, d, client_streams(req), &out, &berr);
        json_t *actual = attempt_as_json(p, rc, &out, &berr);
        apr_size_t elen;
        const char *etext = test_read_file(p, expected_path, &elen);
        json_t *expected = etext ? test_jansson_parse(p, etext, elen) : NULL;

        if (getenv("AIPROXY_UPDATE_VECTORS"))
            write_vector(expected_path, actual);
        else if (!expected) {
            print_error("%s: missing or invalid\n", expected_path);
            failures++;
        } else if (!vector_matches(expected, actual)) {
            char *got = json_dumps(actual, JSON_INDENT(2) | JSON_SORT_KEYS);
            print_error("%s: mismatch, got:\n%s\n", expected_path, got);
            free(got);
            failures++;
        }
        json_decref(actual);
    }
    return failures;
}

/* The cases of one source protocol under base. */
static int for_each_case(const char *base, aiproxy_proto source, test_case_fn run, int *cases)
{
    const char *dir = apr_psprintf(root_pool, "%s/%s", base, aiproxy_proto_name(source));
    return test_for_each_case(root_pool, dir, run, &source, cases);
}

/* Every client protocol has a JSON and a stream case for both dialects. */
static void test_dialect_vectors(void **state)
{
    for (int source = 0; source < AIPROXY_PROTO_COUNT; source++) {
        int cases = 0;
        assert_int_equal(for_each_case(DIALECT_VECTORS, (aiproxy_proto) source, run_vector, &cases),
                         0);
        assert_true(cases >= 2);
    }
}

/* ---- invariants over every request vector ------------------------------------------------- */

static int fails(const char *where, const char *rule)
{
    print_error("%s: %s\n", where, rule);
    return 1;
}

/* Fields the Codex backend refuses (pipeline/tr_dialect.c names the sources). */
static const char *const codex_refused[] = {
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "user",
    "truncation",
    "context_management",
    "stream_options",
    "safety_identifier",
    "prompt_cache_retention",
    "generate",
};

static int check_codex(const char *where, const aiproxy_upstream_request *out, json_t *body)
{
    json_t *input = json_object_get(body, "input");
    int failures = 0;
    size_t i;
    json_t *item;

    if (strcmp(out->path, "/responses") || out->query)
        failures += fails(where, "the endpoint is <base>/responses");
    if (out->upstream_stream != AIPROXY_STREAM_SSE || strcmp(out->accept, "text/event-stream"))
        failures += fails(where, "the upstream always streams");
    if (!json_is_true(json_object_get(body, "stream")))
        failures += fails(where, "stream: true");
    if (!json_is_false(json_object_get(body, "store")))
        failures += fails(where, "store: false");
    if (!json_is_string(json_object_get(body, "instructions")))
        failures += fails(where, "instructions present");
    if (!json_is_array(input))
        failures += fails(where, "input is a list of items");
    for (i = 0; i < sizeof(codex_refused) / sizeof(codex_refused[0]); i++)
        if (json_object_get(body, codex_refused[i]))
            failures += fails(where, apr_psprintf(root_pool, "no '%s'", codex_refused[i]));
    json_array_foreach(input, i, item)
    {
        const char *role = json_string_value(json_object_get(item, "role"));
        if (role && !strcmp(role, "system"))
            failures += fails(where, "no system role in input");
    }
    return failures;
}

static int check_claude_code(const char *where, const aiproxy_upstream_request *out, json_t *body,
                             int streams)
{
    json_t *system = json_object_get(body, "system");
    int failures = 0, found = 0;
    size_t i;
    json_t *block;

    if (strcmp(out->path, "/v1/messages") || !out->query || strcmp(out->query, "beta=true"))
        failures += fails(where, "the endpoint is <base>/v1/messages?beta=true");
    if ((out->upstream_stream == AIPROXY_STREAM_SSE) != streams)
        failures += fails(where, "the upstream streams exactly when the client does");
    if (!json_is_array(system) || json_array_size(system) == 0)
        failures += fails(where, "system is a list of blocks");
    json_array_foreach(system, i, block)
    {
        const char *text = json_string_value(json_object_get(block, "text"));
        found |= text && !strncmp(text, CLAUDE_CODE_ID, strlen(CLAUDE_CODE_ID));
        if (text && !*text)
            failures += fails(where, "no empty system block");
    }
    if (!found)
        failures += fails(where, "the Claude Code system block is there");
    return failures;
}

static int starts(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

/* The v1internal envelope (research/oauth.md §3, §4) around a Gemini request. */
static int check_code_assist(const char *where, const aiproxy_upstream_request *out, json_t *body,
                             int streams, aiproxy_dialect dialect)
{
    json_t *request = json_object_get(body, "request");
    int failures = 0;

    if (streams ? strcmp(out->path, "/v1internal:streamGenerateContent") || !out->query ||
                      strcmp(out->query, "alt=sse")
                : strcmp(out->path, "/v1internal:generateContent") || out->query != NULL)
        failures += fails(where, "the endpoint is <base>/v1internal:(stream)generateContent");
    if ((out->upstream_stream == AIPROXY_STREAM_SSE) != streams)
        failures += fails(where, "the upstream streams exactly when the client does");
    if (!json_is_string(json_object_get(body, "model")) ||
        strcmp(json_string_value(json_object_get(body, "model")), TARGET_MODEL))
        failures += fails(where, "model names the upstream model");
    if (!json_is_string(json_object_get(body, "project")) ||
        strcmp(json_string_value(json_object_get(body, "project")), TARGET_PROJECT))
        failures += fails(where, "project is the credential's");
    if (!json_is_array(json_object_get(request, "contents")))
        failures += fails(where, "request holds the Gemini body");
    if (dialect == AIPROXY_DIALECT_GEMINI_CLI) {
        if (!json_is_string(json_object_get(body, "user_prompt_id")) ||
            !json_is_string(json_object_get(request, "session_id")))
            failures += fails(where, "user_prompt_id and request.session_id");
        return failures;
    }
    if (!json_equal(json_object_get(body, "userAgent"), json_string("antigravity")) ||
        !json_equal(json_object_get(body, "requestType"), json_string("agent")))
        failures += fails(where, "userAgent antigravity, requestType agent");
    if (!starts(json_string_value(json_object_get(body, "requestId")), "agent-") ||
        !starts(json_string_value(json_object_get(request, "sessionId")), "-"))
        failures += fails(where, "requestId agent-..., request.sessionId -...");
    if (json_object_get(request, "safetySettings") ||
        json_object_get(json_object_get(request, "generationConfig"), "maxOutputTokens"))
        failures += fails(where, "no safetySettings, no maxOutputTokens (not a claude model)");
    return failures;
}

/* One request vector built for every dialect, streaming and not. A refusal must be one the
 * dialect-less target of the same protocol gives too, or the dialect's own (codex: stored
 * conversation state). */
static int sweep_case(apr_pool_t *p, const char *dir, const char *name, void *baton)
{
    aiproxy_proto source = *(const aiproxy_proto *) baton;
    const char *path = apr_psprintf(p, "%s/%s.json", dir, name);
    int failures = 0;
    apr_size_t len = 0;
    const char *text = test_read_file(p, path, &len);

    if (!text)
        return fails(path, "unreadable");
    for (int stream = 0; stream < 2; stream++) {
        aiproxy_error err = {0};
        aiproxy_request *req = parse_case(p, source, text, len, name, stream, &err);
        if (!req)
            return fails(path, "does not parse");
        for (size_t d = 0; d < NDIALECTS; d++) {
            const char *where =
                apr_psprintf(p, "%s -> %s%s", path, dialects[d].name, stream ? " (stream)" : "");
            int streams = client_streams(req);
            aiproxy_upstream_request out, plain;
            aiproxy_target none = {.proto = dialects[d].proto,
                                   .model = TARGET_MODEL,
                                   .stream = streams,
                                   .default_max_tokens = 0,
                                   .dialect = AIPROXY_DIALECT_NONE};
            aiproxy_error berr = {0}, perr = {0};
            int rc = build_for(p, req, d, streams, &out, &berr);
            int prc = aiproxy_request_build(p, req, &none, &plain, &perr);
            json_t *body;

            if (rc) {
                if (rc != prc && !strstr(berr.message, "stores none"))
                    failures += fails(where, apr_psprintf(p, "refused: %s", berr.message));
                continue;
            }
            if (!(body = test_jansson_parse(p, out.body, out.len)))
                failures += fails(where, "the body is JSON");
            else if (dialects[d].dialect == AIPROXY_DIALECT_CODEX)
                failures += check_codex(where, &out, body);
            else if (dialects[d].dialect == AIPROXY_DIALECT_CLAUDE_CODE)
                failures += check_claude_code(where, &out, body, streams);
            else
                failures += check_code_assist(where, &out, body, streams, dialects[d].dialect);
        }
    }
    return failures;
}

static void test_every_request_vector_meets_the_dialects(void **state)
{
    for (int source = 0; source < AIPROXY_PROTO_COUNT; source++) {
        int cases = 0;
        assert_int_equal(for_each_case(REQUEST_VECTORS, (aiproxy_proto) source, sweep_case, &cases),
                         0);
        assert_true(cases >= 5);
    }
}

/* ---- the request path around the rules ---------------------------------------------------- */

static aiproxy_request *parse(apr_pool_t *p, aiproxy_proto proto, const char *body)
{
    aiproxy_error err = {0};
    aiproxy_request *req = parse_case(p, proto, body, strlen(body), "", 0, &err);
    assert_non_null(req);
    return req;
}

/* Shaping a passthrough never changes the client's parsed body: the next attempt, to an
 * upstream without a dialect, still sends the client's own bytes. */
static void test_shaping_leaves_the_client_body_alone(void **state)
{
    apr_pool_t *p = root_pool;
    static const char responses[] = "{\"model\":\"upstream-model\",\"input\":[{\"role\":\"system\","
                                    "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                                    "\"hi\"}],\"temperature\":1}";
    static const char anthropic[] = "{\"model\":\"upstream-model\",\"max_tokens\":5,\"system\":"
                                    "[{\"type\":\"text\",\"text\":\"Be brief.\"}],\"messages\":"
                                    "[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char gemini[] = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
                                 "\"hi\"}]}],\"safetySettings\":[]}";
    const char *bodies[NDIALECTS] = {responses, anthropic, gemini, gemini};
    static const char *const plain_paths[AIPROXY_PROTO_COUNT] = {
        [AIPROXY_PROTO_RESPONSES] = "/v1/responses",
        [AIPROXY_PROTO_ANTHROPIC] = "/v1/messages",
        [AIPROXY_PROTO_GEMINI] = "/v1beta/models/upstream-model:generateContent",
    };

    for (size_t d = 0; d < NDIALECTS; d++) {
        aiproxy_request *req = parse(p, dialects[d].proto, bodies[d]);
        aiproxy_target none = {.proto = dialects[d].proto,
                               .model = TARGET_MODEL,
                               .stream = 0,
                               .default_max_tokens = 0,
                               .dialect = AIPROXY_DIALECT_NONE};
        aiproxy_upstream_request shaped, plain;
        aiproxy_error err = {0};

        assert_int_equal(build_for(p, req, d, 0, &shaped, &err), 0);
        assert_true(shaped.len != strlen(bodies[d]) || memcmp(shaped.body, bodies[d], shaped.len));
        assert_int_equal(aiproxy_request_build(p, req, &none, &plain, &err), 0);
        assert_int_equal(plain.len, strlen(bodies[d]));
        assert_memory_equal(plain.body, bodies[d], plain.len);
        assert_string_equal(plain.path, plain_paths[dialects[d].proto]);
        assert_null(plain.query);
    }
}

/* A dialect is a variant of one protocol: given with another, the attempt is not made. */
static void test_dialect_of_another_protocol_is_a_gateway_error(void **state)
{
    apr_pool_t *p = root_pool;
    aiproxy_request *req = parse(p, AIPROXY_PROTO_OPENAI,
                                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"hi\"}]}");
    aiproxy_target target = {.proto = AIPROXY_PROTO_OPENAI,
                             .model = TARGET_MODEL,
                             .stream = 0,
                             .default_max_tokens = 0,
                             .dialect = AIPROXY_DIALECT_CODEX};
    aiproxy_upstream_request out;
    aiproxy_error err = {0};

    assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 500);
    assert_non_null(strstr(err.message, "codex"));
}

/* /v1/responses/compact has no counterpart the gateway knows at the Codex backend. */
static void test_codex_refuses_endpoint_variants(void **state)
{
    apr_pool_t *p = root_pool;
    static const char body[] = "{\"model\":\"m\",\"input\":\"hi\"}";
    aiproxy_route_info route = {.model = NULL,
                                .stream = AIPROXY_STREAM_NONE,
                                .variant = "compact",
                                .operation = AIPROXY_OP_GENERATE};
    aiproxy_error err = {0};
    aiproxy_request *req =
        aiproxy_request_parse(p, AIPROXY_PROTO_RESPONSES, body, strlen(body), &route, &err);
    aiproxy_upstream_request out;

    assert_non_null(req);
    assert_int_equal(build_for(p, req, 0, 0, &out, &err), 400);
    assert_non_null(strstr(err.message, "'compact'"));
}

/* Dialect NONE (and an unknown value) changes nothing: the public API as before. */
static void test_no_dialect_changes_nothing(void **state)
{
    apr_pool_t *p = root_pool;
    static const char body[] = "{\"model\":\"upstream-model\",\"input\":\"hi\",\"temperature\":1}";
    aiproxy_request *req = parse(p, AIPROXY_PROTO_RESPONSES, body);
    static const aiproxy_dialect plain[] = {AIPROXY_DIALECT_NONE, AIPROXY_DIALECT_COUNT};

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        aiproxy_target target = {.proto = AIPROXY_PROTO_RESPONSES,
                                 .model = TARGET_MODEL,
                                 .stream = 0,
                                 .default_max_tokens = 0,
                                 .dialect = plain[i]};
        aiproxy_upstream_request out;
        aiproxy_error err = {0};

        assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 0);
        assert_int_equal(out.len, strlen(body));
        assert_memory_equal(out.body, body, out.len);
        assert_int_equal(out.upstream_stream, AIPROXY_STREAM_NONE);
    }
}

/* Code Assist: the attempt's project and request id reach the envelope; without a request id
 * the conversation names itself, the same in every attempt. */
static void test_code_assist_envelope_takes_the_target(void **state)
{
    apr_pool_t *p = root_pool;
    aiproxy_request *req = parse(p, AIPROXY_PROTO_OPENAI,
                                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"hello there\"}],\"max_tokens\":7}");
    aiproxy_target target = {.proto = AIPROXY_PROTO_GEMINI,
                             .model = "gemini-2.5-pro",
                             .dialect = AIPROXY_DIALECT_GEMINI_CLI,
                             .project = "proj-9",
                             .request_id = "rid-1"};
    aiproxy_upstream_request out, again;
    aiproxy_error err = {0};
    json_t *body, *body2;

    assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 0);
    body = test_jansson_parse(p, out.body, out.len);
    assert_string_equal(json_string_value(json_object_get(body, "project")), "proj-9");
    assert_string_equal(json_string_value(json_object_get(body, "user_prompt_id")), "rid-1");
    assert_string_equal(json_string_value(json_object_get(body, "model")), "gemini-2.5-pro");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(body, "request"), "generationConfig"),
                         "maxOutputTokens")),
                     7);

    target.project = NULL;
    target.request_id = NULL;
    assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 0);
    assert_int_equal(aiproxy_request_build(p, req, &target, &again, &err), 0);
    body = test_jansson_parse(p, out.body, out.len);
    body2 = test_jansson_parse(p, again.body, again.len);
    assert_null(json_object_get(body, "project"));
    assert_true(json_equal(json_object_get(body, "user_prompt_id"),
                           json_object_get(body2, "user_prompt_id")));
}

/* Antigravity's per-model rules: claude-* models validate tool calls and keep their output
 * limit, image models are image_gen requests, every other model loses maxOutputTokens. */
static void test_antigravity_model_rules(void **state)
{
    apr_pool_t *p = root_pool;
    aiproxy_request *req = parse(p, AIPROXY_PROTO_ANTHROPIC,
                                 "{\"model\":\"m\",\"max_tokens\":9,\"messages\":[{\"role\":"
                                 "\"user\",\"content\":\"hi\"}]}");
    static const struct {
        const char *model, *type, *mode;
        int keeps_limit;
    } cases[] = {
        {"claude-sonnet-4-5", "agent", "VALIDATED", 1},
        {"gemini-3-pro-image", "image_gen", NULL, 0},
        {"gemini-3-pro", "agent", NULL, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aiproxy_target target = {.proto = AIPROXY_PROTO_GEMINI,
                                 .model = cases[i].model,
                                 .dialect = AIPROXY_DIALECT_ANTIGRAVITY,
                                 .project = "p"};
        aiproxy_upstream_request out;
        aiproxy_error err = {0};
        json_t *body, *request;

        assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 0);
        body = test_jansson_parse(p, out.body, out.len);
        request = json_object_get(body, "request");
        assert_string_equal(json_string_value(json_object_get(body, "requestType")), cases[i].type);
        assert_int_equal(json_object_get(json_object_get(request, "generationConfig"),
                                         "maxOutputTokens") != NULL,
                         cases[i].keeps_limit);
        if (cases[i].mode)
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(request, "toolConfig"),
                                                    "functionCallingConfig"),
                                    "mode")),
                                cases[i].mode);
    }
}

/* A token count has no v1internal counterpart the gateway speaks: refused, so another upstream
 * of the model can count. */
static void test_code_assist_refuses_token_counts(void **state)
{
    apr_pool_t *p = root_pool;
    static const char body[] = "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":"
                               "\"user\",\"content\":\"hi\"}]}";
    aiproxy_route_info route = {.operation = AIPROXY_OP_COUNT_TOKENS};
    aiproxy_error err = {0};
    aiproxy_request *req =
        aiproxy_request_parse(p, AIPROXY_PROTO_ANTHROPIC, body, strlen(body), &route, &err);
    aiproxy_target target = {
        .proto = AIPROXY_PROTO_GEMINI, .model = "g", .dialect = AIPROXY_DIALECT_GEMINI_CLI};
    aiproxy_upstream_request out;

    assert_non_null(req);
    assert_int_equal(aiproxy_request_build(p, req, &target, &out, &err), 400);
    assert_non_null(strstr(err.message, "geminicli"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialect_vectors),
        cmocka_unit_test(test_every_request_vector_meets_the_dialects),
        cmocka_unit_test(test_shaping_leaves_the_client_body_alone),
        cmocka_unit_test(test_dialect_of_another_protocol_is_a_gateway_error),
        cmocka_unit_test(test_codex_refuses_endpoint_variants),
        cmocka_unit_test(test_no_dialect_changes_nothing),
        cmocka_unit_test(test_code_assist_envelope_takes_the_target),
        cmocka_unit_test(test_antigravity_model_rules),
        cmocka_unit_test(test_code_assist_refuses_token_counts),
    };
    int rc;

    apr_initialize();
    apr_pool_create(&root_pool, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(root_pool);
    apr_terminate();
    return rc;
}
