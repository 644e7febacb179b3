/* The OAuth mock's token store: one JSON file per vhost (<dir>/<name>.json) holding the tokens it
 * issued and the on-demand controls, read and written under flock on <dir>/<name>.lock. Every
 * httpd child sees the same tokens, and tests can read or change the state while the server
 * runs by taking the same lock. Writes go to a temp file that is renamed over the state. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <apr_strings.h>

#include "mock.h"

#define DEFAULT_LIFETIME 3600

typedef enum { WORD_STRING, WORD_INT, WORD_BOOL } word_type;

/* Every key AIProxyMockIssuedToken and AIProxyMockTokenControl accept, with its type. */
static const struct {
    const char *key;
    word_type type;
} word_types[] = {
    /* a credential */
    {"label", WORD_STRING},
    {"access", WORD_STRING},
    {"refresh", WORD_STRING},
    {"account", WORD_STRING},
    {"email", WORD_STRING},
    {"plan", WORD_STRING},
    {"expires_in", WORD_INT},
    {"scenario", WORD_STRING},
    {"revoked", WORD_BOOL},
    /* a Code Assist account (google): its tier (none: not onboarded), project, onboarding */
    {"tier", WORD_STRING},
    {"project", WORD_STRING},
    {"onboard_polls", WORD_INT},
    {"scenario_times", WORD_INT},
    /* the controls */
    {"delay_ms", WORD_INT},
    {"fail", WORD_STRING},
    {"fail_times", WORD_INT},
    {"retry_after", WORD_INT},
    {"lifetime", WORD_INT},
    {"keep_rotated_access", WORD_BOOL},
    {"client_id", WORD_STRING},
    {"client_secret", WORD_STRING},
};

static json_t *object_member(json_t *obj, const char *key, int array)
{
    json_t *v = json_object_get(obj, key);
    if (array ? !json_is_array(v) : !json_is_object(v)) {
        v = array ? json_array() : json_object();
        json_object_set_new(obj, key, v);
    }
    return v;
}

int mock_oauth_store_open(apr_pool_t *p, const char *dir, const char *name, int exclusive,
                          mock_oauth_store *st)
{
    json_error_t jerr;

    st->path = apr_pstrcat(p, dir, "/", name, ".json", NULL);
    st->lock_path = apr_pstrcat(p, dir, "/", name, ".lock", NULL);
    st->state = NULL;
    st->lock_fd = open(st->lock_path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (st->lock_fd < 0) {
        return errno;
    }
    while (flock(st->lock_fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            int err = errno;
            close(st->lock_fd);
            st->lock_fd = -1;
            return err;
        }
    }
    st->state = json_load_file(st->path, 0, &jerr);
    if (!json_is_object(st->state)) {
        json_decref(st->state);
        st->state = json_object();
    }
    object_member(st->state, "control", 0);
    object_member(st->state, "credentials", 1);
    return 0;
}

int mock_oauth_store_save(mock_oauth_store *st)
{
    /* per process: a test may be writing its own temp file under the same lock convention */
    char tmp[4096];
    int fd, err = 0;

    if (apr_snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", st->path, (long) getpid()) >=
        (int) sizeof(tmp)) {
        return ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return errno;
    }
    if (json_dumpfd(st->state, fd, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
        err = EIO;
    }
    if (close(fd) != 0 && !err) {
        err = errno;
    }
    if (!err && rename(tmp, st->path) != 0) {
        err = errno;
    }
    if (err) {
        unlink(tmp);
    }
    return err;
}

void mock_oauth_store_close(mock_oauth_store *st)
{
    if (st->lock_fd >= 0) {
        flock(st->lock_fd, LOCK_UN);
        close(st->lock_fd);
        st->lock_fd = -1;
    }
    json_decref(st->state);
    st->state = NULL;
}

apr_int64_t mock_oauth_control_int(const mock_oauth_store *st, const char *key, apr_int64_t dflt)
{
    const json_t *v = json_object_get(json_object_get(st->state, "control"), key);
    if (json_is_integer(v)) {
        return (apr_int64_t) json_integer_value(v);
    }
    if (json_is_real(v)) {
        return (apr_int64_t) json_real_value(v);
    }
    return dflt;
}

static json_t *word_value(word_type type, const char *value)
{
    char *end;
    long long n;

    switch (type) {
    case WORD_INT:
        errno = 0;
        n = strtoll(value, &end, 10);
        return *value && !*end && !errno ? json_integer((json_int_t) n) : NULL;
    case WORD_BOOL:
        if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "1")) {
            return json_true();
        }
        if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "0")) {
            return json_false();
        }
        return NULL;
    case WORD_STRING:
        return json_string(value);
    }
    return NULL;
}

