/*
 * plan.c - the CLI of release plans: `nodown run PLAN` (submit, follow,
 * --dry-run, --detach, --resume), `nodown abort` (the red button),
 * `nodown approve` and `nodown history [RUN] [--json|--markdown]`.
 *
 * The daemon runs the plan (core/planrun.c); these commands only ask and
 * print, so a closed terminal stops the following, never the plan.
 *
 * Exit codes: 0 the plan ran to its end (run), stopped (abort), approved,
 * listed; 1 the plan failed, was aborted or refused, or the daemon could
 * not be reached; 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "client.h"
#include "commands.h"

const char run_usage[] =
	"usage: nodown run PLAN.yml [--dry-run] [--detach] [--resume[=RUN]] [--socket PATH | -c FILE]\n"
	"\n"
	"Run a release plan (docs/plans.md) inside the daemon: it is checked\n"
	"against the running config (the same checks as 'nodown check CONFIG\n"
	"PLAN'), then its steps run one by one, each recorded in the run log\n"
	"(runs_dir). Every step is printed as it ends. The plan goes on if this\n"
	"command is interrupted: follow it again with 'nodown history RUN' or the\n"
	"status page, stop it with 'nodown abort'.\n"
	"\n"
	"options:\n"
	"  -n, --dry-run       print every resolved step (batches expanded, {backend}\n"
	"                      filled in) and change nothing\n"
	"  -d, --detach        start the plan and return at once\n"
	"  -r, --resume[=RUN]  continue the last run of this plan that did not finish\n"
	"                      (or run RUN) from the step where it stopped (a batch of\n"
	"                      a rolling block starts over at its gate); the plan's\n"
	"                      steps must be the same as that run's\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

const char abort_usage[] =
	"usage: nodown abort [--socket PATH | -c FILE]\n"
	"\n"
	"The red button: stop the running plan now. A running exec gets SIGTERM,\n"
	"then SIGKILL after the plan's abort_grace (default 10s); a wait ends at\n"
	"once; a switchover is aborted if it still can be, else it finishes first.\n"
	"Backends are left in the state they are in. Prints the step where the\n"
	"plan stopped, the state of the scope's backends and how to resume.\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

const char approve_usage[] =
	"usage: nodown approve [--socket PATH | -c FILE]\n"
	"\n"
	"Let the running plan, waiting at an 'approve' step, go on.\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

const char history_usage[] =
	"usage: nodown history [RUN] [--json | --markdown] [--socket PATH | -c FILE]\n"
	"\n"
	"Without RUN: the plan runs kept in runs_dir, newest first (run, plan,\n"
	"owner, start, state, steps done). With RUN: that run, step by step\n"
	"(planned order, start, end, duration, details, output tail, status).\n"
	"\n"
	"options:\n"
	"  -j, --json          the run log as JSON\n"
	"  -m, --markdown      the run as a procedure sheet (a Markdown table with\n"
	"                      its status column filled in)\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The options of the plan commands (each takes some). */
struct common {
	const char *sock, *config;
	bool dry, detach, json, markdown;
	const char *resume;	/* "" for the last run */
};

static int parse(int argc, char **argv, const char *cmd, const char *usage, struct common *c, int maxargs)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' }, { "detach", no_argument, NULL, 'd' },
		{ "resume", optional_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
		{ "markdown", no_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *allowed = !strcmp(cmd, "run") ? "sc ndr" : !strcmp(cmd, "history") ? "sc jm" : "sc";
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "s:c:ndrjmh", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (o == '?' || !strchr(allowed, o)) {
			fprintf(stderr, "nodown %s: invalid arguments\n\n%s", cmd, usage);
			return 2;
		}
		switch (o) {
		case 's': c->sock = optarg; break;
		case 'c': c->config = optarg; break;
		case 'n': c->dry = true; break;
		case 'd': c->detach = true; break;
		case 'r': c->resume = optarg ? optarg : ""; break;
		case 'j': c->json = true; break;
		case 'm': c->markdown = true; break;
		}
	}
	if (argc - optind > maxargs || (!strcmp(cmd, "run") && argc - optind != 1) || (c->json && c->markdown) ||
	    (c->dry && c->detach)) {
		fprintf(stderr, "nodown %s: invalid arguments\n\n%s", cmd, usage);
		return 2;
	}
	return -1;
}

/* ---- printing steps ------------------------------------------------------------------ */

