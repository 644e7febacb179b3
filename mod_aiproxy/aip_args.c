/* aip_args.c: see aip_args.h. */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_args.h"

char *aip_args_next_word(apr_pool_t *p, const char **line, const char **err)
{
    const char *s = *line;
    char *word, *out;
    char quote = 0;

    *err = NULL;
    while (apr_isspace(*s))
        s++;
    if (!*s) {
        *line = s;
        return NULL;
    }
    /* The word is never longer than what is left of the line. */
    out = word = apr_palloc(p, strlen(s) + 1);
    for (; *s && (quote || !apr_isspace(*s)); s++) {
        if (quote && *s == '\\' && s[1]) {
            *out++ = *++s;
        } else if (quote && *s == quote) {
            quote = 0;
        } else if (!quote && (*s == '"' || *s == '\'')) {
            quote = *s;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
    *line = s;
    if (quote) {
        *err = apr_psprintf(p, "missing closing %c in %s", quote, word);
        return NULL;
    }
    return word;
}
