/*
 * tr_replay.h: a complete tr_response -> the IR stream events that would have produced it,
 * for an upstream that answered with one JSON body to a client that asked for a stream.
 */
#ifndef TR_REPLAY_H
#define TR_REPLAY_H

#include "codec/tr_codec.h"

/* Emits MESSAGE_START, each answer block (start, its content as one delta, its signature,
 * stop), MESSAGE_DELTA (stop reason, usage) and MESSAGE_STOP; stops at emit's first failure. */
apr_status_t tr_replay(const tr_response *resp, tr_event_fn emit, void *baton);

#endif /* TR_REPLAY_H */
