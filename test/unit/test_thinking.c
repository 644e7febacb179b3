/*
 * Unit tests of thinking turned on by the model name (aiproxy_target.thinking, the
 * "-thinking" suffix): every client protocol to every target protocol gets the target's
 * default settings, and a request that says anything about thinking keeps its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "pipeline/tr_thinking.h"
#include "test_jansson.h"

static apr_pool_t *pool;

/* One plain request per client protocol (Gemini's model comes from the path). Anthropic's
 * max_tokens leaves room for the default budget: a limit too small for thinking turns it off
 * (codec/anthropic_request.c). */
static const char *const plain_bodies[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = "{\"model\":\"m\",\"max_tokens\":20000,\"messages\":[{\"role\":"
                                "\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_OPENAI] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_RESPONSES] = "{\"model\":\"m\",\"input\":\"hi\"}",
    [AIPROXY_PROTO_GEMINI] = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
};

/* The same requests, each asking for low effort in its own protocol's words. */
static const char *const explicit_bodies[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = "{\"model\":\"m\",\"max_tokens\":4000,\"thinking\":{\"type\":"
                                "\"enabled\",\"budget_tokens\":1024},\"messages\":[{\"role\":"
                                "\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_OPENAI] = "{\"model\":\"m\",\"reasoning_effort\":\"low\",\"messages\":[{"
                             "\"role\":\"user\",\"content\":\"hi\"}]}",
    [AIPROXY_PROTO_RESPONSES] = "{\"model\":\"m\",\"reasoning\":{\"effort\":\"low\"},\"input\":"
                                "\"hi\"}",
    [AIPROXY_PROTO_GEMINI] = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                             "\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":1024}}}",
};

/* The upstream body built from body (client protocol client) for target. */
static json_t *build(aiproxy_proto client, const char *body, aiproxy_proto target, int thinking)
{
    aiproxy_route_info route = {.model = client == AIPROXY_PROTO_GEMINI ? "m" : NULL};
    aiproxy_target t = {.proto = target, .model = "up", .thinking = thinking};
    aiproxy_upstream_request out;
    aiproxy_error err = {0, NULL, NULL, NULL};
    aiproxy_request *req = aiproxy_request_parse(pool, client, body, strlen(body), &route, &err);

    assert_non_null(req);
    assert_int_equal(aiproxy_request_build(pool, req, &t, &out, &err), 0);
    return test_jansson_parse(pool, out.body, out.len);
}

/* Is thinking on in body, the way target's API asks for it at the default? */
static void assert_default_thinking(aiproxy_proto target, json_t *body)
{
    json_t *thinking, *reasoning, *config;

    switch (target) {
    case AIPROXY_PROTO_ANTHROPIC:
        thinking = json_object_get(body, "thinking");
        assert_string_equal(json_string_value(json_object_get(thinking, "type")), "enabled");
        assert_true(json_integer_value(json_object_get(thinking, "budget_tokens")) >= 1024);
        assert_true(json_integer_value(json_object_get(thinking, "budget_tokens")) <=
                    TR_THINKING_DEFAULT_BUDGET);
        break;
    case AIPROXY_PROTO_OPENAI:
        assert_string_equal(json_string_value(json_object_get(body, "reasoning_effort")),
                            TR_THINKING_DEFAULT_EFFORT);
        break;
    case AIPROXY_PROTO_RESPONSES:
        reasoning = json_object_get(body, "reasoning");
        assert_string_equal(json_string_value(json_object_get(reasoning, "effort")),
                            TR_THINKING_DEFAULT_EFFORT);
        assert_string_equal(json_string_value(json_object_get(reasoning, "summary")), "auto");
        break;
    default:
        config = json_object_get(json_object_get(body, "generationConfig"), "thinkingConfig");
        assert_int_equal(json_integer_value(json_object_get(config, "thinkingBudget")),
                         TR_THINKING_DEFAULT_BUDGET);
        assert_true(json_is_true(json_object_get(config, "includeThoughts")));
        break;
    }
}

static void test_suffix_turns_thinking_on_for_every_pair(void **state)
{
    for (int c = 0; c < AIPROXY_PROTO_COUNT; c++) {
        for (int t = 0; t < AIPROXY_PROTO_COUNT; t++) {
            json_t *body = build((aiproxy_proto) c, plain_bodies[c], (aiproxy_proto) t, 1);
            assert_default_thinking((aiproxy_proto) t, body);
        }
    }
}

/* Without the flag nothing about thinking is added. */
static void test_no_suffix_adds_nothing(void **state)
{
    for (int c = 0; c < AIPROXY_PROTO_COUNT; c++) {
        for (int t = 0; t < AIPROXY_PROTO_COUNT; t++) {
            json_t *body = build((aiproxy_proto) c, plain_bodies[c], (aiproxy_proto) t, 0);
            json_t *gc = json_object_get(body, "generationConfig");
            assert_null(json_object_get(body, "thinking"));
            assert_null(json_object_get(body, "reasoning_effort"));
            assert_null(json_object_get(body, "reasoning"));
            assert_null(json_object_get(gc, "thinkingConfig"));
        }
    }
}

