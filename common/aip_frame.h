/*
 * common/aip_frame.h: keeping stack frames small where long streams wait.
 *
 * mod_proxy relays an answer on the thread that runs its request, so every open stream holds
 * a thread, and a thread keeps every stack page it has touched. The deepest point of a
 * stream's thread is under mod_proxy_http's response loop (an 8.5 KiB frame): the gateway's
 * handler frames below the subrequest, then the response filter parsing an event. Each page
 * that depth crosses costs 4 KiB per open stream (docs/operations.md, sizing;
 * bench/stack_depth.py measures it).
 *
 * Library calls that are deep on their own do not belong on that path (measured on Debian 12's
 * glibc and APR): apr_psprintf 1.2 KiB (its formatter's buffers), strtod 1.3 KiB, snprintf
 * of a double 2.7 KiB; malloc about 100 bytes.
 *
 * AIP_OWN_FRAME keeps a function out of its callers' frames: inlined, its locals would stay
 * allocated in the caller for as long as the caller runs (across the whole subrequest), or be
 * paid again at every level of a recursion.
 */
#ifndef AIP_FRAME_H
#define AIP_FRAME_H

#define AIP_OWN_FRAME __attribute__((noinline))

#endif /* AIP_FRAME_H */
