/*
 * Unit tests of the names a client may call models by (aip_model_names.h: prefixes, excluded
 * models, the "-thinking" suffix, the model list), of the provider presets (aip_preset.h)
 * and of endpoint templates (aip_endpoint.h), including the model names they refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_config.h"
#include "aip_endpoint.h"
#include "aip_model_names.h"
#include "aip_preset.h"
#include "aip_select.h"

static apr_pool_t *pool;

/* An enabled upstream with a token and the given settings ("key=value" words, NULL-ended). */
static aip_upstream *upstream(const char *name, ...)
{
    aip_upstream *up = aip_upstream_create(pool, name, "http://127.0.0.1:1");
    va_list ap;
    const char *setting;

    assert_null(aip_upstream_set(pool, up, "token", "t"));
    va_start(ap, name);
    while ((setting = va_arg(ap, const char *)) != NULL) {
        const char *eq = strchr(setting, '=');
        assert_non_null(eq);
        assert_null(
            aip_upstream_set(pool, up, apr_pstrmemdup(pool, setting, eq - setting), eq + 1));
    }
    va_end(ap);
    return up;
}

static aip_config *config_of(int force_prefix, aip_upstream **ups, int n)
{
    aip_config *cfg = aip_config_create(pool);
    cfg->force_model_prefix = force_prefix;
    for (int i = 0; i < n; i++) {
        ups[i]->index = i;
        APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = ups[i];
    }
    return cfg;
}

/* The list as one comma-joined string, for short assertions. */
static const char *joined(const apr_array_header_t *names)
{
    return apr_array_pstrcat(pool, names, ',');
}

/* ---- excluded models -------------------------------------------------------------------- */

static void test_excluded_names_and_globs(void **state)
{
    aip_upstream *up = upstream("u", "exclude=gpt-4o, o1-*", "exclude=*-preview", NULL);
    static const struct {
        const char *model;
        int excluded;
    } cases[] = {
        {"gpt-4o", 1},       {"gpt-4o-mini", 0}, {"o1-mini", 1},  {"o1", 0},
        {"x-preview", 1},    {"preview", 0},     {"GPT-4O", 0}, /* case matters */
        {"gpt-4o/extra", 0}, {"o1-a/b", 1},      {"-preview", 1},
    };

    assert_int_equal(up->excluded->nelts, 3);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(aip_upstream_excludes(up, cases[i].model), cases[i].excluded);
        /* an upstream serving every model still never serves an excluded one */
        assert_int_equal(aip_upstream_serves(up, cases[i].model), !cases[i].excluded);
    }
}

/* ---- prefixes --------------------------------------------------------------------------- */

static void test_prefix_names(void **state)
{
    aip_upstream *up = upstream("u", "prefix=team", "models=a,b", "map=b=upstream-b", NULL);
    aip_upstream *ups[] = {up};
    aip_config *loose = config_of(0, ups, 1);

    assert_string_equal(aip_upstream_own_name(up, "team/a"), "a");
    assert_string_equal(aip_upstream_own_name(up, "a"), "a");
    assert_string_equal(aip_upstream_own_name(up, "team/"), "team/");
    assert_string_equal(aip_upstream_own_name(up, "teams/a"), "teams/a");
    /* the prefix comes off before mapping */
    assert_string_equal(aip_upstream_model(up, "team/b"), "upstream-b");
    assert_string_equal(aip_upstream_model(up, "team/a"), "a");
    assert_true(aip_upstream_answers(loose, up, "team/a"));
    assert_true(aip_upstream_answers(loose, up, "a"));
    assert_false(aip_upstream_answers(loose, up, "team/c"));
    assert_false(aip_upstream_answers(loose, up, "other/a"));
    loose->force_model_prefix = 1;
    assert_true(aip_upstream_answers(loose, up, "team/a"));
    assert_false(aip_upstream_answers(loose, up, "a"));
}

