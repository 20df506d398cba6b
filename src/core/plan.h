/*
 * plan.h - a release plan: a YAML file naming its owner, the pools it may
 * touch (its scope) and its steps, read and checked against a
 * configuration, then resolved into one flat list of steps.
 *
 * Resolving expands every `rolling` block into its batches (a gate step
 * that checks the pool can spare the batch, then each `do` step for each
 * backend of the batch, with {backend}, {address} and {pool} filled in),
 * so what runs, what --dry-run prints, what the run log records and where
 * --resume starts are one and the same list. Everything a step names (a
 * pool, a backend, a switchover target) is checked here, so a plan that
 * loads only fails on what the world does, never on what it says.
 */
#ifndef ND_PLAN_H
#define ND_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "errlist.h"

struct config;

enum pstep_kind {
	PS_GATE,		/* start of a batch: the pool can spare it */
	PS_DRAIN, PS_READY, PS_MAINT, PS_WEIGHT,
	PS_WAIT_DRAINED, PS_WAIT_HEALTHY,
	PS_EXEC, PS_SLEEP, PS_PAUSE, PS_RESUME, PS_SWITCHOVER,
	PS_VERIFY, PS_APPROVE,
};

/* One resolved step: every name checked, every {var} filled in. */
struct pstep {
	enum pstep_kind kind;
	char *text;		/* what it does, one line: "drain app/web1" */
	int line;		/* where it is written in the plan */
	char *pool;		/* the pool it acts on */
	char *backend;		/* its backend (switchover: the target) */
	char **batch;		/* PS_GATE: the batch's backends, [nbatch] */
	int nbatch;
	int max_unavailable;	/* PS_GATE */
	int value;		/* PS_WEIGHT */
	uint64_t ms;		/* timeout (waits, exec, pause, approve), sleep, verify's window */
	char *run;		/* PS_EXEC and a verify's load: the shell command */
	char **env;		/* PS_EXEC: "NAME=value", [nenv] */
	int nenv;
	long long max_errors;	/* PS_VERIFY: -1 when not checked */
	double max_rate;	/* PS_VERIFY: error ratio, -1 when not checked */
	bool since_step;	/* PS_VERIFY: count from the step's start, not the plan's */
	int gate;		/* in a rolling block: the index of its batch's gate; else -1 */
};

/* The automatic halt: errors in the scope's pools since the plan began. */
struct plan_halt {
	double max_rate;	/* errors / requests above this halts (-1: off) */
	long long min_requests;	/* ... once there were this many requests */
	long long max_errors;	/* more errors than this halts (-1: off) */
};

struct plan {
	char *file;		/* as given */
	char *dir;		/* where exec runs: the plan file's directory */
	char *name, *owner;
	char **scope;		/* pool names, [nscope] */
	int nscope;
	struct pstep *steps;	/* [nsteps] */
	int nsteps;
	struct pstep *rollback;	/* on_failure steps, [nrollback]; none: halt */
	int nrollback;
	struct plan_halt halt;
	uint64_t grace_ms;	/* SIGTERM to SIGKILL for an exec stopped */
};

/*
 * Load the plan at path (text, len: from a string instead, for tests and
 * fuzzing; path then only names it) and check it against cfg: 0 with *out,
 * or -EINVAL (-errno if unreadable) with every problem in errs as
 * file:line:col. Warnings go in errs too and refuse nothing.
 */
int plan_load(const char *path, const struct config *cfg, struct plan **out,
	      struct errlist *errs) ND_MUST_CHECK;
int plan_load_string(const char *path, const char *text, size_t len, const struct config *cfg,
		     struct plan **out, struct errlist *errs) ND_MUST_CHECK;

void plan_free(struct plan *p);

/* Does this YAML file look like a plan (a top-level `steps`)? */
bool plan_file_is_plan(const char *path);

/* The steps from index `from`, and the on_failure steps from rb_from,
 * still valid under cfg (a reload): NULL, or why not (into buf). */
const char *plan_still_valid(const struct plan *p, int from, int rb_from, const struct config *cfg, char *buf,
			     size_t n);

/* [{n, text, line, kind, pool, backend}] of the steps: what --dry-run shows. */
json_t *plan_steps_json(const struct pstep *steps, int n);

const char *plan_kind_name(enum pstep_kind k);

#endif
