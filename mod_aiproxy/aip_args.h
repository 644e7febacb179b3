/*
 * aip_args.h: the words of a directive line made of key=value settings (AIProxyUpstream).
 *
 * httpd's ap_getword_conf honours quotes only around a whole word ("header=Name: value"), so
 * the documented form header="Name: value" fell apart at its space. Here a word is a run of
 * characters up to unquoted white space, in which any quoted part ("..." or '...') may hold
 * spaces; the quotes are removed, and inside them a backslash makes the next character literal
 * (\" \' \\). Both forms give the word header=Name: value.
 */
#ifndef AIP_ARGS_H
#define AIP_ARGS_H

#include "apr_pools.h"

/* The next word of *line (advanced past it), or NULL at the end of the line. NULL with *err
 * set when a quote is not closed. */
char *aip_args_next_word(apr_pool_t *p, const char **line, const char **err);

#endif /* AIP_ARGS_H */