static void test_prefix_settings_refused(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "u", "http://127.0.0.1:1");
    assert_non_null(aip_upstream_set(pool, up, "prefix", "a/b"));
    assert_non_null(aip_upstream_set(pool, up, "prefix", ""));
    assert_non_null(aip_upstream_set(pool, up, "prefix", "a b"));
    assert_null(up->prefix);
    assert_null(aip_upstream_set(pool, up, "prefix", "ok"));
    assert_string_equal(up->prefix, "ok");
}

static void test_client_names_and_listing(void **state)
{
    aip_upstream *ups[] = {
        upstream("a", "prefix=p", "models=m1,m2,secret-1", "exclude=secret-*", NULL),
        upstream("b", "models=m2,m3", NULL),
        /* serves every model: lists only the names it maps */
        upstream("all", "map=alias=real", "map=no-alias=x", "exclude=no-*", NULL),
        upstream("off", "models=hidden", "enabled=off", NULL),
    };
    aip_config *cfg = config_of(0, ups, 4);

    assert_null(aip_config_add_fallback(pool, cfg, "chain-head", "m3"));
    assert_string_equal(joined(aip_config_model_names(pool, cfg)),
                        "p/m1,m1,p/m2,m2,m3,alias,chain-head");
    cfg->force_model_prefix = 1;
    assert_string_equal(joined(aip_config_model_names(pool, cfg)),
                        "p/m1,p/m2,m2,m3,alias,chain-head");
}

/* Every listed name routes to the upstreams that list it, and nowhere else. */
static void test_selection_by_client_name(void **state)
{
    aip_upstream *ups[] = {
        upstream("a", "prefix=p", "models=m1", NULL), upstream("b", "models=m1", NULL),
        upstream("all", "exclude=no-*", NULL),
        upstream("q", "prefix=q", NULL), /* prefixed and serving every model */
    };
    const aip_upstream *order[4];
    aip_selector *sel;
    aip_config *cfg = config_of(0, ups, 4);

    sel = aip_selector_create(pool, cfg);
    assert_int_equal(aip_select_order(sel, "p/m1", order, 4), 1);
    assert_string_equal(order[0]->name, "a");
    assert_string_equal(aip_upstream_model(order[0], "p/m1"), "m1");
    /* the bare name: both listing upstreams, and those serving every model (q too: without
     * forced prefixes its prefix is an extra name) */
    assert_int_equal(aip_select_count(sel, "m1"), 4);
    /* an unlisted name: the upstreams serving every model, unless excluded there */
    assert_int_equal(aip_select_count(sel, "x"), 2);
    assert_int_equal(aip_select_order(sel, "no-x", order, 4), 1);
    assert_string_equal(order[0]->name, "q");
    /* a name with q's prefix picks q; the catch-all does not take it too */
    assert_int_equal(aip_select_order(sel, "q/anything", order, 4), 1);
    assert_string_equal(order[0]->name, "q");
    assert_string_equal(aip_upstream_model(order[0], "q/anything"), "anything");

    cfg->force_model_prefix = 1;
    sel = aip_selector_create(pool, cfg);
    assert_int_equal(aip_select_order(sel, "m1", order, 4), 2);
    assert_true(strcmp(order[0]->name, "a") && strcmp(order[1]->name, "a"));
    assert_true(strcmp(order[0]->name, "q") && strcmp(order[1]->name, "q"));
    assert_int_equal(aip_select_order(sel, "x", order, 4), 1);
    assert_string_equal(order[0]->name, "all");
    assert_int_equal(aip_select_count(sel, "p/m1"), 1);
    assert_int_equal(aip_select_count(sel, "q/x"), 1);
}

/* ---- the -thinking suffix --------------------------------------------------------------- */

