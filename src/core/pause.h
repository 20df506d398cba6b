/*
 * pause.h - an operator's pause of a pool (`nodown pause POOL`, `nodown
 * resume POOL`): new work (a protocol's requests, transactions or
 * commands) is held at its boundary, work in flight finishes, until a resume or the pause's
 * timeout. It is an operation (core/op.h, kind "pause") so that
 * /operations, the status and plans see it.
 */
#ifndef ND_PAUSE_H
#define ND_PAUSE_H

#include <stdbool.h>
#include <stdint.h>

struct admin_conn;
struct daemon;
struct op;
struct route_match;

/* Pause pool pi (its protocol pausable) for at most ms: the
 * op, or NULL with *why (already paused, a switchover runs). */
struct op *pause_start(struct daemon *d, int pi, uint64_t ms, const char **why);

/* End the operator's pause of pool: the ended op, or NULL with *why. */
struct op *pause_end(struct daemon *d, const char *pool, const char **why);

/* POST /pools/POOL/pause[?timeout=D] and POST /pools/POOL/resume. */
void pause_route_pause(struct admin_conn *ac, const struct route_match *m);
void pause_route_resume(struct admin_conn *ac, const struct route_match *m);

/* Is pool (by name) paused by an operator? (a switchover waits for a resume) */
bool pause_active(struct daemon *d, const char *pool);

#endif
