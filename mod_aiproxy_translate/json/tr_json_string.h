/*
 * json/tr_json_string.h: where JSON strings begin and end in text read a byte at a time,
 * without parsing it. The scanners that follow brackets through streamed JSON (the Gemini
 * array splitter, OpenAI tool-argument fragments, Kiro's calls written into text) must not
 * count a bracket inside a string, nor end a string at a backslash-escaped quote.
 */
#ifndef TR_JSON_STRING_H
#define TR_JSON_STRING_H

typedef struct {
    int open;    /* inside a string (after its opening quote) */
    int escaped; /* just after a backslash inside it */
} tr_json_string;

/* When a string is open, c belongs to it: follow its escapes and closing quote, and return 1.
 * Else return 0 without reading c; the caller handles it (and opens a string at '"' by setting
 * st->open). */
static inline int tr_json_string_read(tr_json_string *st, char c)
{
    if (!st->open)
        return 0;
    if (st->escaped)
        st->escaped = 0;
    else if (c == '\\')
        st->escaped = 1;
    else if (c == '"')
        st->open = 0;
    return 1;
}

#endif /* TR_JSON_STRING_H */