static void test_thinking_suffix(void **state)
{
    aip_upstream *ups[] = {upstream("a", "models=m,literal-thinking", "prefix=p", NULL)};
    aip_config *cfg = config_of(0, ups, 1);
    static const struct {
        const char *name, *route;
        int thinking;
    } cases[] = {
        {"m-thinking", "m", 1},
        {"p/m-thinking", "p/m", 1},
        {"unknown-thinking", "unknown", 1}, /* catch-all upstreams get the bare name too */
        {"m", "m", 0},
        {"-thinking", "-thinking", 0},       /* nothing before the suffix */
        {"m-thinking-x", "m-thinking-x", 0}, /* not a suffix */
        {"literal-thinking", "literal-thinking", 0},
        {"p/literal-thinking", "p/literal-thinking", 0},
        {"fb-thinking", "fb-thinking", 0}, /* a fallback chain's name */
    };

    assert_null(aip_config_add_fallback(pool, cfg, "fb-thinking", "m"));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int thinking = -1;
        assert_string_equal(aip_model_route_name(pool, cfg, cases[i].name, &thinking),
                            cases[i].route);
        assert_int_equal(thinking, cases[i].thinking);
    }
}

/* ---- presets ---------------------------------------------------------------------------- */

static void test_preset_table(void **state)
{
    static const char *const required[] = {
        "openrouter",  "groq",   "deepseek", "mistral",  "together",  "fireworks", "novita",
        "siliconflow", "xai",    "moonshot", "qwen",     "dashscope", "zhipu",     "doubao",
        "ark",         "ollama", "vllm",     "lmstudio", "kilo",      "lm-studio", "zai",
    };
    int n;
    const aip_preset *table = aip_preset_table(&n);

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_non_null(aip_preset_find(required[i]));
    assert_ptr_equal(aip_preset_find("OpenRouter"), aip_preset_find("openrouter"));
    assert_null(aip_preset_find("nonesuch"));
    assert_null(aip_preset_find(""));
    assert_string_equal(aip_preset_find("zhipu")->endpoint, "/api/paas/v4/chat/completions");
    assert_string_equal(aip_preset_find("doubao")->endpoint, "/api/v3/chat/completions");
    assert_null(aip_preset_find("openrouter")->endpoint);
    for (int i = 0; i < n; i++) {
        const aip_preset *row = &table[i];
        aip_upstream *up = aip_upstream_create(pool, "u", "");
        assert_true(!strncmp(row->base_url, "https://", 8) ||
                    !strncmp(row->base_url, "http://", 7));
        /* the base stops before the API's /v1; no trailing slash to double */
        assert_null(strstr(row->base_url, "/v1"));
        assert_int_not_equal(row->base_url[strlen(row->base_url) - 1], '/');
        assert_true(!row->endpoint || !aip_endpoint_check(pool, row->endpoint));
        assert_ptr_equal(aip_preset_find(row->name), row);
        assert_null(aip_upstream_set(pool, up, "preset", row->name));
        assert_string_equal(up->api_type, row->api_type);
    }
}

static void test_preset_settings(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "u", "");

    assert_non_null(strstr(aip_upstream_set(pool, up, "preset", "nonesuch"), "nonesuch"));
    assert_null(aip_upstream_set(pool, up, "preset", "zhipu"));
    assert_int_equal(up->proto, AIPROXY_PROTO_OPENAI);
    assert_string_equal(aip_upstream_default_base_url(up), "https://open.bigmodel.cn");
    assert_string_equal(aip_upstream_endpoint(up), "/api/paas/v4/chat/completions");
    /* an explicit endpoint beats the preset's */
    assert_null(aip_upstream_set(pool, up, "endpoint", "/api/coding/paas/v4/chat/completions"));
    assert_string_equal(aip_upstream_endpoint(up), "/api/coding/paas/v4/chat/completions");

    /* api= beats the preset's api type, written before or after it; the preset's endpoint is
     * its OpenAI one, so it is not used for another protocol */
    up = aip_upstream_create(pool, "u", "");
    assert_null(aip_upstream_set(pool, up, "api", "anthropic"));
    assert_null(aip_upstream_set(pool, up, "preset", "zhipu"));
    assert_int_equal(up->proto, AIPROXY_PROTO_ANTHROPIC);
    assert_null(aip_upstream_endpoint(up));
    up = aip_upstream_create(pool, "u", "");
    assert_null(aip_upstream_set(pool, up, "preset", "zhipu"));
    assert_null(aip_upstream_set(pool, up, "api", "anthropic"));
    assert_int_equal(up->proto, AIPROXY_PROTO_ANTHROPIC);

    /* no preset, no endpoint: the protocol's own path */
    up = aip_upstream_create(pool, "u", "http://127.0.0.1:1");
    assert_null(aip_upstream_endpoint(up));
    assert_null(aip_upstream_default_base_url(up));
}

