/* oa_authfile_update.c: see oa_authfile_update.h. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_authfile.h"
#include "oa_authfile_format.h"
#include "oa_authfile_update.h"
#include "oa_json.h"

/* Widest indentation copied from a file; wider ones are written with this many spaces. */
#define OA_INDENT_MAX 8

/* The token fields of a refresh, by the oa_credential field their path is found by. */
static const struct {
    size_t credential_offset;
    size_t update_offset;
} owned_strings[] = {
    {offsetof(oa_credential, access_token), offsetof(oa_token_update, access_token)},
    {offsetof(oa_credential, refresh_token), offsetof(oa_token_update, refresh_token)},
    {offsetof(oa_credential, id_token), offsetof(oa_token_update, id_token)},
    {offsetof(oa_credential, profile_arn), offsetof(oa_token_update, profile_arn)},
};

/* A time value shaped like the one at path: a string stays RFC 3339, a number stays a
 * number in unit (seconds when unit is RFC 3339); when nothing is there yet, unit decides. */
static json_t *time_like(apr_pool_t *p, json_t *existing, apr_time_t t, oa_time_unit unit)
{
    if (json_is_string(existing))
        return oa_time_to_json(p, t, OA_TIME_RFC3339);
    if (json_is_number(existing) && unit == OA_TIME_RFC3339)
        return oa_time_to_json(p, t, OA_TIME_EPOCH_S);
    return oa_time_to_json(p, t, unit);
}

static int set_time(apr_pool_t *p, json_t *root, const char *path, apr_time_t t, oa_time_unit unit)
{
    return oa_json_path_set(root, path, time_like(p, oa_json_path_get(root, path), t, unit));
}

static int update_strings(const oa_authfile_format *f, json_t *root, const oa_token_update *u)
{
    for (size_t i = 0; i < sizeof(owned_strings) / sizeof(owned_strings[0]); i++) {
        const char *value =
            *(const char *const *) ((const char *) u + owned_strings[i].update_offset);
        const char *path = oa_authfile_format_path(f, owned_strings[i].credential_offset);
        if (value && path && oa_json_path_set(root, path, json_string(value)))
            return -1;
    }
    return 0;
}

/* Every expiry field the file has gets the new time; a file with none gets the format's
 * first (a JWT-only format gets none: the new access token carries its exp). */
static int update_expiry(apr_pool_t *p, const oa_authfile_format *f, json_t *root,
                         const oa_token_update *u)
{
    const oa_expiry_source *first = NULL;
    int written = 0;

    if (!u->expiry)
        return 0;
    for (const oa_expiry_source *src = f->expiry; src->path; src++) {
        if (src->kind != OA_EXPIRY_AT_PATH)
            continue;
        if (!first)
            first = src;
        if (oa_json_path_get(root, src->path)) {
            if (set_time(p, root, src->path, u->expiry, src->unit))
                return -1;
            written = 1;
        }
    }
    if (!written && first)
        return set_time(p, root, first->path, u->expiry, first->unit);
    return 0;
}

/* last_refresh always (the formats that have the field always write it); issued-at and
 * lifetime only where the file already keeps them. */
static int update_refresh_times(apr_pool_t *p, const oa_authfile_format *f, json_t *root,
                                const oa_token_update *u)
{
    if (f->last_refresh_path && set_time(p, root, f->last_refresh_path, u->now, OA_TIME_RFC3339))
        return -1;
    if (f->issued_at_path && oa_json_path_get(root, f->issued_at_path) &&
        set_time(p, root, f->issued_at_path, u->now, OA_TIME_EPOCH_MS))
        return -1;
    if (f->expires_in_path && u->expiry && oa_json_path_get(root, f->expires_in_path)) {
        apr_time_t left = u->expiry > u->now ? u->expiry - u->now : 0;
        if (oa_json_path_set(root, f->expires_in_path, json_integer(apr_time_sec(left))))
            return -1;
    }
    return 0;
}

/* jansson dump flags reproducing the file's layout. */
static size_t layout_of(const char *data, apr_size_t len)
{
    apr_size_t end = len, spaces = 0;
    const char *nl;

    /* A final newline (or other trailing space) does not make a file indented. */
    while (end > 0 && apr_isspace(data[end - 1]))
        end--;
    nl = memchr(data, '\n', end);
    if (nl) {
        while (nl + 1 + spaces < data + end && nl[1 + spaces] == ' ')
            spaces++;
        if (spaces == 0)
            spaces = 2;
        return JSON_PRESERVE_ORDER | JSON_INDENT(spaces > OA_INDENT_MAX ? OA_INDENT_MAX : spaces);
    }
    /* One line: ", " and ": " as Python writes it, else compact as JavaScript and Go do. */
    for (apr_size_t i = 0; i + 2 < end; i++) {
        if (data[i] == '"' && data[i + 1] == ':' && data[i + 2] == ' ')
            return JSON_PRESERVE_ORDER;
    }
    return JSON_PRESERVE_ORDER | JSON_COMPACT;
}

int oa_authfile_update(apr_pool_t *p, oa_provider hint, const char *data, apr_size_t len,
                       const oa_token_update *u, char **out, apr_size_t *out_len, const char **err)
{
    oa_credential cred;
    const oa_authfile_format *f;
    json_t *root;
    char *text;
    int final_newline = len > 0 && data[len - 1] == '\n';

    if (!u->access_token || !*u->access_token) {
        *err = "no access token to write";
        return -1;
    }
    /* Parsed once to check it is (still) a credential of this provider... */
    if (oa_authfile_parse(p, hint, data, len, &cred, err))
        return -1;
    /* ...and once more as the tree to edit (the parser's own tree is not handed out). */
    root =
        oa_json_pool_own(p, json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL));
    f = oa_authfile_format_get(cred.format);
    if (!root || update_strings(f, root, u) || update_expiry(p, f, root, u) ||
        update_refresh_times(p, f, root, u)) {
        *err = apr_psprintf(p, "the %s file has a non-object where a token field belongs", f->name);
        return -1;
    }
    text = json_dumps(root, layout_of(data, len));
    if (!text) {
        *err = "the updated file could not be written as JSON";
        return -1;
    }
    *out = apr_pstrcat(p, text, final_newline ? "\n" : "", NULL);
    *out_len = strlen(*out);
    free(text);
    return 0;
}
