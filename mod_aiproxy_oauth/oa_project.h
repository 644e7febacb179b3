/*
 * oa_project.h: finding the Code Assist project a Google login (geminicli, antigravity) must
 * name in every request, without the HTTP: the bodies to send and what the answers mean.
 *
 * The steps (research/oauth.md §3 "Project discovery", §4 "Project lookup"), as gemini-cli's
 * setup.ts takes them:
 *  1. POST <base>/v1internal:loadCodeAssist {"metadata": {...}}. An answer with a currentTier
 *     names the project (cloudaicompanionProject, a string or {"id"}): done.
 *  2. Else the account is onboarded to the allowed tier marked isDefault (else "legacy-tier"):
 *     POST <base>/v1internal:onboardUser {"tierId", "metadata"}. It is a long-running
 *     operation: while its answer says "done": false it is asked again (a bounded number of
 *     times, OA_ONBOARD_POLLS, OA_ONBOARD_INTERVAL apart, as CLIProxyAPI re-posts it); once
 *     done, response.cloudaicompanionProject names the project.
 * The metadata names the client as the official one does (Antigravity: ideType ANTIGRAVITY).
 */
#ifndef OA_PROJECT_H
#define OA_PROJECT_H

#include "apr_pools.h"
#include "apr_time.h"
#include "oa_provider.h"

#define OA_ONBOARD_POLLS    5
#define OA_ONBOARD_INTERVAL apr_time_from_sec(2)

/* The paths below the upstream's base URL. */
#define OA_LOAD_CODE_ASSIST_PATH "/v1internal:loadCodeAssist"
#define OA_ONBOARD_USER_PATH     "/v1internal:onboardUser"

typedef enum {
    OA_PROJECT_FOUND = 0, /* project set */
    OA_PROJECT_ONBOARD,   /* no current tier: onboard to tier */
    OA_PROJECT_PENDING,   /* onboarding runs: ask again */
    OA_PROJECT_FAILED     /* why set (no secret, no free text of the answer) */
} oa_project_outcome;

typedef struct {
    oa_project_outcome outcome;
    const char *project;
    const char *tier;
    const char *why;
} oa_project_step;

/* The loadCodeAssist request body of provider. */
const char *oa_project_load_body(apr_pool_t *p, oa_provider provider);
/* The onboardUser request body of provider for tier. */
const char *oa_project_onboard_body(apr_pool_t *p, oa_provider provider, const char *tier);

/* What a loadCodeAssist answer (status, body of len bytes) says: FOUND or ONBOARD, or
 * FAILED. */
void oa_project_read_load(apr_pool_t *p, int status, const char *body, apr_size_t len,
                          oa_project_step *out);
/* What an onboardUser answer says: FOUND, PENDING or FAILED. */
void oa_project_read_onboard(apr_pool_t *p, int status, const char *body, apr_size_t len,
                             oa_project_step *out);

#endif /* OA_PROJECT_H */
