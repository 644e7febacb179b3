/*
 * test_yaml.c: the config.yaml reader (mod_aiproxy/aip_yaml.c).
 *
 * The seed example, every field of the format with its default, the "string or list" forms,
 * and every refusal with the line and column it points at. Inputs are inline so each test
 * shows the YAML it is about; the test/fixtures files are the files the integration tests use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "apr_file_io.h"
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_yaml.h"

#define FIXTURES "test/fixtures"

static apr_pool_t *pool;

static int setup(void **state)
{
    apr_pool_create(&pool, NULL);
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

static aip_yaml_config *parse_ok(const char *text)
{
    aip_yaml_error err;
    aip_yaml_config *cfg =
        aip_yaml_parse(pool, "/etc/aiproxy/config.yaml", text, strlen(text), &err);
    if (!cfg)
        fail_msg("unexpected error: %s", aip_yaml_error_string(pool, &err));
    return cfg;
}

/* The text must be refused at line:column (line -1, column 0: not checked) with a message
 * containing want. */
static void expect_error(const char *text, int line, int column, const char *want)
{
    aip_yaml_error err;
    aip_yaml_config *cfg = aip_yaml_parse(pool, "config.yaml", text, strlen(text), &err);
    const char *msg;
    if (cfg)
        fail_msg("accepted, expected an error containing '%s'", want);
    msg = aip_yaml_error_string(pool, &err);
    if (!strstr(err.message, want))
        fail_msg("error '%s' does not contain '%s'", msg, want);
    if ((line >= 0 && err.mark.line != line) || (column && err.mark.column != column))
        fail_msg("error '%s' is not at %d:%d", msg, line, column);
    assert_string_equal(err.path, "config.yaml");
}

static const aip_yaml_upstream *upstream(const aip_yaml_config *cfg, int i)
{
    assert_true(i < cfg->upstreams->nelts);
    return &APR_ARRAY_IDX(cfg->upstreams, i, aip_yaml_upstream);
}

static const aip_yaml_client_key *client_key(const aip_yaml_config *cfg, int i)
{
    assert_true(i < cfg->api_keys->nelts);
    return &APR_ARRAY_IDX(cfg->api_keys, i, aip_yaml_client_key);
}

static const char *item(const apr_array_header_t *list, int i)
{
    assert_true(i < list->nelts);
    return APR_ARRAY_IDX(list, i, aip_yaml_item).value;
}

static const aip_yaml_pair *pair(const apr_array_header_t *map, int i)
{
    assert_true(i < map->nelts);
    return &APR_ARRAY_IDX(map, i, aip_yaml_pair);
}

static int has_warning(const aip_yaml_config *cfg, int line, const char *want)
{
    for (int i = 0; i < cfg->warnings->nelts; i++) {
        const aip_yaml_item *w = &APR_ARRAY_IDX(cfg->warnings, i, aip_yaml_item);
        if (w->mark.line == line && strstr(w->value, want))
            return 1;
    }
    return 0;
}

/* ---- the seed example ----------------------------------------------------------------- */

