/*
 * json/tr_json_check.h: is a byte string one complete JSON document? Answered without building
 * a tree, for the answers the gateway passes through unchanged: it only has to know that the
 * whole answer arrived (an upstream that broke off mid-body, a truncated compressed body or a
 * 200 with garbage is no answer to send), and parsing the whole body into tr_jv would cost
 * more than everything else the gateway does for such a request.
 */
#ifndef TR_JSON_CHECK_H
#define TR_JSON_CHECK_H

#include "apr.h"

/* 1 when text is exactly one JSON value (RFC 8259 grammar, nesting at most TR_JV_MAX_DEPTH)
 * with only whitespace around it, else 0. Strings are checked for their grammar (escapes,
 * no raw control bytes), not for valid UTF-8: the bytes go to the client as they came. */
int tr_json_is_document(const char *text, apr_size_t len);

#endif /* TR_JSON_CHECK_H */
