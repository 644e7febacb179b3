/*
 * test_oauth_project.c: finding a Google login's Code Assist project without the HTTP
 * (mod_aiproxy_oauth/oa_project.c): the loadCodeAssist and onboardUser bodies each client
 * sends, and what their answers mean (research/oauth.md §3 "Project discovery", §4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "oa_project.h"
#include "test_oauth.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *meta_of(json_t *body, const char *key)
{
    return json_string_value(json_object_get(json_object_get(body, "metadata"), key));
}

static void test_load_bodies(void **state)
{
    json_t *g = parse(oa_project_load_body(pool, OA_PROVIDER_GEMINICLI));
    json_t *a = parse(oa_project_load_body(pool, OA_PROVIDER_ANTIGRAVITY));

    /* Gemini CLI names no IDE; no project is asked for (the account's own is found). */
    assert_string_equal(meta_of(g, "ideType"), "IDE_UNSPECIFIED");
    assert_string_equal(meta_of(g, "platform"), "PLATFORM_UNSPECIFIED");
    assert_string_equal(meta_of(g, "pluginType"), "GEMINI");
    assert_null(json_object_get(g, "cloudaicompanionProject"));
    assert_string_equal(meta_of(a, "ideType"), "ANTIGRAVITY");
    json_decref(g);
    json_decref(a);
}

static void test_onboard_bodies(void **state)
{
    json_t *g = parse(oa_project_onboard_body(pool, OA_PROVIDER_GEMINICLI, "free-tier"));
    json_t *a = parse(oa_project_onboard_body(pool, OA_PROVIDER_ANTIGRAVITY, "standard-tier"));

    assert_string_equal(json_string_value(json_object_get(g, "tierId")), "free-tier");
    assert_string_equal(meta_of(g, "ideType"), "IDE_UNSPECIFIED");
    assert_null(json_object_get(g, "cloudaicompanionProject"));
    assert_string_equal(json_string_value(json_object_get(a, "tierId")), "standard-tier");
    assert_string_equal(meta_of(a, "ideType"), "ANTIGRAVITY");
    json_decref(g);
    json_decref(a);
}

typedef struct {
    const char *name;
    int status;
    const char *body;
    oa_project_outcome outcome;
    const char *project; /* FOUND */
    const char *tier;    /* ONBOARD */
    const char *why;     /* FAILED: a part of why */
} load_case;

static const load_case load_cases[] = {
    {"current tier, project as a string", 200,
     "{\"currentTier\":{\"id\":\"standard-tier\",\"name\":\"Gemini Code Assist\"},"
     "\"cloudaicompanionProject\":\"proj-123\",\"allowedTiers\":[]}",
     OA_PROJECT_FOUND, "proj-123", NULL, NULL},
    {"current tier, project as an object", 200,
     "{\"currentTier\":{\"id\":\"free-tier\"},\"cloudaicompanionProject\":{\"id\":\"a-b.c:d_e\","
     "\"name\":\"x\"}}",
     OA_PROJECT_FOUND, "a-b.c:d_e", NULL, NULL},
    {"current tier without a project", 200, "{\"currentTier\":{\"id\":\"free-tier\"}}",
     OA_PROJECT_FAILED, NULL, NULL, "no project"},
    {"project with a space is not trusted", 200,
     "{\"currentTier\":{\"id\":\"free-tier\"},\"cloudaicompanionProject\":\"a b\"}",
     OA_PROJECT_FAILED, NULL, NULL, "no project"},
    {"no tier: the default allowed tier", 200,
     "{\"allowedTiers\":[{\"id\":\"legacy-tier\"},{\"id\":\"free-tier\",\"isDefault\":true},"
     "{\"id\":\"standard-tier\"}]}",
     OA_PROJECT_ONBOARD, NULL, "free-tier", NULL},
    {"no tier, no default: legacy-tier", 200, "{\"allowedTiers\":[{\"id\":\"standard-tier\"}]}",
     OA_PROJECT_ONBOARD, NULL, "legacy-tier", NULL},
    {"no tier, a project but no tier still onboards", 200,
     "{\"cloudaicompanionProject\":\"p\",\"allowedTiers\":[{\"id\":\"free-tier\","
     "\"isDefault\":true}]}",
     OA_PROJECT_ONBOARD, NULL, "free-tier", NULL},
    {"HTTP 403", 403, "{\"error\":{\"code\":403,\"message\":\"secret echo\"}}", OA_PROJECT_FAILED,
     NULL, NULL, "HTTP 403"},
    {"no answer", 0, NULL, OA_PROJECT_FAILED, NULL, NULL, "no answer"},
    {"not JSON", 200, "<html>", OA_PROJECT_FAILED, NULL, NULL, "no JSON object"},
    {"an array", 200, "[]", OA_PROJECT_FAILED, NULL, NULL, "no JSON object"},
};

