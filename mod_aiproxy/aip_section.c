/* aip_section.c: see aip_section.h. */
#include <string.h>
#include "apr_strings.h"
#include "aip_section.h"

/* What verifying an https upstream takes, and what tls_verify=off writes instead (NULL:
 * nothing). SSLProxyVerifyDepth: mod_ssl's default of 1 refuses chains with two
 * intermediates, which public providers serve. */
static const struct {
    const char *directive;
    const char *verified;
    const char *unverified;
} tls_directives[] = {
    {"SSLProxyVerify", "require", "none"},
    {"SSLProxyVerifyDepth", "10", NULL},
    {"SSLProxyCheckPeerName", "on", "off"},
    {"SSLProxyCheckPeerExpire", "on", "off"},
};

/* CA directives: an administrator who wrote either chose the trust store. */
static const char *const admin_ca_directives[] = {"SSLProxyCACertificateFile",
                                                  "SSLProxyCACertificatePath"};

static int is_https(const char *url)
{
    return url && !strncasecmp(url, "https://", 8);
}

int aip_upstream_is_https(const aip_upstream *up)
{
    /* its fallback bases are members of the same balancer, under the same section */
    for (int i = 0; up->fallbacks && i < up->fallbacks->nelts; i++) {
        if (is_https(APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base).url))
            return 1;
    }
    return is_https(up->base_url);
}

const char *aip_upstream_tls_check(apr_pool_t *p, const aip_upstream *up)
{
    if (aip_upstream_is_https(up))
        return NULL;
    if (up->tls_ca)
        return apr_psprintf(p, "tls_ca= is for https:// upstreams (base URL %s)", up->base_url);
    if (up->tls_verify_set)
        return apr_psprintf(p, "tls_verify= is for https:// upstreams (base URL %s)", up->base_url);
    return NULL;
}

static int admin_set(const aip_section_env *env, const char *directive)
{
    return env->admin_set && env->admin_set(directive, env->baton);
}

/* A directive line with its argument quoted for httpd's parser (ap_getword_conf takes \" for
 * a quote inside quotes and leaves other backslashes alone). */
static const char *line(apr_pool_t *p, const char *directive, const char *arg)
{
    char *quoted = apr_palloc(p, 2 * strlen(arg) + 1), *q = quoted;
    for (const char *c = arg; *c; c++) {
        if (*c == '"')
            *q++ = '\\';
        *q++ = *c;
    }
    *q = '\0';
    return apr_psprintf(p, "    %s \"%s\"\n", directive, quoted);
}

static const char *trust_store(apr_pool_t *p, const aip_upstream *up, const aip_section_env *env)
{
    if (up->tls_ca)
        return line(p, "SSLProxyCACertificateFile", up->tls_ca);
    if (!up->tls_verify)
        return "";
    for (size_t i = 0; i < sizeof(admin_ca_directives) / sizeof(admin_ca_directives[0]); i++) {
        if (admin_set(env, admin_ca_directives[i]))
            return "";
    }
    return line(p, "SSLProxyCACertificateFile", env->system_ca);
}

static const char *tls_lines(apr_pool_t *p, const aip_upstream *up, const aip_section_env *env)
{
    /* The engine is what makes https work at all: always on, whatever the server says. */
    const char *text = line(p, "SSLProxyEngine", "on");

    for (size_t i = 0; i < sizeof(tls_directives) / sizeof(tls_directives[0]); i++) {
        const char *value =
            up->tls_verify ? tls_directives[i].verified : tls_directives[i].unverified;
        if (!value || (!up->tls_verify_set && admin_set(env, tls_directives[i].directive)))
            continue;
        text = apr_pstrcat(p, text, line(p, tls_directives[i].directive, value), NULL);
    }
    return apr_pstrcat(p, text, trust_store(p, up, env), NULL);
}

const char *aip_upstream_section(apr_pool_t *p, const aip_upstream *up, const aip_section_env *env)
{
    /* The trailing slash keeps upstream "a" from matching balancer://aiproxy-ab requests:
     * <Proxy> sections match by prefix. */
    return apr_pstrcat(p, "<Proxy \"", up->balancer, "/\">\n",
                       line(p, "ProxyAddHeaders", up->forwarded_headers ? "on" : "off"),
                       aip_upstream_is_https(up) ? tls_lines(p, up, env) : "", "</Proxy>\n", NULL);
}