static void print_output(const char *out)
{
	const char *p = out, *nl;
	int lines = 0;

	for (const char *q = out; *q; q++)
		lines += *q == '\n';
	for (int skip = lines > 6 ? lines - 6 : 0; skip > 0 && (nl = strchr(p, '\n')); skip--)
		p = nl + 1;
	while (*p) {
		nl = strchr(p, '\n');
		printf("             | %.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
		if (!nl)
			break;
		p = nl + 1;
	}
}

static void print_rec(json_t *rec, size_t total, bool rollback)
{
	const char *detail = jstr(rec, "detail"), *out = jstr(rec, "output");

	printf("  %s[%2lld/%zu] %-8s %7.2fs  %s\n", rollback ? "rollback " : "", jint(rec, "n"), total,
	       jstr(rec, "status"), (double)jint(rec, "ms") / 1000, jstr(rec, "text"));
	if (*detail)
		printf("             %s\n", detail);
	if (*out)
		print_output(out);
}

/* Print the records of list that ended and are not printed yet. */
static void print_ended(json_t *list, size_t *shown, bool rollback)
{
	json_t *rec;

	while ((rec = json_array_get(list, *shown))) {
		const char *st = jstr(rec, "status");

		if (!strcmp(st, "pending") || !strcmp(st, "running"))
			break;
		if (!json_object_get(rec, "in_run"))
			print_rec(rec, json_array_size(list), rollback);
		++*shown;
	}
	fflush(stdout);
}

static void print_stop(json_t *run, const char *sock)
{
	json_t *at = json_object_get(run, "stopped_at"), *st, *pools, *p, *b;
	size_t i, j, done = 0;

	json_array_foreach(json_object_get(run, "steps"), i, st)
		done += !strcmp(jstr(st, "status"), "done");
	printf("plan %s %s at step %lld/%zu: %s%s\n", jstr(run, "plan"), jstr(run, "state"), jint(at, "n"),
	       json_array_size(json_object_get(run, "steps")), jstr(at, "text"),
	       json_is_true(json_object_get(at, "rollback")) ? " (its on_failure steps ran)" : "");
	printf("  why: %s\n  steps done: %zu; backends are left as they are:\n", jstr(run, "error"), done);
	st = client_json_ok("abort", sock, "GET", "/status");
	pools = json_object_get(st, "pools");
	json_array_foreach(pools, i, p) {
		bool in = false;
		json_t *s;
		size_t k;

		json_array_foreach(json_object_get(run, "scope"), k, s)
			in |= !strcmp(json_string_value(s), jstr(p, "name"));
		if (!in)
			continue;
		json_array_foreach(json_object_get(p, "backends"), j, b)
			printf("    %s/%s: %s, health %s, %lld in flight\n", jstr(p, "name"), jstr(b, "name"),
			       jstr(b, "state"), jstr(b, "health"), jint(b, "in_flight"));
		if (json_is_true(json_object_get(p, "paused")))
			printf("    %s is paused: 'nodown resume %s' releases its clients\n", jstr(p, "name"),
			       jstr(p, "name"));
	}
	json_decref(st);
	printf("  resume with: nodown run %s --resume\n", jstr(run, "file"));
}

/* Follow the plan run `id` until it ends; its final run JSON (owned). */
static json_t *follow(const char *cmd, const char *sock, const char *id, bool print)
{
	size_t after = 0, shown = 0, rb_shown = 0;
	json_t *op = NULL;

	for (;;) {
		char target[128];
		json_t *run;

		snprintf(target, sizeof(target), "/plans/current?after=%zu&wait=5s", after);
		json_decref(op);
		if (!(op = client_json_ok(cmd, sock, "GET", target)))
			return NULL;
		run = json_object_get(op, "run");
		if (strcmp(jstr(run, "id"), id)) {
			fprintf(stderr, "nodown %s: another plan run (%s) replaced %s\n", cmd, jstr(run, "id"), id);
			json_decref(op);
			return NULL;
		}
		after = json_array_size(json_object_get(op, "steps"));
		if (print) {
			print_ended(json_object_get(run, "steps"), &shown, false);
			print_ended(json_object_get(run, "rollback"), &rb_shown, true);
		}
		if (!json_is_true(json_object_get(op, "running"))) {
			json_incref(run);
			json_decref(op);
			return run;
		}
	}
}

/* ---- nodown run ---------------------------------------------------------------------- */

static void print_dry(json_t *j, const char *resume_id)
{
	json_t *steps = json_object_get(j, "steps"), *rb = json_object_get(j, "rollback"), *st;
	long long first = jint(j, "first");
	size_t i;

	printf("plan %s (owner %s), %zu steps; dry run: nothing changed\n", jstr(j, "plan"), jstr(j, "owner"),
	       json_array_size(steps));
	json_array_foreach(steps, i, st)
		printf("  %3lld  %-70s line %lld%s\n", jint(st, "n"), jstr(st, "text"), jint(st, "line"),
		       (long long)i + 1 < first ? "  (done: skipped by --resume)" : "");
	if (resume_id && first > 1)
		printf("--resume starts at step %lld\n", first);
	if (!json_array_size(rb))
		printf("on failure: halt (backends left as they are)\n");
	json_array_foreach(rb, i, st)
		printf("  on failure %lld: %s  line %lld\n", jint(st, "n"), jstr(st, "text"), jint(st, "line"));
}

static int refused(const char *cmd, json_t *j, int status)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(j, "errors"), i, e)
		fprintf(stderr, "%s\n", json_string_value(e));
	fprintf(stderr, "nodown %s: %s%s\n", cmd, jstr(j, "error"), status == 400 ? "; nothing was started" : "");
	json_decref(j);
	return 1;
}

