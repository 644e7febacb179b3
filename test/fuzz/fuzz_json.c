/*
 * fuzz_json.c: differential libFuzzer harness for the translate core's JSON parser and writer
 * (json/tr_jv.c) against jansson, an independent implementation.
 *
 * For every input: both parsers must agree on accept/refuse. Allowed differences: nesting
 * (tr_jv stops at TR_JV_MAX_DEPTH, jansson at 2048) and a raw NUL byte right after a number,
 * which jansson 2.14 skips together with the next character ("[1\0]" reads as [1]); when both
 * accept, tr_jv's output must parse in jansson to a value equal to jansson's own tree, and parse in
 * tr_jv again to exactly the same text (the writer is a fixed point). Any mismatch aborts with both
 * texts.
 *
 * The tree-less document check (json/tr_json_check.c) must accept whatever tr_jv accepts and
 * refuse only what jansson refuses too (it does not look at UTF-8, number ranges or NULs in
 * keys, which both parsers check, so it may accept more than they do).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "json/tr_json_check.h"
#include "json/tr_jv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *root_pool;

static int nests_deeper_than(const uint8_t *data, size_t size, int limit)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < size; i++) {
        if (in_string) {
            if (data[i] == '\\')
                i++;
            else if (data[i] == '"')
                in_string = 0;
        } else if (data[i] == '"')
            in_string = 1;
        else if (data[i] == '[' || data[i] == '{') {
            if (++depth > limit)
                return 1;
        } else if (data[i] == ']' || data[i] == '}')
            depth--;
    }
    return 0;
}

static void mismatch(const char *what, const uint8_t *data, size_t size, const char *a,
                     const char *b)
{
    fprintf(stderr, "fuzz_json: %s\ninput: %.*s\ntr_jv: %s\njansson: %s\n", what, (int) size,
            (const char *) data, a ? a : "(none)", b ? b : "(none)");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    aiproxy_error err;
    json_error_t jerr;
    tr_jv *mine;
    json_t *theirs;

    if (!root_pool) {
        apr_initialize();
        apr_pool_create(&root_pool, NULL);
    }
    apr_pool_create(&p, root_pool);
    mine = tr_jv_parse(p, (const char *) data, size, &err);
    theirs = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

    if (!mine && theirs && !nests_deeper_than(data, size, TR_JV_MAX_DEPTH) &&
        !memchr(data, 0, size))
        mismatch("refused what jansson accepts", data, size, err.message, "accepted");
    if (mine && !theirs)
        mismatch("accepted what jansson refuses", data, size, "accepted", jerr.text);
    if (mine && !tr_json_is_document((const char *) data, size))
        mismatch("document check refused what tr_jv accepts", data, size, "refused", "accepted");
    if (theirs && !tr_json_is_document((const char *) data, size) &&
        !nests_deeper_than(data, size, TR_JV_MAX_DEPTH) && !memchr(data, 0, size))
        mismatch("document check refused what jansson accepts", data, size, "refused", "accepted");
    if (mine && theirs) {
        apr_size_t len, len2;
        const char *text = tr_jv_dump(p, mine, &len);
        json_t *back = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        tr_jv *again = tr_jv_parse(p, text, len, &err);
        const char *text2 = again ? tr_jv_dump(p, again, &len2) : NULL;

        if (!back || !json_equal(back, theirs)) {
            char *j = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
            mismatch("written value differs from jansson's", data, size, text, j);
        }
        if (!text2 || len2 != len || memcmp(text, text2, len) != 0)
            mismatch("writer is not a fixed point", data, size, text, text2);
        json_decref(back);
    }
    json_decref(theirs);
    apr_pool_destroy(p);
    return 0;
}