static void test_seed_example(void **state)
{
    aip_yaml_error err;
    aip_yaml_config *cfg = aip_yaml_load(pool, FIXTURES "/seed-example.yaml", &err);
    const aip_yaml_upstream *up;

    if (!cfg)
        fail_msg("%s", aip_yaml_error_string(pool, &err));
    assert_string_equal(cfg->bind.value, "127.0.0.1");
    assert_string_equal(cfg->listen.value, ":8080");
    assert_int_equal(cfg->default_max_tokens.value, 4096);
    assert_int_equal(cfg->default_max_tokens.mark.line, 8);
    assert_int_equal(cfg->upstream_request_timeout.value, 60);
    assert_int_equal(cfg->api_keys->nelts, 0);
    assert_string_equal(cfg->log.file.value, "/var/log/aiproxy/aiproxy.log");
    assert_int_equal(cfg->log.mark.line, 13);
    assert_int_equal(cfg->log.max_size.value, 100);
    assert_int_equal(cfg->log.max_backups.value, 3);
    assert_int_equal(cfg->log.max_age.value, 28);
    assert_int_equal(cfg->log.compress.value, 0);
    assert_int_equal(cfg->upstreams->nelts, 3);

    up = upstream(cfg, 0);
    assert_string_equal(up->name.value, "primary");
    assert_int_equal(up->mark.line, 22);
    assert_int_equal(up->mark.column, 5);
    assert_int_equal(up->enabled.value, 1);
    assert_string_equal(up->base_url.value, "https://api.anthropic.com");
    assert_int_equal(up->tokens->nelts, 1);
    assert_string_equal(item(up->tokens, 0), "sk-ant-xxx");
    assert_int_equal(up->weight.value, 10);
    assert_string_equal(up->api_type.value, "anthropic");
    assert_false(up->oauth);
    assert_string_equal(up->compression.value, "zstd");
    assert_int_equal(up->compression.mark.line, 27);
    assert_int_equal(up->model_mappings->nelts, 2);
    assert_string_equal(pair(up->model_mappings, 0)->key, "claude-3-opus");
    assert_string_equal(pair(up->model_mappings, 0)->value, "claude-3-opus-20240229");
    assert_int_equal(pair(up->model_mappings, 1)->mark.line, 30);
    assert_int_equal(up->available_models->nelts, 2);
    assert_string_equal(item(up->available_models, 1), "claude-3-sonnet");

    up = upstream(cfg, 1);
    assert_string_equal(up->name.value, "secondary");
    assert_int_equal(up->tokens->nelts, 2);
    assert_string_equal(item(up->tokens, 1), "sk-ant-key2");
    assert_int_equal(APR_ARRAY_IDX(up->tokens, 1, aip_yaml_item).mark.line, 40);
    assert_string_equal(up->compression.value, "none");
    assert_int_equal(up->available_models->nelts, 0);

    up = upstream(cfg, 2);
    assert_string_equal(up->name.value, "Gemini CLI");
    assert_string_equal(up->api_type.value, "geminicli");
    assert_int_equal(up->api_type.mark.line, 47);
    assert_true(up->oauth);
    assert_null(up->base_url.value);
    assert_int_equal(up->tokens->nelts, 0);
    assert_string_equal(up->compression.value, "gzip");
    assert_int_equal(up->auth_files->nelts, 2);
    assert_string_equal(item(up->auth_files, 0), "/path/to/geminicli-auth1.json");

    assert_int_equal(cfg->model_fallback->nelts, 3);
    assert_string_equal(pair(cfg->model_fallback, 1)->key, "claude-opus-4-5");
    assert_string_equal(pair(cfg->model_fallback, 1)->value, "claude-sonnet-4-5");
    assert_int_equal(pair(cfg->model_fallback, 2)->mark.line, 62);
    assert_int_equal(cfg->warnings->nelts, 0);
}

/* ---- defaults and forms ---------------------------------------------------------------- */

static void test_defaults(void **state)
{
    aip_yaml_config *cfg = parse_ok("upstreams:\n"
                                    "  - name: a\n"
                                    "    base_url: http://127.0.0.1:1\n"
                                    "    token: t\n");
    const aip_yaml_upstream *up = upstream(cfg, 0);
    assert_string_equal(cfg->bind.value, "127.0.0.1");
    assert_string_equal(cfg->listen.value, ":8080");
    assert_int_equal(cfg->listen.mark.line, 0);
    assert_int_equal(cfg->default_max_tokens.value, 4096);
    assert_int_equal(cfg->default_max_tokens.mark.line, 0);
    assert_int_equal(cfg->upstream_request_timeout.value, 60);
    assert_int_equal(cfg->log.mark.line, 0);
    assert_string_equal(cfg->log.file.value, "");
    assert_int_equal(cfg->log.max_size.value, 100);
    assert_int_equal(cfg->log.max_backups.value, 3);
    assert_int_equal(cfg->log.max_age.value, 28);
    assert_int_equal(cfg->log.compress.value, 0);
    assert_int_equal(cfg->model_fallback->nelts, 0);
    assert_int_equal(up->enabled.value, 1);
    assert_int_equal(up->weight.value, 1);
    assert_string_equal(up->api_type.value, "anthropic");
    assert_string_equal(up->compression.value, "none");
    assert_int_equal(up->http_headers->nelts, 0);
    assert_int_equal(up->model_mappings->nelts, 0);
    assert_int_equal(cfg->warnings->nelts, 0);
}

