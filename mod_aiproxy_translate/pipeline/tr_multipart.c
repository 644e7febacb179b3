/* pipeline/tr_multipart.c: see pipeline/tr_multipart.h. */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "pipeline/tr_multipart.h"

/* RFC 2046 bchars: the boundary never holds CR, which the delimiter matcher relies on. */
static int is_bchar(char c)
{
    return apr_isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

const char *tr_multipart_boundary(apr_pool_t *p, const char *content_type)
{
    const char *at = content_type;
    static const char type[] = "multipart/form-data";

    if (!at)
        return NULL;
    while (apr_isspace(*at))
        at++;
    if (strncasecmp(at, type, sizeof(type) - 1))
        return NULL;
    at += sizeof(type) - 1;
    while ((at = strchr(at, ';')) != NULL) {
        const char *start, *end;
        at++;
        while (apr_isspace(*at))
            at++;
        if (strncasecmp(at, "boundary=", 9))
            continue;
        start = at + 9;
        if (*start == '"') {
            start++;
            end = strchr(start, '"');
            if (!end)
                return NULL;
        } else {
            for (end = start; *end && *end != ';' && !apr_isspace(*end); end++)
                ;
        }
        if (end == start || end - start > TR_MULTIPART_MAX_BOUNDARY || end[-1] == ' ')
            return NULL;
        for (const char *c = start; c < end; c++)
            if (!is_bchar(*c))
                return NULL;
        return apr_pstrmemdup(p, start, (apr_size_t) (end - start));
    }
    return NULL;
}

typedef enum {
    ST_PREAMBLE,   /* before the first delimiter */
    ST_DELIM_END,  /* just past "--boundary": "--" closes, else padding, then CRLF */
    ST_CLOSE_DASH, /* one '-' of the closing "--" seen */
    ST_PADDING,    /* transport padding before the delimiter line's CRLF */
    ST_DELIM_LF,   /* the delimiter line's CR seen */
    ST_HEADERS,    /* in a part-header line */
    ST_HEADER_LF,  /* a part-header line's CR seen */
    ST_VALUE,      /* in a part's value */
    ST_EPILOGUE,   /* after the closing delimiter: ignored */
    ST_INVALID
} scan_state;

struct tr_multipart_finder {
    char *delim; /* "\r\n--" boundary: what ends a value (and, CRLF implied, the preamble) */
    apr_size_t delim_len;
    const char *field;
    apr_size_t field_len;
    scan_state state;
    apr_size_t offset;  /* body bytes scanned so far */
    apr_size_t matched; /* bytes of delim matched so far */
    char line[TR_MULTIPART_MAX_HEADER_LINE];
    apr_size_t line_len;
    int part_is_field; /* the current part is the field: its name, no filename */
    apr_size_t value_start;
    char *value; /* the field's bytes, and up to delim_len more that may end it */
    apr_size_t value_len, value_cap;
    int found, duplicate, too_long;
    apr_size_t found_offset, found_len;
};

tr_multipart_finder *tr_multipart_finder_create(apr_pool_t *p, const char *boundary,
                                                const char *field)
{
    tr_multipart_finder *f = apr_pcalloc(p, sizeof(*f));

    f->delim = apr_pstrcat(p, "\r\n--", boundary, NULL);
    f->delim_len = strlen(f->delim);
    f->field = field;
    f->field_len = strlen(field);
    f->state = ST_PREAMBLE;
    f->matched = 2; /* a body may open with the delimiter: the CRLF before it is implied */
    f->value_cap = TR_MULTIPART_MAX_VALUE + f->delim_len;
    f->value = apr_palloc(p, f->value_cap + 1);
    return f;
}

/* One more byte against the delimiter; 1 when it completes it. A mismatch restarts the match
 * at this byte, which is exact because only the delimiter's first byte is a CR. */
static int delimiter_step(tr_multipart_finder *f, char c)
{
    if (c == f->delim[f->matched]) {
        if (++f->matched < f->delim_len)
            return 0;
        f->matched = 0;
        return 1;
    }
    f->matched = c == '\r';
    return 0;
}

/* The value of parameter key (name or filename) in a Content-Disposition value [v, end):
 * quoted or a bare token. Returns 1 and sets *value, *value_len when present. */
static int disposition_param(const char *v, const char *end, const char *key, const char **value,
                             apr_size_t *value_len)
{
    apr_size_t key_len = strlen(key);

    while (v < end) {
        const char *semi = memchr(v, ';', (apr_size_t) (end - v));
        const char *param_end = semi ? semi : end;
        const char *at = v;
        while (at < param_end && (*at == ' ' || *at == '\t'))
            at++;
        if ((apr_size_t) (param_end - at) > key_len && !strncasecmp(at, key, key_len) &&
            at[key_len] == '=') {
            const char *val = at + key_len + 1;
            if (*val == '"') {
                const char *close = memchr(val + 1, '"', (apr_size_t) (end - val - 1));
                if (!close)
                    return 0;
                *value = val + 1;
                *value_len = (apr_size_t) (close - val - 1);
                return 1;
            }
            while (param_end > val && (param_end[-1] == ' ' || param_end[-1] == '\t'))
                param_end--;
            *value = val;
            *value_len = (apr_size_t) (param_end - val);
            return 1;
        }
        if (!semi)
            break;
        v = semi + 1;
    }
    return 0;
}

/* A complete part-header line: only Content-Disposition matters (the form name, and whether
 * the part is a file). */
static void header_line(tr_multipart_finder *f)
{
    static const char disposition[] = "content-disposition:";
    const char *v = f->line + sizeof(disposition) - 1, *end = f->line + f->line_len, *name, *file;
    apr_size_t name_len, file_len;

    if (f->line_len < sizeof(disposition) - 1 ||
        strncasecmp(f->line, disposition, sizeof(disposition) - 1))
        return;
    f->part_is_field = disposition_param(v, end, "name", &name, &name_len) &&
                       name_len == f->field_len && !memcmp(name, f->field, name_len) &&
                       !disposition_param(v, end, "filename", &file, &file_len);
}

/* A part's value ended at the delimiter just matched. */
static void value_end(tr_multipart_finder *f)
{
    apr_size_t len = f->offset + 1 - f->delim_len - f->value_start;

    if (!f->part_is_field)
        return;
    if (f->found) {
        f->duplicate = 1;
        return;
    }
    f->found = 1;
    f->found_offset = f->value_start;
    f->found_len = len;
    if (len > TR_MULTIPART_MAX_VALUE)
        f->too_long = 1;
}

/* Advance over one byte c at f->offset. */
static void scan_byte(tr_multipart_finder *f, char c)
{
    switch (f->state) {
    case ST_PREAMBLE:
        if (delimiter_step(f, c))
            f->state = ST_DELIM_END;
        break;
    case ST_DELIM_END:
        f->state = c == '-'                ? ST_CLOSE_DASH
                   : c == ' ' || c == '\t' ? ST_PADDING
                   : c == '\r'             ? ST_DELIM_LF
                                           : ST_INVALID;
        break;
    case ST_CLOSE_DASH:
        f->state = c == '-' ? ST_EPILOGUE : ST_INVALID;
        break;
    case ST_PADDING:
        f->state = c == ' ' || c == '\t' ? ST_PADDING : c == '\r' ? ST_DELIM_LF : ST_INVALID;
        break;
    case ST_DELIM_LF:
        f->state = c == '\n' ? ST_HEADERS : ST_INVALID;
        f->line_len = 0;
        f->part_is_field = 0;
        break;
    case ST_HEADERS:
        if (c == '\r')
            f->state = ST_HEADER_LF;
        else if (c == '\n' || f->line_len == sizeof(f->line))
            f->state = ST_INVALID;
        else
            f->line[f->line_len++] = c;
        break;
    case ST_HEADER_LF:
        if (c != '\n') {
            f->state = ST_INVALID;
        } else if (f->line_len == 0) { /* the blank line: the value follows */
            f->state = ST_VALUE;
            f->value_start = f->offset + 1;
            f->value_len = 0;
            f->matched = 0;
        } else {
            header_line(f);
            f->line_len = 0;
            f->state = ST_HEADERS;
        }
        break;
    case ST_VALUE:
        if (f->part_is_field && !f->found && f->value_len < f->value_cap)
            f->value[f->value_len++] = c;
        if (delimiter_step(f, c)) {
            value_end(f);
            f->state = ST_DELIM_END;
        }
        break;
    case ST_EPILOGUE:
    case ST_INVALID:
        break;
    }
    f->offset++;
}

void tr_multipart_finder_feed(tr_multipart_finder *f, const char *data, apr_size_t len)
{
    const char *end = data + len;

    while (data < end) {
        if (f->state == ST_EPILOGUE || f->state == ST_INVALID) {
            f->offset += (apr_size_t) (end - data);
            return;
        }
        /* The bulk of an upload: nothing to do before the next CR unless a match is under way
         * or the bytes are the field's. */
        if ((f->state == ST_VALUE || f->state == ST_PREAMBLE) && f->matched == 0 &&
            !(f->state == ST_VALUE && f->part_is_field && !f->found)) {
            const char *cr = memchr(data, '\r', (apr_size_t) (end - data));
            apr_size_t skip = (apr_size_t) ((cr ? cr : end) - data);
            f->offset += skip;
            data += skip;
            if (!cr)
                return;
        }
        scan_byte(f, *data++);
    }
}

tr_multipart_lookup tr_multipart_finder_finish(tr_multipart_finder *f, const char **value,
                                               apr_size_t *value_len, apr_size_t *offset)
{
    *value = NULL;
    *value_len = *offset = 0;
    if (f->state != ST_EPILOGUE)
        return TR_MULTIPART_INVALID;
    if (f->duplicate)
        return TR_MULTIPART_DUPLICATE;
    if (!f->found)
        return TR_MULTIPART_ABSENT;
    if (f->too_long)
        return TR_MULTIPART_TOO_LONG;
    f->value[f->found_len] = '\0';
    *value = f->value;
    *value_len = f->found_len;
    *offset = f->found_offset;
    return TR_MULTIPART_FOUND;
}

tr_multipart_lookup tr_multipart_find_field(apr_pool_t *p, const char *body, apr_size_t len,
                                            const char *boundary, const char *field,
                                            const char **value, apr_size_t *value_len,
                                            apr_size_t *offset)
{
    tr_multipart_finder *f = tr_multipart_finder_create(p, boundary, field);

    tr_multipart_finder_feed(f, body, len);
    return tr_multipart_finder_finish(f, value, value_len, offset);
}
