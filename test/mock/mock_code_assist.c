/* Code Assist setup of a google OAuth vhost (cloudcode-pa's v1internal, as gemini-cli's setup.ts
 * and the proxies call it): loadCodeAssist answers the account's current tier and project, or
 * only the allowed tiers when the account has none; onboardUser is a long-running operation that
 * answers done: false while the credential's "onboard_polls" counts down, then done: true with
 * the project, and the account has a tier from then on. The generate calls must name the
 * account's project (403 PERMISSION_DENIED otherwise, as Code Assist answers a foreign one).
 *
 * The account is the store's credential of the bearer token: "tier" (absent: not onboarded),
 * "project" (absent: mock-project-<label>), "onboard_polls" (absent: 1). */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define OPERATION_TYPE                                                                             \
    "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse"

/* A copy in p: the credential's own string is freed when onboarding sets "project" anew. */
const char *mock_code_assist_project(apr_pool_t *p, const json_t *cred)
{
    const char *project = mock_json_str(cred, "project");
    return project ? apr_pstrdup(p, project)
                   : apr_pstrcat(p, "mock-project-", mock_json_str(cred, "label"), NULL);
}

static json_t *find_label(json_t *credentials, const char *label)
{
    size_t i;
    json_t *cred;
    json_array_foreach(credentials, i, cred)
    {
        const char *have = mock_json_str(cred, "label");
        if (have && label && strcmp(have, label) == 0) {
            return cred;
        }
    }
    return NULL;
}

static json_t *tier_object(const char *id)
{
    return json_pack("{s:s,s:s,s:s}", "id", id, "name",
                     strcmp(id, "free-tier") == 0 ? "Gemini Code Assist for individuals"
                                                  : "Gemini Code Assist",
                     "description", "mock tier");
}

static json_t *allowed_tiers(void)
{
    json_t *legacy = tier_object("legacy-tier"), *free_tier = tier_object("free-tier");
    json_object_set_new(free_tier, "isDefault", json_true());
    json_object_set_new(legacy, "userDefinedCloudaicompanionProject", json_true());
    return json_pack("[o,o]", legacy, free_tier);
}

static void load_code_assist(mock_call *c, json_t *cred, mock_reply *reply)
{
    const char *tier = mock_json_str(cred, "tier");
    json_t *body = json_pack("{s:o}", "allowedTiers", allowed_tiers());

    if (tier) {
        json_t *current = tier_object(tier);
        json_object_set_new(current, "hasOnboardedPreviously", json_true());
        json_object_set_new(body, "currentTier", current);
        json_object_set_new(body, "cloudaicompanionProject",
                            json_string(mock_code_assist_project(c->pool, cred)));
    }
    mock_reply_body(reply, 200, body);
}

/* Answers done: false while onboard_polls > 0 (counted down), then onboards; *save set when
 * the credential changed. */
static void onboard_user(mock_call *c, json_t *cred, mock_reply *reply, int *save)
{
    const char *tier = mock_json_str(c->body, "tierId");
    const json_t *polls = json_object_get(cred, "onboard_polls");
    json_int_t left = json_is_integer(polls) ? json_integer_value(polls) : 1;
    const char *operation =
        apr_pstrcat(c->pool, "operations/onboard-", mock_json_str(cred, "label"), NULL);
    const char *project;

    if (!tier) {
        mock_gemini_provider.error(c, reply, 400, "mock: onboardUser needs a tierId");
        return;
    }
    if (left > 0) {
        json_object_set_new(cred, "onboard_polls", json_integer(left - 1));
        *save = 1;
        mock_reply_body(reply, 200, json_pack("{s:s,s:b}", "name", operation, "done", 0));
        return;
    }
    project = mock_code_assist_project(c->pool, cred);
    json_object_set_new(cred, "tier", json_string(tier));
    json_object_set_new(cred, "project", json_string(project));
    *save = 1;
    mock_reply_body(reply, 200,
                    json_pack("{s:s,s:b,s:{s:s,s:{s:s,s:s}}}", "name", operation, "done", 1,
                              "response", "@type", OPERATION_TYPE, "cloudaicompanionProject", "id",
                              project, "name", project));
}

/* The bearer's credential under the store lock (exclusive when it may change), or NULL with a
 * 500 in reply. */
static json_t *open_credential(mock_call *c, const char *store_dir, const char *name, int exclusive,
                               mock_oauth_store *st, mock_reply *reply)
{
    json_t *cred;
    if (mock_oauth_store_open(c->pool, store_dir, name, exclusive, st) != 0) {
        mock_gemini_provider.error(c, reply, 500, "mock: the token store cannot be opened");
        return NULL;
    }
    cred = find_label(json_object_get(st->state, "credentials"), c->credential);
    if (!cred) {
        mock_oauth_store_close(st);
        mock_gemini_provider.error(c, reply, 500, "mock: the bearer's credential is gone");
    }
    return cred;
}

void mock_code_assist_setup(mock_call *c, const char *store_dir, const char *name,
                            mock_reply *reply)
{
    mock_oauth_store st;
    json_t *cred = open_credential(c, store_dir, name, 1, &st, reply);
    int save = 0;

    if (!cred) {
        return;
    }
    if (c->route.ep == MOCK_EP_LOAD_CODE_ASSIST) {
        load_code_assist(c, cred, reply);
    } else {
        onboard_user(c, cred, reply, &save);
    }
    if (save && mock_oauth_store_save(&st) != 0) {
        mock_gemini_provider.error(c, reply, 500, "mock: the token store cannot be written");
    }
    mock_oauth_store_close(&st);
}

int mock_code_assist_check(mock_call *c, const char *store_dir, const char *name, mock_reply *reply)
{
    mock_oauth_store st;
    json_t *cred = open_credential(c, store_dir, name, 0, &st, reply);
    const char *want, *have = mock_json_str(c->body, "project");
    const char *message = NULL;

    if (!cred) {
        return 0;
    }
    want = mock_code_assist_project(c->pool, cred);
    if (!mock_json_str(cred, "tier")) {
        message = "mock: the account is not onboarded to Code Assist";
    } else if (!have || strcmp(have, want) != 0) {
        message = apr_psprintf(c->pool, "Permission denied on resource project %s.",
                               have ? have : "(none)");
    }
    mock_oauth_store_close(&st);
    if (message) {
        mock_gemini_provider.error(c, reply, 403, message);
        return 0;
    }
    return 1;
}