static void test_every_field(void **state)
{
    aip_yaml_config *cfg = parse_ok("bind: 0.0.0.0\n"
                                    "listen: ':8642'\n"
                                    "default_max_tokens: 8192\n"
                                    "upstream_request_timeout: 120\n"
                                    "api-key:\n"
                                    "  - client-key-1\n"
                                    "  - client-key-2\n"
                                    "log:\n"
                                    "  file: /var/log/a.log\n"
                                    "  max_size: 5\n"
                                    "  max_backups: 7\n"
                                    "  max_age: 9\n"
                                    "  compress: true\n"
                                    "model_fallback: {a: b}\n"
                                    "upstreams:\n"
                                    "  - name: full\n"
                                    "    enabled: false\n"
                                    "    base_url: https://example.com/openai\n"
                                    "    token: [k1, k2, k3]\n"
                                    "    weight: 100\n"
                                    "    model_mappings: {gpt: gpt-5}\n"
                                    "    available_models: gpt\n"
                                    "    api_type: OpenAI\n"
                                    "    request_compression: x-zstd\n"
                                    "    http_headers:\n"
                                    "      x-tenant-id: t1\n"
                                    "      API-KEY: secret value\n");
    const aip_yaml_upstream *up = upstream(cfg, 0);
    assert_string_equal(cfg->bind.value, "0.0.0.0");
    assert_string_equal(cfg->listen.value, ":8642");
    assert_int_equal(cfg->default_max_tokens.value, 8192);
    assert_int_equal(cfg->upstream_request_timeout.value, 120);
    assert_int_equal(cfg->upstream_request_timeout.mark.line, 4);
    assert_int_equal(cfg->api_keys->nelts, 2);
    assert_string_equal(client_key(cfg, 1)->key.value, "client-key-2");
    assert_string_equal(cfg->log.file.value, "/var/log/a.log");
    assert_int_equal(cfg->log.max_size.value, 5);
    assert_int_equal(cfg->log.max_backups.value, 7);
    assert_int_equal(cfg->log.max_age.value, 9);
    assert_int_equal(cfg->log.compress.value, 1);
    assert_string_equal(pair(cfg->model_fallback, 0)->value, "b");
    assert_int_equal(up->enabled.value, 0);
    assert_int_equal(up->enabled.mark.line, 17);
    assert_int_equal(up->tokens->nelts, 3);
    assert_int_equal(up->weight.value, 100);
    assert_string_equal(pair(up->model_mappings, 0)->value, "gpt-5");
    assert_int_equal(up->available_models->nelts, 1);
    assert_string_equal(item(up->available_models, 0), "gpt");
    assert_string_equal(up->api_type.value, "openai"); /* api types ignore case */
    assert_string_equal(up->compression.value, "zstd");
    assert_int_equal(up->http_headers->nelts, 2);
    assert_string_equal(pair(up->http_headers, 0)->key, "X-Tenant-Id");
    assert_string_equal(pair(up->http_headers, 1)->key, "Api-Key");
    assert_string_equal(pair(up->http_headers, 1)->value, "secret value");
    assert_int_equal(pair(up->http_headers, 1)->mark.line, 27);
}

static void test_string_or_list(void **state)
{
    aip_yaml_config *cfg = parse_ok("api-key: single-key\n"
                                    "upstreams:\n"
                                    "  - name: one\n"
                                    "    base_url: http://h\n"
                                    "    token: only\n"
                                    "    available_models: m1\n"
                                    "  - name: two\n"
                                    "    base_url: http://h\n"
                                    "    token:\n"
                                    "      - a\n"
                                    "      - ''\n"
                                    "      - b\n"
                                    "    available_models: [m1, m2]\n"
                                    "  - name: three\n"
                                    "    api_type: codex\n"
                                    "    auth_files: /a/auth.json\n");
    assert_int_equal(cfg->api_keys->nelts, 1);
    assert_string_equal(client_key(cfg, 0)->key.value, "single-key");
    assert_int_equal(upstream(cfg, 0)->tokens->nelts, 1);
    assert_int_equal(upstream(cfg, 0)->available_models->nelts, 1);
    /* empty entries name nothing and are dropped */
    assert_int_equal(upstream(cfg, 1)->tokens->nelts, 2);
    assert_string_equal(item(upstream(cfg, 1)->tokens, 1), "b");
    assert_int_equal(upstream(cfg, 1)->available_models->nelts, 2);
    assert_int_equal(upstream(cfg, 2)->auth_files->nelts, 1);
    assert_string_equal(item(upstream(cfg, 2)->auth_files, 0), "/a/auth.json");
}

static void test_scalars_and_nulls(void **state)
{
    /* numbers given as strings, YAML 1.1 booleans, nulls keeping the default, numeric
     * strings where text is expected */
    aip_yaml_config *cfg = parse_ok("bind:\n"
                                    "listen: 9000\n"
                                    "default_max_tokens: '2048'\n"
                                    "upstream_request_timeout: ~\n"
                                    "log:\n"
                                    "upstreams:\n"
                                    "  - name: 42\n"
                                    "    base_url: http://h\n"
                                    "    token: 12345\n"
                                    "    enabled: off\n"
                                    "    model_mappings:\n"
                                    "    http_headers:\n");
    assert_string_equal(cfg->bind.value, "127.0.0.1");
    assert_string_equal(cfg->listen.value, "9000");
    assert_int_equal(cfg->default_max_tokens.value, 2048);
    assert_int_equal(cfg->upstream_request_timeout.value, 60);
    assert_string_equal(upstream(cfg, 0)->name.value, "42");
    assert_string_equal(item(upstream(cfg, 0)->tokens, 0), "12345");
    assert_int_equal(upstream(cfg, 0)->enabled.value, 0);
}

