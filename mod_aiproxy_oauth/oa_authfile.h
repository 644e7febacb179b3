/*
 * oa_authfile.h: reading an auth file (any format of oa_authfile_format.h) into an
 * oa_credential.
 *
 * Pure: the caller reads the bytes (and the Kiro client registration next to the token file)
 * and hands them over; nothing here opens files. Error messages name the format and the field
 * that is wrong, never a value from the file: the parser's own messages (jansson's "near
 * '...'") are dropped for the same reason, only line and column are kept.
 */
#ifndef OA_AUTHFILE_H
#define OA_AUTHFILE_H

#include "apr_pools.h"
#include "oa_credential.h"

/* Largest auth file read; the real ones are a few KiB. */
#define OA_AUTHFILE_MAX (1024 * 1024)

/* The credential in data (len bytes): 0 and *out filled, or -1 and *err. hint is the
 * upstream's api type (OA_PROVIDER_NONE: any); a file of another provider is refused. A file
 * without an access token is refused; one without a refresh token is read (it works until it
 * expires). A "disabled": true file is read with out->disabled set: the caller skips it. */
int oa_authfile_parse(apr_pool_t *p, oa_provider hint, const char *data, apr_size_t len,
                      oa_credential *out, const char **err);

/* The Kiro IDE's client registration file of cred: "<dir of token_file>/<clientIdHash>.json",
 * or NULL when cred names none or the hash is not a plain file name (it may only hold
 * letters, digits, '-' and '_'). */
const char *oa_authfile_kiro_registration_path(apr_pool_t *p, const char *token_file,
                                               const oa_credential *cred);
/* Takes clientId, clientSecret and expiresAt from a Kiro client registration file into cred
 * (fields the token file already set stay). 0, or -1 and *err. */
int oa_authfile_read_kiro_registration(apr_pool_t *p, const char *data, apr_size_t len,
                                       oa_credential *cred, const char **err);

#endif /* OA_AUTHFILE_H */
