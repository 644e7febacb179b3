/* aip_select.c: see aip_select.h. */
#include <string.h>
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "aip_model_names.h"
#include "aip_select.h"

/* The upstreams that serve one model (or every unlisted model) and their turn sequence. */
typedef struct {
    const aip_upstream **members;
    int nmembers;
    int *sequence; /* indexes into members, one per weight unit */
    int length;
    volatile apr_uint32_t own_turn; /* the next turn, until shared memory holds it */
    volatile apr_uint32_t *turn;    /* &own_turn, or a word every child shares */
} upstream_set;

struct aip_selector {
    apr_hash_t *by_model;     /* client model name -> upstream_set * */
    upstream_set *unlisted;   /* upstreams that serve every model (but their exclusions) */
    const aip_config *cfg;    /* for the names the shared set answers (prefixes, exclusions) */
    apr_array_header_t *sets; /* upstream_set *, every one of them (in turn word order) */
};

/* Greatest common divisor, to shorten sequences like 10,5 into 2,1. */
static int gcd(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Smooth weighted round robin (as nginx does): each step every member gains its weight, the
 * richest is chosen and pays the total. The result spreads heavy members evenly. */
static void build_sequence(apr_pool_t *p, upstream_set *set)
{
    int divisor = 0, total = 0;
    int *weight = apr_pcalloc(p, sizeof(int) * (set->nmembers + 1));
    int *current = apr_pcalloc(p, sizeof(int) * (set->nmembers + 1));

    for (int i = 0; i < set->nmembers; i++)
        divisor = gcd(divisor, set->members[i]->weight);
    for (int i = 0; i < set->nmembers; i++) {
        weight[i] = set->members[i]->weight / (divisor ? divisor : 1);
        total += weight[i];
    }
    set->length = total;
    set->sequence = apr_palloc(p, sizeof(int) * (total + 1));
    for (int step = 0; step < total; step++) {
        int best = 0;
        for (int i = 0; i < set->nmembers; i++) {
            current[i] += weight[i];
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= total;
        set->sequence[step] = best;
    }
}

static upstream_set *make_set(apr_pool_t *p, const aip_config *cfg, const char *model)
{
    upstream_set *set = apr_pcalloc(p, sizeof(*set));
    set->members = apr_pcalloc(p, sizeof(aip_upstream *) * (cfg->upstreams->nelts + 1));
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        if (!up->enabled)
            continue;
        if (model ? aip_upstream_answers(cfg, up, model) : up->models->nelts == 0)
            set->members[set->nmembers++] = up;
    }
    build_sequence(p, set);
    set->turn = &set->own_turn;
    return set;
}

aip_selector *aip_selector_create(apr_pool_t *p, const aip_config *cfg)
{
    aip_selector *sel = apr_pcalloc(p, sizeof(*sel));

    sel->by_model = apr_hash_make(p);
    sel->sets = apr_array_make(p, 4, sizeof(upstream_set *));
    sel->unlisted = make_set(p, cfg, NULL);
    APR_ARRAY_PUSH(sel->sets, upstream_set *) = sel->unlisted;
    sel->cfg = cfg;
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        const aip_upstream *up = APR_ARRAY_IDX(cfg->upstreams, i, const aip_upstream *);
        apr_array_header_t *names = apr_array_make(p, 4, sizeof(const char *));
        aip_upstream_client_names(p, up, cfg->force_model_prefix, names);
        for (int m = 0; m < names->nelts; m++) {
            const char *model = APR_ARRAY_IDX(names, m, const char *);
            if (!apr_hash_get(sel->by_model, model, APR_HASH_KEY_STRING)) {
                upstream_set *set = make_set(p, cfg, model);
                apr_hash_set(sel->by_model, model, APR_HASH_KEY_STRING, set);
                APR_ARRAY_PUSH(sel->sets, upstream_set *) = set;
            }
        }
    }
    return sel;
}

static upstream_set *set_for(const aip_selector *sel, const char *model)
{
    upstream_set *set = apr_hash_get(sel->by_model, model, APR_HASH_KEY_STRING);
    return set ? set : sel->unlisted;
}

/* Does member answer model? Sets made for one name hold only upstreams that do; the set of
 * upstreams serving every model is shared by all other names, so their prefixes and
 * exclusions are checked per name. */
static int member_answers(const aip_selector *sel, const upstream_set *set, int member,
                          const char *model)
{
    return set != sel->unlisted || aip_upstream_answers(sel->cfg, set->members[member], model);
}

int aip_select_order(aip_selector *sel, const char *model, const aip_upstream **order, int max)
{
    upstream_set *set = set_for(sel, model);
    int count = 0;
    apr_uint32_t start;
    char taken[AIP_MAX_UPSTREAMS];

    if (set->nmembers == 0 || max <= 0)
        return 0;
    memset(taken, 0, sizeof(taken));
    start = apr_atomic_inc32(set->turn) % (apr_uint32_t) set->length;
    for (int step = 0; step < set->length && count < max && count < set->nmembers; step++) {
        int member = set->sequence[(start + step) % set->length];
        if (!taken[member]) {
            taken[member] = 1;
            if (member_answers(sel, set, member, model))
                order[count++] = set->members[member];
        }
    }
    return count;
}

int aip_select_room(const aip_selector *sel, const char *model)
{
    return set_for(sel, model)->nmembers;
}

int aip_select_count(const aip_selector *sel, const char *model)
{
    const upstream_set *set = set_for(sel, model);
    int count = 0;

    for (int i = 0; i < set->nmembers; i++)
        count += member_answers(sel, set, i, model);
    return count;
}

int aip_selector_turns(const aip_selector *sel)
{
    return sel->sets->nelts;
}

void aip_selector_share_turns(aip_selector *sel, volatile apr_uint32_t *words)
{
    for (int i = 0; i < sel->sets->nelts; i++)
        APR_ARRAY_IDX(sel->sets, i, upstream_set *)->turn = &words[i];
}
