/*
 * oa_authfile_format.h: the auth-file formats as data: for each, where it keeps every field
 * (dotted JSON paths), in which unit it writes times, and how to recognise it.
 *
 * The reader (oa_authfile.c) and the writer (oa_authfile_update.c) both walk these tables, so
 * a field is read from and written back to the same place, and a new format is a new row.
 */
#ifndef OA_AUTHFILE_FORMAT_H
#define OA_AUTHFILE_FORMAT_H

#include <stddef.h>
#include <jansson.h>
#include "oa_credential.h"
#include "oa_time.h"

/* A string field of oa_credential (by offset) and its path in a format. */
typedef struct {
    size_t offset;
    const char *path;
} oa_string_field;

/* Where an expiry comes from, tried in a format's order until one gives a time. */
typedef enum {
    OA_EXPIRY_AT_PATH,           /* a time at path, in unit */
    OA_EXPIRY_JWT_EXP,           /* the exp claim of the JWT at path */
    OA_EXPIRY_AFTER_LAST_REFRESH /* last_refresh + OA_CODEX_REFRESH_AGE (Codex CLI's rule) */
} oa_expiry_kind;

typedef struct {
    oa_expiry_kind kind;
    const char *path;
    oa_time_unit unit;
} oa_expiry_source;

/* Codex CLI refreshes a token without an exp claim once last_refresh is this old. */
#define OA_CODEX_REFRESH_AGE apr_time_from_sec(8 * 86400)

typedef struct {
    oa_format id;
    const char *name;               /* for error messages and the admin endpoint */
    const char *signature;          /* a path only this format (of those after it) has */
    oa_provider provider;           /* OA_PROVIDER_NONE: from type_path, else the caller's hint */
    const char *type_path;          /* NULL: the format names no provider */
    const oa_string_field *strings; /* ends with a NULL path */
    const oa_expiry_source *expiry; /* ends with a NULL path */
    const char *last_refresh_path;  /* NULL: none; always RFC 3339 */
    const char *disabled_path;
    const char *issued_at_path;  /* NULL: none; epoch ms of the last refresh (Antigravity) */
    const char *expires_in_path; /* NULL: none; lifetime in seconds of the access token */
} oa_authfile_format;

/* The format of a parsed file (the first whose signature path exists), or NULL. */
const oa_authfile_format *oa_authfile_format_detect(json_t *root);
const oa_authfile_format *oa_authfile_format_get(oa_format id);

/* The path of the string field at offset in f, NULL when the format has none. */
const char *oa_authfile_format_path(const oa_authfile_format *f, size_t offset);

/* The provider of a file in format f: the format's own, else its type field, else hint.
 * OA_PROVIDER_NONE with *err set when the file names an unknown type, disagrees with a
 * given hint, or nothing says. */
oa_provider oa_authfile_format_provider(apr_pool_t *p, const oa_authfile_format *f, json_t *root,
                                        oa_provider hint, const char **err);

#endif /* OA_AUTHFILE_FORMAT_H */
