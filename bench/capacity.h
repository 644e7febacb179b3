/* What the two load programs of bench/capacity.py share: the marker the upstream puts in
 * the first event of every stream (the client times each stream to the data line carrying
 * it), the clock, and the few socket chores both do. Header-only: each program is one
 * file plus this. */
#ifndef BENCH_CAPACITY_H
#define BENCH_CAPACITY_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

/* The content of the upstream's first event. It survives translation as text, so both an
 * OpenAI and an Anthropic client see it in a data line, and appears nowhere else. */
#define CAPACITY_MARKER "capacity-first-event"

static inline int64_t cap_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Every stream holds a socket in each program: take the soft open-file limit up to the
 * hard one (capacity.py raises the hard one when it may). */
static inline void cap_raise_nofile(const char *who)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "%s: setrlimit(RLIMIT_NOFILE): errno %d\n", who, errno);
    }
}

/* epoll_wait's timeout in milliseconds until deadline_ns, rounded up so a wake-up is never
 * early; -1 (wait forever) without a deadline. */
static inline int cap_timeout_ms(int64_t deadline_ns, int64_t now_ns)
{
    if (deadline_ns < 0)
        return -1;
    if (deadline_ns <= now_ns)
        return 0;
    int64_t ms = (deadline_ns - now_ns + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int) ms;
}

#endif