json_t *mock_oauth_words(apr_pool_t *p, const apr_array_header_t *words, const char **error)
{
    json_t *obj = json_object();
    for (int i = 0; i < words->nelts; i++) {
        const char *word = APR_ARRAY_IDX(words, i, const char *);
        const char *eq = strchr(word, '=');
        const char *key = eq ? apr_pstrmemdup(p, word, (apr_size_t) (eq - word)) : word;
        json_t *value = NULL;
        size_t k;

        for (k = 0; k < sizeof(word_types) / sizeof(word_types[0]); k++) {
            if (strcmp(word_types[k].key, key) == 0) {
                break;
            }
        }
        if (eq && k < sizeof(word_types) / sizeof(word_types[0])) {
            value = word_value(word_types[k].type, eq + 1);
        }
        if (!value) {
            *error = apr_psprintf(p,
                                  "expected key=value with a known key and a value of its type, "
                                  "not \"%s\"",
                                  word);
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, key, value);
    }
    return obj;
}

static int label_taken(const json_t *credentials, const char *label)
{
    size_t i;
    const json_t *cred;
    json_array_foreach(credentials, i, cred)
    {
        const char *have = mock_json_str(cred, "label");
        if (have && strcmp(have, label) == 0) {
            return 1;
        }
    }
    return 0;
}

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

void mock_oauth_store_seed(mock_oauth_store *st, const json_t *seed, apr_time_t now)
{
    static const char *const copied_keys[] = {"account",  "email",   "plan",
                                              "scenario", "project", "tier"};
    json_t *credentials = json_object_get(st->state, "credentials");
    const char *access = mock_json_str(seed, "access");
    const char *refresh = mock_json_str(seed, "refresh");
    const char *label = mock_json_str(seed, "label");
    const json_t *expires_in = json_object_get(seed, "expires_in");
    apr_int64_t lifetime = json_is_integer(expires_in)
                               ? (apr_int64_t) json_integer_value(expires_in)
                               : mock_oauth_control_int(st, "lifetime", DEFAULT_LIFETIME);
    json_t *cred;

    label = label ? label : refresh ? refresh : access;
    if (!label || label_taken(credentials, label)) {
        return; /* kept as it is: a restart must not undo rotations */
    }
    cred = json_pack("{s:s,s:o,s:o,s:I,s:i,s:[],s:[],s:b}", "label", label, "access",
                     string_or_null(access), "refresh", string_or_null(refresh), "expires_at",
                     (json_int_t) (apr_time_sec(now) + lifetime), "generation", 0, "rotated_access",
                     "used_refresh", "revoked", json_is_true(json_object_get(seed, "revoked")));
    for (size_t k = 0; k < sizeof(copied_keys) / sizeof(copied_keys[0]); k++) {
        json_object_set_new(cred, copied_keys[k],
                            string_or_null(mock_json_str(seed, copied_keys[k])));
    }
    if (json_is_integer(json_object_get(seed, "onboard_polls"))) {
        json_object_set(cred, "onboard_polls", json_object_get(seed, "onboard_polls"));
    }
    if (json_is_integer(json_object_get(seed, "scenario_times"))) {
        json_object_set(cred, "scenario_times", json_object_get(seed, "scenario_times"));
    }
    json_array_append_new(credentials, cred);
}

void mock_oauth_store_set_control(mock_oauth_store *st, const json_t *control)
{
    json_object_update(json_object_get(st->state, "control"), (json_t *) control);
}
