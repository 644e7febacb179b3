/* aip_shared.c: see aip_shared.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_atomic.h"
#include "apr_network_io.h"
#include "apr_strings.h"
#include "aip_shared.h"

/* Providers by the names the directive and the URL scheme take. */
static const struct {
    const char *name;     /* as written */
    const char *provider; /* socache provider name */
} providers[] = {
    {"redis", "redis"},
    {"memcache", "memcache"},
    {"memcached", "memcache"},
};

static const char *provider_of(const char *name)
{
    for (apr_size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (!strcasecmp(name, providers[i].name))
            return providers[i].provider;
    }
    return NULL;
}

/* Every comma-separated entry is host[:port]. */
static const char *check_address(apr_pool_t *p, const char *address)
{
    char *list = apr_pstrdup(p, address), *last, *entry;

    if (!*address)
        return "an address host:port is needed";
    for (entry = apr_strtok(list, ",", &last); entry; entry = apr_strtok(NULL, ",", &last)) {
        char *host = NULL, *scope = NULL;
        apr_port_t port = 0;
        /* apr takes "h:x" for a host named so; only [v6]:port may hold a colon */
        if (apr_parse_addr_port(&host, &scope, &port, entry, p) != APR_SUCCESS || !host ||
            (*entry != '[' && strchr(host, ':')))
            return apr_psprintf(p, "'%s' is not host:port", entry);
    }
    return NULL;
}

const char *aip_shared_parse(apr_pool_t *p, const char *kind, const char *address,
                             aip_shared_spec *spec)
{
    const char *msg;

    spec->provider = NULL;
    spec->address = NULL;
    if (!strcasecmp(kind, "none"))
        return address ? "none takes no address" : NULL;
    if ((spec->provider = provider_of(kind)) == NULL)
        return apr_psprintf(p, "unknown store '%s' (redis, memcache or none)", kind);
    if (!address)
        return apr_psprintf(p, "%s needs an address host:port", kind);
    if ((msg = check_address(p, address)) != NULL)
        return msg;
    spec->address = apr_pstrdup(p, address);
    return NULL;
}

const char *aip_shared_parse_url(apr_pool_t *p, const char *url, aip_shared_spec *spec)
{
    const char *sep = strstr(url, "://");
    char *scheme, *rest;
    apr_size_t len;

    if (!sep)
        return !strcasecmp(url, "none")
                   ? aip_shared_parse(p, "none", NULL, spec)
                   : "expected redis://host:port, memcache://host:port or none";
    scheme = apr_pstrmemdup(p, url, sep - url);
    rest = apr_pstrdup(p, sep + 3);
    if (strchr(rest, '@'))
        return "credentials in the URL are not supported (mod_socache_redis sends no AUTH): "
               "keep the store on a private network";
    len = strlen(rest);
    if (len && rest[len - 1] == '/')
        rest[--len] = '\0';
    if (strchr(rest, '/') || strchr(rest, '?'))
        return "a path or query is not supported: give only host:port";
    if (!provider_of(scheme))
        return apr_psprintf(p, "unknown scheme '%s' (redis:// or memcache://)", scheme);
    return aip_shared_parse(p, scheme, rest, spec);
}

/* FNV-1a, 64 bits: stable across builds and machines, so every gateway hashes alike. */
static apr_uint64_t fnv1a64(const char *s)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= APR_UINT64_C(1099511628211);
    }
    return h;
}

const char *aip_shared_key(apr_pool_t *p, aip_breaker_kind kind, const char *upstream,
                           const char *guarded)
{
    const char *key = apr_pstrcat(p, "aiproxy:v1:", kind == AIP_BREAKER_TOKEN ? "token" : "breaker",
                                  ":", upstream, ":", guarded, NULL);
    const int keep = AIP_SHARED_ID_MAX - 17; /* room for "#" and 16 hex digits */

    if (strlen(key) <= AIP_SHARED_ID_MAX)
        return key;
    return apr_psprintf(p, "%.*s#%016" APR_UINT64_T_HEX_FMT, keep, key, fnv1a64(key));
}

apr_size_t aip_shared_encode(const aip_shared_record *rec, char *buf, apr_size_t size)
{
    int n = snprintf(buf, size, "v1 %u %u %u", (unsigned) rec->open_until, (unsigned) rec->failures,
                     (unsigned) rec->status);
    return n > 0 && (apr_size_t) n < size ? (apr_size_t) n : 0;
}

/* One decimal field of at most 10 digits that fits 32 bits; then end when last, else one
 * space. Returns where the next field starts, or NULL. */
static const char *read_u32(const char *s, const char *end, int last, apr_uint32_t *out)
{
    apr_uint64_t v = 0;
    const char *start = s;

    while (s < end && *s >= '0' && *s <= '9' && s - start < 11)
        v = v * 10 + (apr_uint64_t) (*s++ - '0');
    if (s == start || v > 0xffffffffu)
        return NULL;
    if (last ? s != end : (s == end || *s != ' '))
        return NULL;
    *out = (apr_uint32_t) v;
    return last ? s : s + 1;
}

int aip_shared_decode(const char *data, apr_size_t len, aip_shared_record *rec)
{
    const char *end = data + len, *s = data;
    aip_shared_record r;

    if (len < 3 || len > AIP_SHARED_VALUE_MAX || memcmp(data, "v1 ", 3) != 0)
        return -1;
    s += 3;
    if ((s = read_u32(s, end, 0, &r.open_until)) == NULL ||
        (s = read_u32(s, end, 0, &r.failures)) == NULL ||
        (s = read_u32(s, end, 1, &r.status)) == NULL)
        return -1;
    *rec = r;
    return 0;
}

/* A store entry must live a whole second at least: socache stores count in seconds. */
#define MIN_STORE_SECONDS 2

aip_shared_action aip_shared_after_change(apr_uint32_t open_before, const aip_breaker_slot *slot,
                                          apr_uint32_t now)
{
    apr_uint32_t open_until = apr_atomic_read32((volatile apr_uint32_t *) &slot->open_until);

    if (open_until >= now + MIN_STORE_SECONDS && open_until != open_before)
        return AIP_SHARED_STORE;
    if (open_before > now && open_until <= now)
        return AIP_SHARED_REMOVE;
    return AIP_SHARED_KEEP;
}

int aip_shared_apply(aip_breaker_slot *slot, const aip_shared_record *rec, apr_uint32_t now)
{
    apr_uint32_t before = apr_atomic_read32(&slot->open_until);

    if (rec->open_until <= now || rec->open_until <= before)
        return 0;
    aip_breaker_hold_open(slot, now, (long) (rec->open_until - now));
    if (rec->failures > apr_atomic_read32(&slot->failures))
        apr_atomic_set32(&slot->failures, rec->failures);
    if (rec->status)
        apr_atomic_set32(&slot->last_status, rec->status);
    return 1;
}

#define BACKOFF_FIRST 5
#define BACKOFF_MAX   60

apr_uint32_t aip_shared_backoff(apr_uint32_t failures_in_row)
{
    apr_uint32_t seconds = BACKOFF_FIRST;

    for (apr_uint32_t i = 1; i < failures_in_row && seconds < BACKOFF_MAX; i++)
        seconds *= 2;
    return seconds < BACKOFF_MAX ? seconds : BACKOFF_MAX;
}

int aip_shared_due(volatile apr_uint32_t *next, apr_uint32_t now, apr_uint32_t interval)
{
    apr_uint32_t seen = apr_atomic_read32(next);

    if (now < seen)
        return 0;
    return apr_atomic_cas32(next, now + interval, seen) == seen;
}
