/*
 * state.h - operator state (drain, maint, weight) kept in a file across
 * reloads and restarts, so a restart never silently puts a drained backend
 * back in rotation.
 */
#ifndef ND_STATE_H
#define ND_STATE_H

#include "common.h"

struct daemon;

/* Apply the state file to d->live (missing file: nothing to apply).
 * Returns 0, or -1 after logging why the file cannot be used. */
int state_load(struct daemon *d) ND_MUST_CHECK;

/* Write every backend whose operator state or weight differs from the
 * config, atomically (temporary file + rename). Logs failures. */
void state_save(struct daemon *d);

#endif
