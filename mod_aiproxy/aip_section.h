/*
 * aip_section.h: the <Proxy> section each upstream's balancer gets, as configuration text.
 *
 * An upstream is a mod_proxy balancer; what mod_proxy and mod_ssl do on its connections is
 * set by the directives of its <Proxy "balancer://aiproxy-NAME/"> section, exactly as an
 * administrator would write them. The gateway writes that section itself so that:
 *   - an https:// upstream is verified by default: SSLProxyEngine on, SSLProxyVerify require,
 *     peer name and expiry checked, against the system CA bundle (httpd's own default is
 *     SSLProxyVerify none, which would send API keys to whoever answers);
 *   - the client's address stays at home: ProxyAddHeaders Off (no X-Forwarded-For/-Host/
 *     -Server to third-party providers) unless the upstream says forwarded_headers=on.
 * SSLProxy* directives an administrator wrote for the server keep working: a default of ours
 * steps aside for them. What the upstream itself says (tls_verify=, tls_ca=) wins over both.
 */
#ifndef AIP_SECTION_H
#define AIP_SECTION_H

#include "apr_pools.h"
#include "aip_config.h"

/* Debian's bundle of the system's trusted CAs (package ca-certificates). */
#define AIP_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

typedef struct {
    /* Did the administrator write this directive for the upstream's server (or the main
     * server it inherits from)? */
    int (*admin_set)(const char *directive, void *baton);
    void *baton;
    const char *system_ca; /* used when neither the upstream nor the administrator names one */
} aip_section_env;

/* Is up's base URL, or one of its fallback bases, https? */
int aip_upstream_is_https(const aip_upstream *up);

/* TLS settings that make no sense for up (tls_ca= on an http:// URL ...): NULL or a message. */
const char *aip_upstream_tls_check(apr_pool_t *p, const aip_upstream *up);

/* The <Proxy> section for up's balancer (up->balancer set), as configuration lines. */
const char *aip_upstream_section(apr_pool_t *p, const aip_upstream *up, const aip_section_env *env);

#endif /* AIP_SECTION_H */
