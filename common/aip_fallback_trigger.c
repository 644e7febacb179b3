/* aip_fallback_trigger.c: see aip_fallback_trigger.h. */
#include <strings.h>
#include "aip_fallback_trigger.h"

/* What Antigravity's 503 says when the model has no capacity on that host. */
#define NO_CAPACITY_TEXT "no capacity available"

/* Does text (len bytes, not NUL-terminated) hold needle, ignoring case? */
static int contains_nocase(const char *text, apr_size_t len, const char *needle, apr_size_t n)
{
    for (apr_size_t i = 0; i + n <= len; i++) {
        if (!strncasecmp(text + i, needle, n))
            return 1;
    }
    return 0;
}

int aip_fallback_triggered(unsigned int triggers, int status, const char *body, apr_size_t len)
{
    if (status == 0)
        return (triggers & AIP_FALLBACK_ON_NO_RESPONSE) != 0;
    if (status == 429)
        return (triggers & AIP_FALLBACK_ON_429) != 0;
    if (status == 503 && (triggers & AIP_FALLBACK_ON_NO_CAPACITY) && body)
        return contains_nocase(body, len, NO_CAPACITY_TEXT, sizeof(NO_CAPACITY_TEXT) - 1);
    return 0;
}
