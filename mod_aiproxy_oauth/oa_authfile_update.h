/*
 * oa_authfile_update.h: the new bytes of an auth file after a refresh.
 *
 * Only what the gateway owns changes: the access token, the refresh token when it rotated,
 * the id token when a new one came, the expiry (in every field of the format that holds one,
 * in the unit and JSON type the file already uses there), last_refresh, and the issued-at and
 * lifetime fields of the files that keep them. Every other key keeps its value and its place
 * (jansson keeps object keys in file order); the layout follows the file: compact or
 * indented by the same number of spaces, a final newline when it had one. A real number in a
 * field the gateway does not own keeps its value, perhaps not its spelling (jansson writes
 * reals with 17 significant digits).
 *
 * The file is re-parsed from the bytes given, so the update applies to what is on disk now
 * (the caller re-reads it just before writing, under its refresh lease).
 */
#ifndef OA_AUTHFILE_UPDATE_H
#define OA_AUTHFILE_UPDATE_H

#include "apr_pools.h"
#include "apr_time.h"
#include "oa_provider.h"

typedef struct {
    const char *access_token;  /* required */
    const char *refresh_token; /* NULL: not rotated, the file's stays */
    const char *id_token;      /* NULL: none came, the file's stays */
    const char *profile_arn;   /* Kiro social refreshes return it; NULL: unchanged */
    apr_time_t expiry;         /* 0: unknown, the file's expiry fields stay */
    apr_time_t now;            /* written as last_refresh and issued-at */
} oa_token_update;

/* The file data (len bytes) with u applied: 0 and *out (NUL-terminated, *out_len bytes), or
 * -1 and *err (the file no longer parses as a credential of provider hint, or u has no access
 * token). */
int oa_authfile_update(apr_pool_t *p, oa_provider hint, const char *data, apr_size_t len,
                       const oa_token_update *u, char **out, apr_size_t *out_len, const char **err);

#endif /* OA_AUTHFILE_UPDATE_H */