/* The client's own setting stands: the same protocol keeps its bytes' meaning. */
static void test_explicit_setting_wins(void **state)
{
    json_t *body;

    body =
        build(AIPROXY_PROTO_OPENAI, explicit_bodies[AIPROXY_PROTO_OPENAI], AIPROXY_PROTO_OPENAI, 1);
    assert_string_equal(json_string_value(json_object_get(body, "reasoning_effort")), "low");
    body = build(AIPROXY_PROTO_RESPONSES, explicit_bodies[AIPROXY_PROTO_RESPONSES],
                 AIPROXY_PROTO_RESPONSES, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "reasoning"), "effort")), "low");
    body = build(AIPROXY_PROTO_ANTHROPIC, explicit_bodies[AIPROXY_PROTO_ANTHROPIC],
                 AIPROXY_PROTO_ANTHROPIC, 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(body, "thinking"), "budget_tokens")),
        1024);
    body =
        build(AIPROXY_PROTO_GEMINI, explicit_bodies[AIPROXY_PROTO_GEMINI], AIPROXY_PROTO_GEMINI, 1);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(body, "generationConfig"), "thinkingConfig"),
            "thinkingBudget")),
        1024);
    /* and across protocols: low effort is not raised to the default */
    body = build(AIPROXY_PROTO_OPENAI, explicit_bodies[AIPROXY_PROTO_OPENAI],
                 AIPROXY_PROTO_RESPONSES, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "reasoning"), "effort")), "low");
}

/* Thinking switched off by the client stays off. */
static void test_explicit_off_stays_off(void **state)
{
    const char *off = "{\"model\":\"m\",\"reasoning_effort\":\"none\",\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"hi\"}]}";
    json_t *body = build(AIPROXY_PROTO_OPENAI, off, AIPROXY_PROTO_ANTHROPIC, 1);
    json_t *thinking = json_object_get(body, "thinking");
    assert_true(!thinking ||
                strcmp(json_string_value(json_object_get(thinking, "type")), "enabled"));
}

/* To its own protocol the client's body goes out as sent but for the members that say how to
 * think: fields the IR does not carry, and several candidates, stay. */
static void test_same_protocol_keeps_the_rest(void **state)
{
    json_t *body, *config;

    body = build(AIPROXY_PROTO_OPENAI,
                 "{\"model\":\"m\",\"n\":2,\"x_vendor\":{\"k\":1},\"messages\":[{\"role\":"
                 "\"user\",\"content\":\"hi\"}]}",
                 AIPROXY_PROTO_OPENAI, 1);
    assert_string_equal(json_string_value(json_object_get(body, "reasoning_effort")),
                        TR_THINKING_DEFAULT_EFFORT);
    assert_int_equal(json_integer_value(json_object_get(body, "n")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "x_vendor"), "k")),
                     1);
    assert_string_equal(json_string_value(json_object_get(body, "model")), "up");

    /* Anthropic: a temperature thinking rules out goes, the rest stays */
    body = build(AIPROXY_PROTO_ANTHROPIC,
                 "{\"model\":\"m\",\"max_tokens\":20000,\"temperature\":0.2,\"x_vendor\":1,"
                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                 AIPROXY_PROTO_ANTHROPIC, 1);
    assert_default_thinking(AIPROXY_PROTO_ANTHROPIC, body);
    assert_null(json_object_get(body, "temperature"));
    assert_int_equal(json_integer_value(json_object_get(body, "x_vendor")), 1);
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 20000);

    /* Gemini: only thinkingConfig is set inside generationConfig */
    body = build(AIPROXY_PROTO_GEMINI,
                 "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                 "\"generationConfig\":{\"candidateCount\":2,\"x_vendor\":\"v\"}}",
                 AIPROXY_PROTO_GEMINI, 1);
    assert_default_thinking(AIPROXY_PROTO_GEMINI, body);
    config = json_object_get(body, "generationConfig");
    assert_int_equal(json_integer_value(json_object_get(config, "candidateCount")), 2);
    assert_string_equal(json_string_value(json_object_get(config, "x_vendor")), "v");

    /* Responses: reasoning set, the rest as sent */
    body = build(AIPROXY_PROTO_RESPONSES, "{\"model\":\"m\",\"input\":\"hi\",\"x_vendor\":true}",
                 AIPROXY_PROTO_RESPONSES, 1);
    assert_default_thinking(AIPROXY_PROTO_RESPONSES, body);
    assert_true(json_is_true(json_object_get(body, "x_vendor")));
}

/* Building twice from one parsed request gives the same body: the client's tree is not
 * changed by the first build (a later attempt starts from it again). */
static void test_client_request_left_alone(void **state)
{
    const char *text = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                       "\"generationConfig\":{\"temperature\":0.5}}";
    aiproxy_route_info route = {.model = "m"};
    aiproxy_error err = {0, NULL, NULL, NULL};
    aiproxy_request *req =
        aiproxy_request_parse(pool, AIPROXY_PROTO_GEMINI, text, strlen(text), &route, &err);
    aiproxy_target with = {.proto = AIPROXY_PROTO_GEMINI, .model = "up", .thinking = 1};
    aiproxy_target without = {.proto = AIPROXY_PROTO_GEMINI, .model = "up"};
    aiproxy_upstream_request first, plain;

    assert_non_null(req);
    assert_int_equal(aiproxy_request_build(pool, req, &with, &first, &err), 0);
    assert_non_null(strstr(first.body, "thinkingConfig"));
    assert_int_equal(aiproxy_request_build(pool, req, &without, &plain, &err), 0);
    assert_null(strstr(plain.body, "thinkingConfig"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suffix_turns_thinking_on_for_every_pair),
        cmocka_unit_test(test_no_suffix_adds_nothing),
        cmocka_unit_test(test_explicit_setting_wins),
        cmocka_unit_test(test_explicit_off_stays_off),
        cmocka_unit_test(test_same_protocol_keeps_the_rest),
        cmocka_unit_test(test_client_request_left_alone),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