/* ---- endpoints -------------------------------------------------------------------------- */

static void test_endpoint_check(void **state)
{
    assert_null(aip_endpoint_check(pool, "/api/v3/chat/completions"));
    assert_null(aip_endpoint_check(pool, "/openai/deployments/{model}/chat/completions"
                                         "?api-version=2024-10-21"));
    assert_non_null(aip_endpoint_check(pool, "api/v3/chat/completions"));
    assert_non_null(aip_endpoint_check(pool, ""));
    assert_non_null(aip_endpoint_check(pool, "/a b"));
    assert_non_null(aip_endpoint_check(pool, "/a\r\nX-Injected: 1"));
    assert_non_null(aip_upstream_set(pool, aip_upstream_create(pool, "u", ""), "endpoint", "x"));
}

static void test_endpoint_expand(void **state)
{
    static const struct {
        const char *template, *model, *method, *path, *query;
    } cases[] = {
        {"/api/paas/v4/chat/completions", "glm-4.6", NULL, "/api/paas/v4/chat/completions", NULL},
        {"/openai/deployments/{model}/chat/completions?api-version=2024-10-21", "gpt-4o", NULL,
         "/openai/deployments/gpt-4o/chat/completions", "api-version=2024-10-21"},
        {"/v1/publishers/google/models/{model}:{method}?key=K", "gemini-2.5-flash",
         "streamGenerateContent",
         "/v1/publishers/google/models/gemini-2.5-flash:"
         "streamGenerateContent",
         "key=K"},
        {"/m/{model}/{model}", "a", NULL, "/m/a/a", NULL},
        {"/x?", "a", NULL, "/x", NULL},
        /* characters that would end the path or start a query are percent-encoded */
        {"/d/{model}/chat", "a?b#c", NULL, "/d/a%3Fb%23c/chat", NULL},
        {"/d/{model}/chat", "a%2F:b@c", NULL, "/d/a%252F%3Ab%40c/chat", NULL},
        {"/d/{model}/chat", "ok-1.5_x~", NULL, "/d/ok-1.5_x~/chat", NULL},
    };
    static const char *const refused[] = {
        "a/b", "../admin", "..", ".", "a..b", "a\\b", "a\r\nb", "a\nb", "a b", "",
    };
    const char *path, *query;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_null(aip_endpoint_expand(pool, cases[i].template, cases[i].model, cases[i].method,
                                        &path, &query));
        assert_string_equal(path, cases[i].path);
        if (cases[i].query)
            assert_string_equal(query, cases[i].query);
        else
            assert_null(query);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        path = query = NULL;
        assert_non_null(
            aip_endpoint_expand(pool, "/d/{model}/chat", refused[i], NULL, &path, &query));
        assert_null(path);
        /* a template without {model} does not put the name anywhere, so nothing to refuse */
        assert_null(aip_endpoint_expand(pool, "/fixed", refused[i], NULL, &path, &query));
    }
    /* {method} where the protocol has none */
    assert_non_null(aip_endpoint_expand(pool, "/m/{model}:{method}", "a", NULL, &path, &query));
    assert_true(aip_endpoint_has_method("/m/{model}:{method}"));
    assert_false(aip_endpoint_has_method("/m/{model}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_excluded_names_and_globs),
        cmocka_unit_test(test_prefix_names),
        cmocka_unit_test(test_prefix_settings_refused),
        cmocka_unit_test(test_client_names_and_listing),
        cmocka_unit_test(test_selection_by_client_name),
        cmocka_unit_test(test_thinking_suffix),
        cmocka_unit_test(test_preset_table),
        cmocka_unit_test(test_preset_settings),
        cmocka_unit_test(test_endpoint_check),
        cmocka_unit_test(test_endpoint_expand),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
