/* aip_passthrough.c: see aip_passthrough.h. */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_passthrough.h"

int aip_passthrough_split(apr_pool_t *p, const char *path, const char **upstream, const char **rest)
{
    size_t n = strlen(AIP_PASSTHROUGH_PREFIX);
    const char *name = path + n, *slash;

    if (strncmp(path, AIP_PASSTHROUGH_PREFIX, n) || !*name || *name == '/')
        return -1;
    slash = strchr(name, '/');
    *upstream = slash ? apr_pstrmemdup(p, name, (apr_size_t) (slash - name)) : name;
    *rest = slash ? slash : "/";
    return 0;
}

/* Is the segment [s, end) "." or "..", spelt plainly or percent-encoded? */
static int dot_segment(const char *s, const char *end)
{
    int dots = 0;

    while (s < end) {
        if (*s == '.')
            s++;
        else if (end - s >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E'))
            s += 3;
        else
            return 0;
        dots++;
    }
    return dots == 1 || dots == 2;
}

int aip_passthrough_path_safe(const char *raw_path)
{
    const char *s = raw_path;

    for (const char *c = s; *c; c++) {
        if (*c == '\\' || apr_iscntrl(*c))
            return 0;
        if (*c == '%' && c[1] && c[2]) {
            char hi = (char) apr_tolower(c[1]), lo = (char) apr_tolower(c[2]);
            /* %2f '/', %5c '\\', %25 '%' (a double encoding of any of them), and control
             * characters %00-%1f, %7f: CR/LF would split the upstream request line */
            if ((hi == '2' && (lo == 'f' || lo == '5')) || (hi == '5' && lo == 'c') || hi == '0' ||
                hi == '1' || (hi == '7' && lo == 'f'))
                return 0;
        }
    }
    while (*s) {
        const char *end;
        while (*s == '/')
            s++;
        end = strchr(s, '/');
        if (!end)
            end = s + strlen(s);
        if (end > s && dot_segment(s, end))
            return 0;
        s = end;
    }
    return 1;
}

static int in_list(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (!strcasecmp(list[i], name))
            return 1;
    return 0;
}

/* RFC 9110 7.6.1 and the ones proxies have always treated so. */
#define HOP_BY_HOP                                                                                 \
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",   \
        "TE", "Trailer", "Transfer-Encoding", "Upgrade"

int aip_passthrough_drops_request_header(const char *name)
{
    static const char *const dropped[] = {HOP_BY_HOP,
                                          "Host",
                                          "Content-Length",
                                          "Accept-Encoding",
                                          "Content-Encoding",
                                          "Authorization",
                                          "x-api-key",
                                          "x-goog-api-key",
                                          "api-key",
                                          "Cookie",
                                          "Cookie2",
                                          "Expect",
                                          "X-Forwarded-For",
                                          "X-Forwarded-Host",
                                          "X-Forwarded-Server",
                                          NULL};
    return in_list(dropped, name);
}

int aip_passthrough_drops_response_header(const char *name)
{
    static const char *const dropped[] = {HOP_BY_HOP, "Content-Length", NULL};
    return in_list(dropped, name);
}
