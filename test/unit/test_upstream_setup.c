/*
 * Unit tests of how an upstream is set up: the words of AIProxyUpstream (quoted values) and
 * the <Proxy> section written for its balancer (TLS verification, forwarded headers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "apr_general.h"
#include "apr_strings.h"
#include "aip_args.h"
#include "aip_config.h"
#include "aip_route.h"
#include "aip_section.h"

static apr_pool_t *pool;

/* ---- words ---------------------------------------------------------------------------------- */

/* All words of line joined with '|', or "ERR:<message>". */
static const char *words(const char *line)
{
    const char *err = NULL, *joined = NULL;
    char *word;

    while ((word = aip_args_next_word(pool, &line, &err)) != NULL)
        joined = joined ? apr_pstrcat(pool, joined, "|", word, NULL) : word;
    if (err)
        return apr_pstrcat(pool, "ERR:", err, NULL);
    return joined ? joined : "";
}

static void test_words(void **state)
{
    static const struct {
        const char *line;
        const char *words;
    } cases[] = {
        {"a b  c", "a|b|c"},
        {"", ""},
        {"   \t ", ""},
        /* the documented form and httpd's whole-word form give the same word */
        {"header=\"X-Tenant: t1\" token=k", "header=X-Tenant: t1|token=k"},
        {"\"header=X-Tenant: t1\" token=k", "header=X-Tenant: t1|token=k"},
        {"header='a: b c'", "header=a: b c"},
        {"x=\"say \\\"hi\\\"\"", "x=say \"hi\""},
        {"x=\"a\\\\b\"", "x=a\\b"},
        {"x=\"it's\"", "x=it's"},
        {"x=''", "x="},
        {"https://h/p api=openai", "https://h/p|api=openai"},
        {"x=a\"b c\"d e", "x=ab cd|e"},
        {"x=\"open", "ERR:missing closing \" in x=open"},
        {"x='open", "ERR:missing closing ' in x=open"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(words(cases[i].line), cases[i].words);
}

/* ---- the <Proxy> section -------------------------------------------------------------------- */

static aip_upstream *https_upstream(const char *settings)
{
    aip_upstream *up = aip_upstream_create(pool, "prov", "https://api.example.com");
    const char *err = NULL;
    char *word;

    up->balancer = "balancer://aiproxy-prov";
    while ((word = aip_args_next_word(pool, &settings, &err)) != NULL) {
        char *eq = strchr(word, '=');
        assert_non_null(eq);
        *eq = '\0';
        assert_null(aip_upstream_set(pool, up, word, eq + 1));
    }
    assert_null(err);
    return up;
}

static int admin_wrote(const char *directive, void *baton)
{
    for (const char *const *d = baton; *d; d++) {
        if (!strcasecmp(*d, directive))
            return 1;
    }
    return 0;
}

static const char *section(const aip_upstream *up, const char *const *admin)
{
    aip_section_env env = {admin_wrote, (void *) admin, "/sys/ca.pem"};
    return aip_upstream_section(pool, up, &env);
}

static const char *const nothing[] = {NULL};

static void test_section_verifies_https_by_default(void **state)
{
    assert_string_equal(section(https_upstream(""), nothing),
                        "<Proxy \"balancer://aiproxy-prov/\">\n"
                        "    ProxyAddHeaders \"off\"\n"
                        "    SSLProxyEngine \"on\"\n"
                        "    SSLProxyVerify \"require\"\n"
                        "    SSLProxyVerifyDepth \"10\"\n"
                        "    SSLProxyCheckPeerName \"on\"\n"
                        "    SSLProxyCheckPeerExpire \"on\"\n"
                        "    SSLProxyCACertificateFile \"/sys/ca.pem\"\n"
                        "</Proxy>\n");
}

static void test_section_http_has_no_tls(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "local", "http://127.0.0.1:9");
    up->balancer = "balancer://aiproxy-local";
    assert_string_equal(section(up, nothing), "<Proxy \"balancer://aiproxy-local/\">\n"
                                              "    ProxyAddHeaders \"off\"\n"
                                              "</Proxy>\n");
    assert_null(aip_upstream_set(pool, up, "forwarded_headers", "on"));
    assert_non_null(strstr(section(up, nothing), "ProxyAddHeaders \"on\""));
}

static void test_section_upstream_settings(void **state)
{
    const char *text = section(https_upstream("tls_ca=\"/etc/my \\\"ca\\\".pem\""), nothing);
    assert_non_null(strstr(text, "SSLProxyCACertificateFile \"/etc/my \\\"ca\\\".pem\"\n"));
    assert_null(strstr(text, "/sys/ca.pem"));

    text = section(https_upstream("tls_verify=off"), nothing);
    assert_non_null(strstr(text, "SSLProxyEngine \"on\""));
    assert_non_null(strstr(text, "SSLProxyVerify \"none\""));
    assert_non_null(strstr(text, "SSLProxyCheckPeerName \"off\""));
    assert_non_null(strstr(text, "SSLProxyCheckPeerExpire \"off\""));
    assert_null(strstr(text, "SSLProxyVerifyDepth"));
    assert_null(strstr(text, "CACertificate"));
}

static void test_section_admin_directives_win_over_defaults(void **state)
{
    static const char *const admin[] = {"SSLProxyVerify", "SSLProxyCACertificatePath", NULL};
    const char *text = section(https_upstream(""), admin);

    assert_null(strstr(text, "SSLProxyVerify \""));
    assert_null(strstr(text, "CACertificateFile"));
    assert_non_null(strstr(text, "SSLProxyEngine \"on\""));
    assert_non_null(strstr(text, "SSLProxyCheckPeerName \"on\""));
    /* what the upstream itself says beats the administrator's server-wide choice */
    text = section(https_upstream("tls_verify=on tls_ca=/mine.pem"), admin);
    assert_non_null(strstr(text, "SSLProxyVerify \"require\""));
    assert_non_null(strstr(text, "SSLProxyCACertificateFile \"/mine.pem\""));
}

static void test_tls_check(void **state)
{
    aip_upstream *up = aip_upstream_create(pool, "local", "http://127.0.0.1:9");
    assert_null(aip_upstream_tls_check(pool, up));
    assert_null(aip_upstream_set(pool, up, "tls_verify", "off"));
    assert_non_null(strstr(aip_upstream_tls_check(pool, up), "tls_verify= is for https://"));
    assert_null(aip_upstream_tls_check(pool, https_upstream("tls_verify=off tls_ca=/x")));
    assert_non_null(aip_upstream_set(pool, up, "tls_ca", ""));
    assert_non_null(aip_upstream_set(pool, up, "tls_verify", "maybe"));
    assert_true(aip_upstream_is_https(https_upstream("")));
    assert_false(aip_upstream_is_https(up));
}

/* ---- routes below a mount prefix ------------------------------------------------------------ */

static void test_route_find_below_prefix(void **state)
{
    static const struct {
        const char *path;
        const char *route; /* NULL: unknown */
        aiproxy_proto proto;
    } cases[] = {
        {"/v1/messages", "/v1/messages", AIPROXY_PROTO_ANTHROPIC},
        {"/ai/v1/messages", "/v1/messages", AIPROXY_PROTO_ANTHROPIC},
        {"/a/b/c/v1/responses/compact", "/v1/responses/compact", AIPROXY_PROTO_RESPONSES},
        {"/ai/v1beta/models/g:generateContent", "/v1beta/models/g:generateContent",
         AIPROXY_PROTO_GEMINI},
        {"/v1/v1/chat/completions", "/v1/chat/completions", AIPROXY_PROTO_OPENAI},
        {"/ai/v1/nope", NULL, 0},
        {"", NULL, 0},
        {"no-slash", NULL, 0},
        {"/", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aip_route route;
        const char *at = "unset";
        aip_route_result res = aip_route_find(pool, cases[i].path, NULL, &route, &at);
        if (!cases[i].route) {
            assert_int_equal(res, AIP_ROUTE_UNKNOWN);
            assert_null(at);
            continue;
        }
        assert_int_equal(res, AIP_ROUTE_MATCHED);
        assert_string_equal(at, cases[i].route);
        assert_int_equal(route.proto, cases[i].proto);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_section_verifies_https_by_default),
        cmocka_unit_test(test_section_http_has_no_tls),
        cmocka_unit_test(test_section_upstream_settings),
        cmocka_unit_test(test_section_admin_directives_win_over_defaults),
        cmocka_unit_test(test_tls_check),
        cmocka_unit_test(test_route_find_below_prefix),
    };
    int failed;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return failed;
}
