/*
 * planrun.h - release plans run inside the daemon, as operations of kind
 * "plan" (core/op.h): one at a time, step by step on the control loop, a
 * run log written to runs_dir at every step, a red button (abort), an
 * automatic halt on errors, approvals, and --resume from where a run
 * stopped. The admin endpoints are here.
 */
#ifndef ND_PLANRUN_H
#define ND_PLANRUN_H

struct admin_conn;
struct route_match;

/* POST /plans (body {"file": ABSOLUTE_PATH, "dry_run": bool, "resume":
 * true | "RUN"}): check the plan against the config; 200 with the resolved
 * steps (dry run), 202 with the run started, 400 with the problems. */
void plan_route_submit(struct admin_conn *ac, const struct route_match *m);

/* GET /plans/current[?after=N&wait=D]: the running or last run's
 * operation report, with wait once more than N steps ended (long poll). */
void plan_route_current(struct admin_conn *ac, const struct route_match *m);

/* POST /plans/abort (the red button), POST /plans/approve. */
void plan_route_abort(struct admin_conn *ac, const struct route_match *m);
void plan_route_approve(struct admin_conn *ac, const struct route_match *m);

/* GET /plans/runs (also /api/runs) and GET /plans/runs/RUN: the run logs. */
void plan_route_runs(struct admin_conn *ac, const struct route_match *m);
void plan_route_run(struct admin_conn *ac, const struct route_match *m);

#endif