static void test_weight_not_positive_becomes_one(void **state)
{
    aip_yaml_config *cfg = parse_ok("upstreams:\n"
                                    "  - {name: a, base_url: 'http://h', token: t, weight: 0}\n"
                                    "  - {name: b, base_url: 'http://h', token: t, weight: -5}\n"
                                    "  - {name: c, base_url: 'http://h', token: t, weight: 3}\n");
    assert_int_equal(upstream(cfg, 0)->weight.value, 1);
    assert_int_equal(upstream(cfg, 1)->weight.value, 1);
    assert_int_equal(upstream(cfg, 2)->weight.value, 3);
}

static void test_compression_values(void **state)
{
    static const struct {
        const char *written;
        const char *coding;
    } cases[] = {
        {"zstd", "zstd"}, {"x-zstd", "zstd"},   {"gzip", "gzip"}, {"x-gzip", "gzip"}, {"br", "br"},
        {"none", "none"}, {"identity", "none"}, {"''", "none"},   {"GZIP", "gzip"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *text = apr_psprintf(pool,
                                        "upstreams:\n"
                                        "  - name: a\n"
                                        "    base_url: http://h\n"
                                        "    token: t\n"
                                        "    request_compression: %s\n",
                                        cases[i].written);
        assert_string_equal(upstream(parse_ok(text), 0)->compression.value, cases[i].coding);
    }
}

static void test_oauth_types(void **state)
{
    static const char *const types[] = {"codex", "geminicli", "antigravity", "claudecode", "kiro"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *text = apr_psprintf(pool,
                                        "upstreams:\n"
                                        "  - name: o\n"
                                        "    api_type: %s\n"
                                        "    auth_files: [/x.json]\n",
                                        types[i]);
        const aip_yaml_upstream *up = upstream(parse_ok(text), 0);
        assert_true(up->oauth);
        assert_string_equal(up->api_type.value, types[i]);
    }
}

/* The rerank providers: key types, applied as api=cohere / api=jina. */
static void test_rerank_types(void **state)
{
    static const char *const types[] = {"cohere", "jina"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *text = apr_psprintf(pool,
                                        "upstreams:\n"
                                        "  - name: r\n"
                                        "    base_url: https://api.example.com\n"
                                        "    token: t\n"
                                        "    api_type: %s\n",
                                        types[i]);
        const aip_yaml_upstream *up = upstream(parse_ok(text), 0);
        assert_false(up->oauth);
        assert_string_equal(up->api_type.value, types[i]);
    }
}

static void test_auth_files_absolute_and_deduplicated(void **state)
{
    aip_yaml_config *cfg = parse_ok("upstreams:\n"
                                    "  - name: o\n"
                                    "    api_type: kiro\n"
                                    "    auth_files:\n"
                                    "      - auth/a.json\n"
                                    "      - /etc/aiproxy/auth/a.json\n"
                                    "      - /etc/aiproxy/auth/../auth/b.json\n");
    const aip_yaml_upstream *up = upstream(cfg, 0);
    assert_int_equal(up->auth_files->nelts, 2);
    assert_string_equal(item(up->auth_files, 0), "/etc/aiproxy/auth/a.json");
    assert_string_equal(item(up->auth_files, 1), "/etc/aiproxy/auth/b.json");
    assert_true(has_warning(cfg, 6, "listed twice"));
}

static void test_unknown_keys_warn(void **state)
{
    aip_yaml_config *cfg = parse_ok("colour: blue\n"
                                    "log:\n"
                                    "  rotate: yes\n"
                                    "upstreams:\n"
                                    "  - name: a\n"
                                    "    base_url: http://h\n"
                                    "    token: t\n"
                                    "    must_stream: true\n"
                                    "    models: [x]\n");
    assert_int_equal(cfg->warnings->nelts, 4);
    assert_true(has_warning(cfg, 1, "top level: unknown key 'colour' ignored"));
    assert_true(has_warning(cfg, 3, "log: unknown key 'rotate'"));
    assert_true(has_warning(cfg, 8, "must_stream was removed"));
    assert_true(has_warning(cfg, 9, "did you mean available_models?"));
}

static void test_empty_file(void **state)
{
    aip_yaml_config *cfg = parse_ok("# nothing but a comment\n");
    assert_int_equal(cfg->upstreams->nelts, 0);
    assert_true(has_warning(cfg, 0, "no upstreams"));
    cfg = parse_ok("");
    assert_string_equal(cfg->listen.value, ":8080");
}

static void test_anchors_and_aliases(void **state)
{
    aip_yaml_config *cfg = parse_ok("x-models: &models [m1, m2]\n"
                                    "upstreams:\n"
                                    "  - &base {name: a, base_url: 'http://h', token: t,\n"
                                    "           available_models: *models}\n"
                                    "  - name: b\n"
                                    "    base_url: http://h\n"
                                    "    token: *models\n");
    assert_int_equal(upstream(cfg, 0)->available_models->nelts, 2);
    assert_string_equal(item(upstream(cfg, 1)->tokens, 1), "m2");
    /* the two uses of the alias share one copy of each value */
    assert_ptr_equal(item(upstream(cfg, 0)->available_models, 0),
                     item(upstream(cfg, 1)->tokens, 0));
}

/* ---- listen address and route names ----------------------------------------------------- */

static void test_listen_address(void **state)
{
    static const struct {
        const char *bind, *listen, *host;
        int port;
    } cases[] = {
        {"127.0.0.1", ":8642", "127.0.0.1", 8642},
        {"10.0.0.1", "8080", "10.0.0.1", 8080},
        {"127.0.0.1", "0.0.0.0:80", "0.0.0.0", 80},
        {"127.0.0.1", "[::1]:443", "::1", 443},
        {"::", ":9000", "::", 9000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_yaml_config *cfg = parse_ok(
            apr_psprintf(pool, "bind: '%s'\nlisten: '%s'\n", cases[i].bind, cases[i].listen));
        const char *host;
        int port;
        assert_null(aip_yaml_listen_address(pool, cfg, &host, &port));
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
    }
}

static void test_route_name(void **state)
{
    assert_string_equal(aip_yaml_route_name(pool, "Gemini CLI"), "Gemini-CLI");
    assert_string_equal(aip_yaml_route_name(pool, "a.b_c-d9"), "a.b_c-d9");
    assert_string_equal(aip_yaml_route_name(pool, "x/y:z"), "x-y-z");
}

/* ---- refusals, each at its line ------------------------------------------------------- */

#define UP(extra) "upstreams:\n  - name: a\n    base_url: http://h\n    token: t\n" extra
#define UP_NO_TOKEN(extra)                                                                         \
    "upstreams:\n  - name: a\n    base_url: http://h\n    api_type: openai\n" extra

static void test_error_unknown_api_type(void **state)
{
    expect_error(UP("    api_type: anthropik\n"), 5, 15, "unknown api_type 'anthropik'");
}

static void test_error_duplicate_upstream(void **state)
{
    expect_error(UP("  - name: A\n    base_url: http://h\n    token: t\n"), 5, 11,
                 "duplicate upstream name 'A' (first defined at line 2; names ignore case)");
    expect_error(UP("  - name: a b\n    base_url: http://h\n    token: t\n"
                    "  - name: a-b\n    base_url: http://h\n    token: t\n"),
                 8, 11, "both become 'a-b'");
}

static void test_error_missing_token(void **state)
{
    expect_error("upstreams:\n  - name: a\n    base_url: http://h\n", 2, 5,
                 "upstream 'a': token is required for api_type anthropic");
    expect_error("upstreams:\n  - name: a\n    base_url: http://h\n    token: []\n", 2, 5,
                 "token is required");
    expect_error("upstreams:\n  - name: a\n    api_type: gemini\n    token: t\n", 2, 5,
                 "base_url is required for api_type gemini");
    expect_error("upstreams:\n  - name: a\n    base_url: ftp://h\n    token: t\n", 3, 15,
                 "must start with http:// or https://");
}

static void test_error_missing_auth_files(void **state)
{
    expect_error("upstreams:\n  - name: g\n    api_type: geminicli\n", 2, 5,
                 "upstream 'g': api_type geminicli needs auth_files");
    expect_error("upstreams:\n  - name: k\n    api_type: kiro\n    token: t\n", 2, 5,
                 "api_type kiro needs auth_files");
}

static void test_error_missing_name(void **state)
{
    expect_error("upstreams:\n  - base_url: http://h\n    token: t\n", 2, 5,
                 "upstreams[0]: name is required");
    expect_error("upstreams:\n  - \n", 2, 0, "expected a mapping");
}

static void test_error_fallback_cycle(void **state)
{
    expect_error("model_fallback:\n  a: b\n  b: c\n  c: a\n", 4, 3,
                 "model_fallback: c -> a closes a cycle");
    expect_error("model_fallback:\n  a: a\n", 2, 3, "a -> a closes a cycle");
    expect_error("model_fallback:\n  x: b\n  a: b\n  b: a\n", 3, 3, "a -> b closes a cycle");
    expect_error("model_fallback:\n  a: ''\n", 2, 3, "'a' needs a model to fall back to");
}

static void test_fallback_long_chain_is_fine(void **state)
{
    /* shared tails and a long chain: every model visited once */
    const char *text = "model_fallback:\n";
    for (int i = 0; i < 2000; i++)
        text = apr_psprintf(pool, "%s  m%d: m%d\n", text, i, i + 1);
    text = apr_pstrcat(pool, text, "  other: m5\n", NULL);
    assert_int_equal(parse_ok(text)->model_fallback->nelts, 2001);
}

static void test_error_bad_weight(void **state)
{
    expect_error(UP("    weight: heavy\n"), 5, 13,
                 "upstreams[0].weight: 'heavy' is not a whole "
                 "number");
    expect_error(UP("    weight: 1.5\n"), 5, 13, "not a whole number");
    expect_error(UP("    weight: 99999999999999999999999\n"), 5, 13, "not a whole number");
    expect_error(UP("    weight: [1]\n"), 5, 13, "expected a single value, found a list");
}

static void test_error_bad_values(void **state)
{
    expect_error(UP("    request_compression: lz4\n"), 5, 26, "unknown request_compression 'lz4'");
    expect_error(UP("    enabled: maybe\n"), 5, 14, "'maybe' is not true or false");
    expect_error("upstream_request_timeout: -1\n", 1, 27,
                 "upstream_request_timeout: expected a "
                 "positive whole number");
    expect_error("default_max_tokens: -10\n", 1, 21, "positive whole number");
    expect_error("log:\n  max_size: big\n", 2, 13, "log.max_size: 'big' is not a whole number");
    expect_error("listen: ':99999'\n", 1, 9, "listen ':99999'");
    expect_error("listen: 'host:'\n", 1, 9, "expected ':PORT'");
    expect_error("listen: '::1:80'\n", 1, 9, "listen");
    expect_error(UP("    http_headers:\n      X-A: 1\n      x-a: 2\n"), 7, 7,
                 "X-A is already set at line 6 (header names ignore case)");
    expect_error(UP("    http_headers:\n      'Bad Name': 1\n"), 6, 7, "not a valid header name");
    expect_error(UP("    http_headers:\n      X-A: \"a\\r\\nInjected: 1\"\n"), 6, 7,
                 "must not contain line breaks");
    expect_error(UP("    model_mappings: {m: ''}\n"), 5, 22, "'m' maps to an empty name");
    expect_error(UP_NO_TOKEN("    token: \"a\\0b\"\n"), 5, 12, "NUL character");
}

static void test_error_wrong_shapes(void **state)
{
    expect_error("- a\n- b\n", 1, 1, "the file must be a mapping");
    expect_error("upstreams: {name: a}\n", 1, 12, "upstreams: expected a list of upstreams");
    expect_error("log: yes\n", 1, 6, "log: expected a mapping");
    expect_error("model_fallback: [a, b]\n", 1, 17, "model_fallback: expected a mapping");
    expect_error(UP_NO_TOKEN("    token: {a: b}\n"), 5, 12, "found a mapping");
    expect_error(UP("    model_mappings: {m: [x]}\n"), 5, 25, "found a list");
    expect_error("bind: 1\nbind: 2\n", 2, 1, "key 'bind' is already defined at line 1");
    expect_error("? [a]\n: b\n", 1, 3, "expected a single value");
}

static void test_error_malformed_yaml(void **state)
{
    expect_error("upstreams:\n  - name: a\n   base_url: x\n", 3, 4,
                 "did not find expected '-' indicator while parsing a block collection (line 2)");
    expect_error("bind: a: b\n", 1, 8, "mapping values are not allowed in this context");
    expect_error("bind: \"open\n", 2, 1, "found unexpected end of stream");
    expect_error("a: [1, 2\n", 2, 1, "did not find expected ',' or ']'");
    expect_error("a: *nowhere\n", 1, 4, "undefined alias");
    expect_error("bind: x\n---\nbind: y\n", 3, 1, "only one YAML document");
    expect_error("bind: x\n---\n[\n", 4, 1, "did not find expected node content");
    expect_error("a: &x 1\nb: &x 2\n", 2, 4, "found duplicate anchor");
    expect_error("bind: \"\xff\xfe\"\n", 1, 1, "invalid");
    expect_error("\tbind: x\n", 1, 1, "found character that cannot start any token");
}

/* Aliases multiply: a list of 1000 tokens used by 1000 upstreams is a million values from a
 * 10 KB file. The budget stops it. */
static void test_error_alias_bomb(void **state)
{
    const char *text = "t: &t [";
    for (int i = 0; i < 1000; i++)
        text = apr_pstrcat(pool, text, i ? ", k" : "k", NULL);
    text = apr_pstrcat(pool, text, "]\nu: &u {name: a, base_url: 'http://h', token: *t}\n",
                       "upstreams: [", NULL);
    for (int i = 0; i < 1000; i++)
        text = apr_pstrcat(pool, text, i ? ", *u" : "*u", NULL);
    text = apr_pstrcat(pool, text, "]\n", NULL);
    expect_error(text, -1, 0, "more than 200000 values (aliases count each time they are used)");
}

static void test_error_deep_nesting(void **state)
{
    apr_size_t depth = 100000;
    char *text = apr_palloc(pool, depth * 2 + 16);
    char *c = text;
    c += sprintf(c, "bind: ");
    memset(c, '[', depth);
    memset(c + depth, ']', depth);
    c[2 * depth] = '\n';
    c[2 * depth + 1] = '\0';
    expect_error(text, 1, 38, "nested deeper than 32 levels"); /* the root mapping is level 1 */
    /* at the limit, the usual message */
    expect_error("bind: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", 1, 7,
                 "bind: expected a single value, found a list");
}

static void test_error_load_file(void **state)
{
    aip_yaml_error err;
    assert_null(aip_yaml_load(pool, FIXTURES "/does-not-exist.yaml", &err));
    assert_non_null(strstr(aip_yaml_error_string(pool, &err), "does-not-exist.yaml: cannot open"));
    assert_null(aip_yaml_load(pool, FIXTURES, &err));
    assert_string_equal(err.message, "not a regular file");
}

/* Every prefix of the seed example parses or fails cleanly (no crash, no leak: the unit
 * tests also run under valgrind/ASan). */
static void test_every_prefix_of_the_seed(void **state)
{
    aip_yaml_error err;
    aip_yaml_config *cfg = aip_yaml_load(pool, FIXTURES "/seed-example.yaml", &err);
    apr_file_t *f;
    char text[8192];
    apr_size_t len = sizeof(text) - 1;
    assert_non_null(cfg);
    assert_int_equal(apr_file_open(&f, FIXTURES "/seed-example.yaml", APR_FOPEN_READ, 0, pool),
                     APR_SUCCESS);
    apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    for (apr_size_t n = 0; n <= len; n++) {
        apr_pool_t *sub;
        apr_pool_create(&sub, pool);
        cfg = aip_yaml_parse(sub, "seed", text, n, &err);
        if (!cfg) {
            assert_non_null(err.message);
            assert_true(err.mark.line >= 0 && err.mark.line <= 70);
        }
        apr_pool_destroy(sub);
    }
}

static void test_api_key_objects(void **state)
{
    const aip_yaml_config *cfg = parse_ok("api-key:\n"
                                          "  - plain-key-1\n"
                                          "  - key: scoped-key-2\n"
                                          "    models: [gpt-*, claude-x]\n"
                                          "    rpm: 60\n"
                                          "    tpm: 100000\n"
                                          "  - {key: only-rpm-3, rpm: 5}\n");
    (void) state;
    assert_int_equal(cfg->api_keys->nelts, 3);
    assert_string_equal(client_key(cfg, 0)->key.value, "plain-key-1");
    assert_int_equal(client_key(cfg, 0)->models->nelts, 0);
    assert_int_equal(client_key(cfg, 0)->rpm.mark.line, 0);
    assert_string_equal(client_key(cfg, 1)->key.value, "scoped-key-2");
    assert_string_equal(item(client_key(cfg, 1)->models, 0), "gpt-*");
    assert_int_equal(client_key(cfg, 1)->rpm.value, 60);
    assert_int_equal(client_key(cfg, 1)->tpm.value, 100000);
    assert_int_equal(client_key(cfg, 2)->rpm.value, 5);
    assert_int_equal(client_key(cfg, 2)->tpm.value, 0);
}

/* An api-key object without its key, or with a limit out of range, names the entry. */
static void test_api_key_object_errors(void **state)
{
    (void) state;
    expect_error("api-key:\n  - plain\n  - models: [a]\n    rpm: 5\n", 3, 5,
                 "api-key[1]: key: is missing");
    expect_error("api-key:\n  - key: k\n    rpm: 0\n", 2, 5,
                 "api-key[0]: rpm and tpm must be from 1 to 1000000000");
    expect_error("api-key:\n  - key: k\n    tpm: 2000000000\n", 2, 5,
                 "api-key[0]: rpm and tpm must be from 1 to 1000000000");
}

/* Model name keys (issue 12): prefix, excluded models in both spellings, presets (which make
 * base_url optional) and endpoints; force_model_prefix in both spellings. */
static void test_model_name_keys(void **state)
{
    static const char *const force_spellings[] = {"force_model_prefix", "force-model-prefix"};
    static const char *const excluded_spellings[] = {"excluded_models", "excluded-models"};

    for (int i = 0; i < 2; i++) {
        aip_yaml_config *cfg = parse_ok(apr_psprintf(pool,
                                                     "%s: true\n"
                                                     "upstreams:\n"
                                                     "  - name: a\n"
                                                     "    base_url: https://x.example\n"
                                                     "    token: k\n"
                                                     "    prefix: team\n"
                                                     "    %s: [o1-*, gpt-4o]\n"
                                                     "  - name: z\n"
                                                     "    preset: zhipu\n"
                                                     "    token: k\n"
                                                     "    endpoint: /api/paas/v4/{model}\n",
                                                     force_spellings[i], excluded_spellings[i]));
        const aip_yaml_upstream *a = upstream(cfg, 0), *z = upstream(cfg, 1);
        assert_int_equal(cfg->force_model_prefix.value, 1);
        assert_true(cfg->force_model_prefix.mark.line > 0);
        assert_string_equal(a->prefix.value, "team");
        assert_int_equal(a->excluded_models->nelts, 2);
        assert_string_equal(APR_ARRAY_IDX(a->excluded_models, 0, aip_yaml_item).value, "o1-*");
        assert_null(a->preset.value);
        assert_string_equal(z->preset.value, "zhipu");
        assert_string_equal(z->endpoint.value, "/api/paas/v4/{model}");
        assert_int_equal(z->excluded_models->nelts, 0);
    }
    /* without force_model_prefix: off and not written */
    {
        aip_yaml_config *cfg = parse_ok("upstreams:\n  - name: a\n    base_url: "
                                        "https://x.example\n    token: k\n");
        assert_int_equal(cfg->force_model_prefix.value, 0);
        assert_int_equal(cfg->force_model_prefix.mark.line, 0);
    }
    /* no base_url and no preset: still refused */
    expect_error("upstreams:\n  - name: a\n    token: k\n", -1, 0, "base_url is required");
}

/* shared_state (issue 13): a store URL or none at the top level, checked when read. */
static void test_shared_state(void **state)
{
    aip_yaml_config *cfg = parse_ok("shared_state: redis://127.0.0.1:6379\n");
    assert_string_equal(cfg->shared_state.value, "redis://127.0.0.1:6379");
    assert_int_equal(cfg->shared_state.mark.line, 1);
    cfg = parse_ok("shared_state: none\n");
    assert_string_equal(cfg->shared_state.value, "none");
    cfg = parse_ok("upstreams: []\n");
    assert_null(cfg->shared_state.value);
    expect_error("shared_state: redis://u:p@h:1\n", 1, 15, "credentials in the URL");
    expect_error("\nshared_state: etcd://h:1\n", 2, 15, "unknown scheme 'etcd'");
    expect_error("shared_state: redis://h:1/0\n", 1, 15, "a path or query is not supported");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_string_or_list),
        cmocka_unit_test(test_scalars_and_nulls),
        cmocka_unit_test(test_weight_not_positive_becomes_one),
        cmocka_unit_test(test_compression_values),
        cmocka_unit_test(test_oauth_types),
        cmocka_unit_test(test_rerank_types),
        cmocka_unit_test(test_auth_files_absolute_and_deduplicated),
        cmocka_unit_test(test_unknown_keys_warn),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_listen_address),
        cmocka_unit_test(test_route_name),
        cmocka_unit_test(test_error_unknown_api_type),
        cmocka_unit_test(test_error_duplicate_upstream),
        cmocka_unit_test(test_error_missing_token),
        cmocka_unit_test(test_error_missing_auth_files),
        cmocka_unit_test(test_error_missing_name),
        cmocka_unit_test(test_error_fallback_cycle),
        cmocka_unit_test(test_fallback_long_chain_is_fine),
        cmocka_unit_test(test_error_bad_weight),
        cmocka_unit_test(test_error_bad_values),
        cmocka_unit_test(test_error_wrong_shapes),
        cmocka_unit_test(test_error_malformed_yaml),
        cmocka_unit_test(test_error_alias_bomb),
        cmocka_unit_test(test_error_deep_nesting),
        cmocka_unit_test(test_error_load_file),
        cmocka_unit_test(test_model_name_keys),
        cmocka_unit_test(test_shared_state),
        cmocka_unit_test(test_api_key_objects),
        cmocka_unit_test(test_api_key_object_errors),
        cmocka_unit_test(test_every_prefix_of_the_seed),
    };
    apr_initialize();
    atexit(apr_terminate);
    return cmocka_run_group_tests(tests, setup, teardown);
}