static void check_step(const char *name, const oa_project_step *s, oa_project_outcome outcome,
                       const char *project, const char *tier, const char *why)
{
    if (s->outcome != outcome)
        fail_msg("%s: outcome %d, expected %d", name, s->outcome, outcome);
    if (project)
        assert_string_equal(s->project, project);
    else
        assert_null(s->project);
    if (tier)
        assert_string_equal(s->tier, tier);
    if (why) {
        assert_non_null(s->why);
        if (!strstr(s->why, why))
            fail_msg("%s: why \"%s\" lacks \"%s\"", name, s->why, why);
        /* Never the answer's free text. */
        assert_null(strstr(s->why, "secret"));
    } else {
        assert_null(s->why);
    }
}

static void test_read_load(void **state)
{
    for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
        const load_case *c = &load_cases[i];
        oa_project_step s;
        oa_project_read_load(pool, c->status, c->body, c->body ? strlen(c->body) : 0, &s);
        check_step(c->name, &s, c->outcome, c->project, c->tier, c->why);
    }
}

static const load_case onboard_cases[] = {
    {"running", 200, "{\"name\":\"operations/1\",\"done\":false}", OA_PROJECT_PENDING, NULL, NULL,
     NULL},
    {"running, done absent", 200, "{\"name\":\"operations/1\"}", OA_PROJECT_PENDING, NULL, NULL,
     NULL},
    {"done, project object", 200,
     "{\"done\":true,\"response\":{\"cloudaicompanionProject\":{\"id\":\"onboarded-7\","
     "\"name\":\"n\"}}}",
     OA_PROJECT_FOUND, "onboarded-7", NULL, NULL},
    {"done, project string", 200,
     "{\"done\":true,\"response\":{\"cloudaicompanionProject\":\"onboarded-8\"}}", OA_PROJECT_FOUND,
     "onboarded-8", NULL, NULL},
    {"done without a project", 200, "{\"done\":true,\"response\":{}}", OA_PROJECT_FAILED, NULL,
     NULL, "without a project"},
    {"HTTP 500", 500, "{}", OA_PROJECT_FAILED, NULL, NULL, "HTTP 500"},
};

static void test_read_onboard(void **state)
{
    for (size_t i = 0; i < sizeof(onboard_cases) / sizeof(onboard_cases[0]); i++) {
        const load_case *c = &onboard_cases[i];
        oa_project_step s;
        oa_project_read_onboard(pool, c->status, c->body, c->body ? strlen(c->body) : 0, &s);
        check_step(c->name, &s, c->outcome, c->project, c->tier, c->why);
    }
}

/* A project id longer than any real one is refused, not cut. */
static void test_long_project(void **state)
{
    char id[200];
    const char *body;
    oa_project_step s;

    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    body = apr_psprintf(pool, "{\"currentTier\":{},\"cloudaicompanionProject\":\"%s\"}", id);
    oa_project_read_load(pool, 200, body, strlen(body), &s);
    assert_int_equal(s.outcome, OA_PROJECT_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_bodies),  cmocka_unit_test(test_onboard_bodies),
        cmocka_unit_test(test_read_load),    cmocka_unit_test(test_read_onboard),
        cmocka_unit_test(test_long_project),
    };

    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
