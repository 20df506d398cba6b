/*
 * op.h - long operations on the control thread: switchovers (pg, redis)
 * and operators' pauses today, release-plan steps next.
 *
 * An operation is a sequence of named steps, each timed and recorded, with
 * a JSON report, an abort an operator can ask for, and watchers told of
 * every step and of the end (the admin API's long polls). It refers to its
 * pool by name and holds a reference on the snapshot it started on, never
 * an index into the current config, so the daemon reloads while it runs
 * (unless its kind says the new config would pull the ground from under
 * it). The kind (struct op_kind) does the work; the engine keeps the books.
 */
#ifndef ND_OP_H
#define ND_OP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "errlist.h"
#include "list.h"

struct admin_conn;
struct config;
struct daemon;
struct op;
struct route_match;
struct snapshot;

enum op_state { OP_RUNNING, OP_DONE, OP_ABORTED, OP_FAILED };

struct op_kind {
	const char *name;		/* "switchover" */
	/* An operator asks to abort: NULL if the kind will end the op as
	 * aborted (now or soon), else why it cannot now. */
	const char *(*abort)(struct op *op);
	/* The daemon stops: leave things as safe as the step allows. */
	void (*stop)(struct op *op);
	/* Add the kind's fields to the report. */
	void (*report)(struct op *op, json_t *j);
	/* Take out of report j what the read-only status listener must not
	 * show (a command's output). May be NULL. */
	void (*redact)(json_t *j);
	/* A reload to next is asked for while op runs: NULL if it may go,
	 * else why not. */
	const char *(*reload_blocked)(struct op *op, const struct config *next);
	/* Free the kind's state (op->arg) once the op is done with. */
	void (*free)(struct op *op);
};

struct op {
	struct op *next;		/* the daemon's list */
	unsigned id;			/* unique since the daemon started */
	struct daemon *d;
	const struct op_kind *kind;
	struct snapshot *snap;		/* the config it started on: a reference */
	char pool[128];			/* the pool it is about */
	void *arg;			/* the kind's state */
	enum op_state state;
	const char *step;		/* the step in progress (or the last one) */
	uint64_t started_ms, step_ms, ended_ms;
	json_t *steps;			/* [{step, ms, detail}] of the steps ended */
	char error[512];		/* why it aborted or failed */
	struct list waits;		/* admin long polls (core/admin.h) */
};

/*
 * Start an operation of kind on pool, in step `first`, with the kind's
 * state arg. Replaces the last (ended) operation of the same kind and
 * pool, whose report is then gone; refuses (NULL) when one still runs.
 */
struct op *op_start(struct daemon *d, const struct op_kind *kind, const char *pool,
		    const char *first, void *arg);

/* The current step ended (detail, may be NULL, goes in its record); the
 * step `next` begins. Watchers are told. */
void op_step(struct op *op, const char *next, const char *detail);

/* The op ends in state st (done, aborted, failed); error says why when it
 * did not succeed. Watchers are told. */
void op_end(struct op *op, enum op_state st, const char *error);

/* The running or last operation of kind `kind` on pool, or NULL. */
struct op *op_find(struct daemon *d, const char *kind, const char *pool);

static inline bool op_running(const struct op *op)
{
	return op->state == OP_RUNNING;
}

/* The report: id, kind, pool, state, step, steps, elapsed_ms, error, and
 * the kind's fields. */
json_t *op_json(struct op *op);

/* Answer ac with op's report once it has more than `after` steps ended,
 * or has ended, or after ms (a long poll). */
void op_wait(struct admin_conn *ac, struct op *op, size_t after, uint64_t ms);

/* Ask a running op to abort: NULL if it will, else why not. */
const char *op_abort(struct op *op);

/* A reload to next: true (with why in errs) if a running op refuses it. */
bool op_reload_blocked(struct daemon *d, const struct config *next, struct errlist *errs);

/* The daemon stops: every running op stops, every op is freed. */
void op_stop_all(struct daemon *d);

/*
 * Answer a GET[?after=N&wait=D] for op: its report; with wait, once more
 * than N steps have ended or it is over, or after D (a long poll). usage:
 * the 400 message; none: the 404 one when op is NULL.
 */
void op_route_follow(struct admin_conn *ac, const struct route_match *m, struct op *op, const char *usage,
		     const char *none);

/* GET /operations and POST /operations/ID/abort (core/admin.c); GET
 * /api/operations of the read-only status listener, redacted. */
void op_route_list(struct admin_conn *ac, const struct route_match *m);
void op_route_list_public(struct admin_conn *ac, const struct route_match *m);
void op_route_abort(struct admin_conn *ac, const struct route_match *m);

#endif
