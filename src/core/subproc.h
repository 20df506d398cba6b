/*
 * subproc.h - a shell command run for the daemon (a plan's exec step): in
 * its own process group, in a given directory and environment, its stdout
 * and stderr captured (the tail kept), bounded by a timeout, and stopped
 * as an operator expects: SIGTERM to the whole group, then SIGKILL to
 * whatever is left of it after a grace period, even once the shell itself
 * has exited. The owner hears once, when it is over.
 */
#ifndef ND_SUBPROC_H
#define ND_SUBPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define SUBPROC_TAIL 2048	/* bytes of output kept: the last ones */

struct subproc;

struct subproc_result {
	int64_t exit_status;
	int term_signal;		/* what ended the shell, or 0 */
	const char *stopped;		/* why it was stopped (subproc_stop, the timeout), or NULL */
	bool group_killed;		/* what was left of its group got SIGKILL */
	const char *output;		/* the tail of its output: valid UTF-8 ('?' for the rest), NUL-free */
	unsigned long long output_bytes;	/* all it wrote */
};

typedef void (*subproc_done_fn)(void *arg, const struct subproc_result *res);

/*
 * Run `/bin/sh -c cmd` in cwd with env (NULL-terminated "NAME=value"s).
 * After timeout_ms it is stopped ("timed out after ..."). done(arg, res)
 * is called once it is over (res valid during the call); the subproc then
 * frees itself. NULL, with why, if it could not start.
 */
struct subproc *subproc_start(uv_loop_t *loop, const char *cmd, const char *cwd, char **env,
			      uint64_t timeout_ms, uint64_t grace_ms, subproc_done_fn done, void *arg,
			      char *why, size_t wn);

/* SIGTERM to its group now (why goes in the result), SIGKILL to what is
 * left after the grace; done follows. A second stop does nothing. */
void subproc_stop(struct subproc *s, const char *why);

/*
 * The owner goes now (the daemon stops): SIGTERM, wait for the group up
 * to the grace (at most 2 s: this blocks the loop), SIGKILL; done is not
 * called. Returns what it did, for the record.
 */
const char *subproc_kill_now(struct subproc *s);

#endif
