/*
 * oa_file_atomic.h: replacing a token file so that a reader (the CLI that owns the file,
 * another httpd child, a crash) sees either the old bytes or the new ones, never a mix.
 *
 * The new bytes go to a temporary file in the same directory (a rename across file systems
 * would not be atomic), mode 0600 from creation on (so the tokens are never readable by
 * others, whatever the umask), synced to disk, then renamed over the file; the directory is
 * synced last so the rename itself survives a power loss. The file that results belongs to
 * the user the gateway runs as. A symbolic link at path is replaced by the file, not followed.
 */
#ifndef OA_FILE_ATOMIC_H
#define OA_FILE_ATOMIC_H

#include "apr_file_io.h"
#include "apr_pools.h"

/* path replaced by data (len bytes). On failure path is untouched and no temporary file is
 * left behind. */
apr_status_t oa_file_write_atomic(apr_pool_t *p, const char *path, const char *data,
                                  apr_size_t len);

#endif /* OA_FILE_ATOMIC_H */