int cmd_run(int argc, char **argv)
{
	struct common c = { 0 };
	int r = parse(argc, argv, "run", run_usage, &c, 1), status;
	char abs[PATH_MAX], *sock;
	json_t *req, *j, *run;
	const char *id;
	bool done;

	if (r >= 0)
		return r;
	if (!realpath(argv[optind], abs)) {
		fprintf(stderr, "nodown run: cannot read %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (!(sock = client_socket_path("run", c.sock, c.config)))
		return 1;
	req = json_pack("{s:s, s:b}", "file", abs, "dry_run", c.dry);
	if (c.resume)
		json_object_set_new(req, "resume", *c.resume ? json_string(c.resume) : json_true());
	j = client_json_body("run", sock, "POST", "/plans", req, &status);
	json_decref(req);
	if (!j) {
		free(sock);
		return 1;
	}
	if (status != 200 && status != 202) {
		free(sock);
		return refused("run", j, status);
	}
	if (c.dry) {
		print_dry(j, c.resume);
		json_decref(j);
		free(sock);
		return 0;
	}
	run = json_object_get(j, "run");
	id = jstr(run, "id");
	printf("plan %s: run %s started, %zu steps%s%s (nodown abort stops it)\n", jstr(run, "plan"), id,
	       json_array_size(json_object_get(run, "steps")), *jstr(run, "resumed_from") ? ", resuming " : "",
	       jstr(run, "resumed_from"));
	fflush(stdout);
	if (c.detach) {
		printf("follow it with: nodown history %s, or the status page\n", id);
		json_decref(j);
		free(sock);
		return 0;
	}
	run = follow("run", sock, id, true);
	json_decref(j);
	if (!run) {
		free(sock);
		return 1;
	}
	done = !strcmp(jstr(run, "state"), "done");
	if (done)
		printf("plan %s done in %.1fs: run %s (nodown history %s --markdown)\n", jstr(run, "plan"),
		       (double)jint(run, "elapsed_ms") / 1000, jstr(run, "id"), jstr(run, "id"));
	else
		print_stop(run, sock);
	json_decref(run);
	free(sock);
	return done ? 0 : 1;
}

/* ---- nodown abort, approve ----------------------------------------------------------------- */

int cmd_abort(int argc, char **argv)
{
	struct common c = { 0 };
	int r = parse(argc, argv, "abort", abort_usage, &c, 0), status;
	char *sock;
	json_t *j, *run;

	if (r >= 0)
		return r;
	if (!(sock = client_socket_path("abort", c.sock, c.config)))
		return 1;
	j = client_json("abort", sock, "POST", "/plans/abort", &status);
	if (!j || status != 202) {
		free(sock);
		return j ? refused("abort", j, status) : 1;
	}
	printf("aborting plan %s (run %s) at: %s\n", jstr(json_object_get(j, "run"), "plan"),
	       jstr(json_object_get(j, "run"), "id"), jstr(j, "step"));
	fflush(stdout);
	run = follow("abort", sock, jstr(json_object_get(j, "run"), "id"), false);
	json_decref(j);
	if (run)
		print_stop(run, sock);
	json_decref(run);
	free(sock);
	return run ? 0 : 1;
}

int cmd_approve(int argc, char **argv)
{
	struct common c = { 0 };
	int r = parse(argc, argv, "approve", approve_usage, &c, 0);
	char *sock;
	json_t *j;

	if (r >= 0)
		return r;
	if (!(sock = client_socket_path("approve", c.sock, c.config)))
		return 1;
	j = client_json_ok("approve", sock, "POST", "/plans/approve");
	free(sock);
	if (!j)
		return 1;
	printf("approved: plan %s goes on after '%s'\n", jstr(json_object_get(j, "run"), "plan"), jstr(j, "step"));
	json_decref(j);
	return 0;
}

/* ---- nodown history ------------------------------------------------------------------------ */

static void print_runs(json_t *j)
{
	json_t *runs = json_object_get(j, "runs"), *r;
	size_t i;

	if (!json_array_size(runs)) {
		printf("no plan run in %s\n", jstr(j, "runs_dir"));
		return;
	}
	printf("%-40s %-20s %-12s %-21s %-8s %s\n", "RUN", "PLAN", "OWNER", "STARTED", "STATE", "STEPS");
	json_array_foreach(runs, i, r)
		printf("%-40s %-20s %-12s %-21s %-8s %lld/%lld\n", jstr(r, "id"), jstr(r, "plan"), jstr(r, "owner"),
		       jstr(r, "started"), jstr(r, "state"), jint(r, "steps_done"), jint(r, "steps"));
}

/* A table cell: no '|' or line break. */
static void cell(const char *s)
{
	for (; *s; s++)
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '\n')
			fputs("<br>", stdout);
		else if (*s != '\r')
			putchar(*s);
	fputs(" | ", stdout);
}

static void markdown_rows(json_t *run, json_t *list, const char *what)
{
	json_t *st;
	size_t i;
	char dur[32];

	json_array_foreach(list, i, st) {
		const char *in_run = jstr(st, "in_run"), *out = jstr(st, "output");

		printf("| %s%lld | ", what, jint(st, "n"));
		cell(jstr(st, "text"));
		cell(jstr(st, "started"));
		cell(jstr(st, "ended"));
		snprintf(dur, sizeof(dur), "%.2fs", (double)jint(st, "ms") / 1000);
		cell(json_object_get(st, "ms") ? dur : "");
		cell(jstr(st, "detail"));
		if (*out) {
			size_t l = strlen(out);

			fputs("output: `", stdout);
			for (const char *p = l > 200 ? out + l - 200 : out; *p; p++)
				if (*p == '|' || *p == '`')
					putchar('\'');
				else
					putchar(*p == '\n' ? ' ' : *p);
			fputs("` | ", stdout);
		} else {
			cell("");
		}
		cell(jstr(run, "owner"));
		printf("%s%s%s%s |\n", jstr(st, "status"), *in_run ? " (in run " : "", in_run, *in_run ? ")" : "");
	}
}

static void print_markdown(json_t *run)
{
	printf("# Procedure sheet: %s\n\n", jstr(run, "plan"));
	printf("| | |\n| --- | --- |\n| Run | %s |\n| Owner | %s |\n| Plan file | %s |\n", jstr(run, "id"),
	       jstr(run, "owner"), jstr(run, "file"));
	printf("| Started | %s |\n| Ended | %s |\n| Status | %s |\n", jstr(run, "started"), jstr(run, "ended"),
	       jstr(run, "state"));
	if (*jstr(run, "error"))
		printf("| Why | %s |\n", jstr(run, "error"));
	if (*jstr(run, "resumed_from"))
		printf("| Resumes | %s |\n", jstr(run, "resumed_from"));
	printf("\n| # | Action | Start | End | Duration | Details | Output | Owner | Status |\n"
	       "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
	markdown_rows(run, json_object_get(run, "steps"), "");
	markdown_rows(run, json_object_get(run, "rollback"), "R");
}

static void print_run(json_t *run)
{
	json_t *st;
	size_t i, n = json_array_size(json_object_get(run, "steps"));

	printf("run %s: plan %s (owner %s), %s\n  file: %s\n  started %s, ended %s\n", jstr(run, "id"),
	       jstr(run, "plan"), jstr(run, "owner"), jstr(run, "state"), jstr(run, "file"), jstr(run, "started"),
	       *jstr(run, "ended") ? jstr(run, "ended") : "-");
	if (*jstr(run, "error"))
		printf("  why: %s\n", jstr(run, "error"));
	json_array_foreach(json_object_get(run, "steps"), i, st)
		print_rec(st, n, false);
	json_array_foreach(json_object_get(run, "rollback"), i, st)
		print_rec(st, json_array_size(json_object_get(run, "rollback")), true);
}

int cmd_history(int argc, char **argv)
{
	struct common c = { 0 };
	int r = parse(argc, argv, "history", history_usage, &c, 1);
	char *sock, target[300];
	json_t *j;

	if (r >= 0)
		return r;
	if (!(sock = client_socket_path("history", c.sock, c.config)))
		return 1;
	if (optind < argc)
		snprintf(target, sizeof(target), "/plans/runs/%s", argv[optind]);
	else
		snprintf(target, sizeof(target), "/plans/runs");
	j = client_json_ok("history", sock, "GET", target);
	free(sock);
	if (!j)
		return 1;
	if (c.json) {
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		puts(s);
		free(s);
	} else if (optind == argc) {
		print_runs(j);
	} else if (c.markdown) {
		print_markdown(j);
	} else {
		print_run(j);
	}
	json_decref(j);
	return 0;
}
