/*
 * main.c - the `nodown` command line: subcommand dispatch and help.
 *
 * Owns: argument parsing and exit codes. Exit codes: 0 success, 1 the
 *       command failed (invalid config, cannot listen...), 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/daemon.h"
#include "core/plan.h"

#define NODOWN_VERSION "0.1.0"

struct command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

static const char serve_usage[] =
	"usage: nodown serve [-c FILE]\n"
	"\n"
	"Run the proxy in the foreground with the configuration in FILE\n"
	"(default ./nodown.yml). The configuration is validated first; nodown\n"
	"refuses to start on any error and prints each as file:line:col: message.\n"
	"\n"
	"Signals: SIGTERM or SIGINT stop gracefully: listeners close, in-flight\n"
	"requests finish, the next response to each keep-alive client carries\n"
	"'Connection: close', idle clients are closed after shutdown_idle_grace,\n"
	"and anything still open at shutdown_timeout is closed. A second signal\n"
	"exits at once. SIGHUP reloads FILE like 'nodown reload' (errors are\n"
	"logged and the running config stays).\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   configuration file (default ./nodown.yml)\n"
	"  -h, --help          show this help\n";

static const char check_usage[] =
	"usage: nodown check [-c] [PATH] [PLAN...] [--json]\n"
	"\n"
	"Validate a configuration, and release plans against it, without\n"
	"starting or changing anything. PATH is a configuration file, or a\n"
	"directory (like conf.d/) whose *.yml and *.yaml files, in name order, are\n"
	"fragments of one configuration (their listeners and pools add up; any\n"
	"other top-level key may be set in one file only). Prints 'PATH: ok'\n"
	"with counts of listeners, pools and workers and exits 0, or prints one\n"
	"'file:line:col: message' line per problem and exits 1. Checks: YAML\n"
	"syntax, unknown keys, wrong types and ranges, missing required keys,\n"
	"names (letters, digits, '-', '_', '.'), duplicate names, listeners referring to undefined pools,\n"
	"two listeners on one address (0.0.0.0 or [::] clash with any address\n"
	"on their port), addresses that do not resolve, buffer sizes too small\n"
	"for max_header_size, fewer than 16 buffers per worker, health check\n"
	"settings (expect range, path/host only with type http), admin.listen\n"
	"without an admin.token of 16 characters or more. Duplicates across the\n"
	"files of a directory name both places. Warnings (file:line:col:\n"
	"warning: ...) refuse nothing: a backend address in two pools under\n"
	"different names.\n"
	"\n"
	"Each PLAN (docs/plans.md) is checked against PATH as 'nodown run' would:\n"
	"unknown keys and step kinds, wrong types, pools outside the plan's scope,\n"
	"pools, backends or switchover targets the config does not have, {vars}\n"
	"used outside a rolling block, a switchover of an http pool,\n"
	"batches larger than max_unavailable, and a max_unavailable that could\n"
	"take a pool below one ready backend. Prints 'PLAN: ok (...)' per plan.\n"
	"\n"
	"options:\n"
	"  -c, --config PATH   configuration file or directory (default ./nodown.yml)\n"
	"      --json          print {path, ok, listeners, pools, workers, plans:\n"
	"                      [{path, ok, name, steps}], errors: [{file, line, col,\n"
	"                      severity, message}]} on stdout, for CI\n"
	"  -h, --help          show this help\n";

static const char version_usage[] = "usage: nodown version\n\nPrint the version.\n";

static int usage_error(const char *cmd, const char *usage)
{
	fprintf(stderr, "nodown %s: invalid arguments\n\n%s", cmd, usage);
	return 2;
}

/* Parse "-c FILE" and "--help" for commands that take only a config. */
static int config_args(int argc, char **argv, const char *cmd, const char *usage,
		       const char **path)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	*path = "nodown.yml";
	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			*path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return usage_error(cmd, usage);
		}
	}
	if (optind != argc)
		return usage_error(cmd, usage);
	return -1;
}

static void print_problems(const struct errlist *errs)
{
	for (int i = 0; i < errs->nwarn; i++)
		fprintf(stderr, "%s\n", errs->warns[i]);
	for (int i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msgs[i]);
}

static int load_or_report(const char *path, struct config **cfg)
{
	struct errlist errs = { 0 };
	int r = config_load(path, cfg, &errs) == 0 ? 0 : 1;

	print_problems(&errs);
	if (r)
		fprintf(stderr, "nodown: %d error%s in %s\n", errs.n, errs.n == 1 ? "" : "s", path);
	errlist_free(&errs);
	return r;
}

/* `nodown check --json`: the problems as one list, in parts. */
static json_t *problems_json(const struct errlist *errs)
{
	json_t *list = json_array();

	for (int i = 0; i < errs->n + errs->nwarn; i++) {
		const struct errlist_item *it = i < errs->n ? &errs->items[i] : &errs->witems[i - errs->n];

		json_array_append_new(list, json_pack("{s:s, s:i, s:i, s:s, s:s}", "file", it->file,
			"line", it->line, "col", it->col, "severity", i < errs->n ? "error" : "warning",
			"message", it->message));
	}
	return list;
}

/* Check each plan against cfg (NULL: the config did not load, so they are
 * not checked); their outcome into plans (JSON) or printed. */
static bool check_plans(const struct config *cfg, char **paths, int n, struct errlist *errs, json_t *plans,
			bool quiet)
{
	bool ok = true;

	for (int i = 0; i < n; i++) {
		struct plan *p = NULL;
		bool pok = cfg && plan_load(paths[i], cfg, &p, errs) == 0;

		if (!cfg)
			errlist_add(errs, paths[i], 0, 0, "not checked: a plan is checked against a configuration "
				    "that loads, and this one has errors");
		ok &= pok;
		json_array_append_new(plans, json_pack("{s:s, s:b, s:s?, s:i}", "path", paths[i], "ok", pok,
			"name", p ? p->name : NULL, "steps", p ? p->nsteps : 0));
		if (pok && !quiet)
			printf("%s: ok (plan %s, owner %s, %d step%s, scope: %d pool%s)\n", paths[i], p->name,
			       p->owner, p->nsteps, p->nsteps == 1 ? "" : "s", p->nscope, p->nscope == 1 ? "" : "s");
		plan_free(p);
	}
	return ok;
}

static int check(const char *path, char **plans, int nplans, bool json)
{
	struct errlist errs = { 0 };
	struct config *cfg = NULL;
	json_t *pl = json_array(), *j;
	bool ok;
	char *out;

	if (plan_file_is_plan(path)) {
		fprintf(stderr, "nodown check: %s is a plan; a plan is checked against the configuration it "
			"runs on: nodown check CONFIG %s\n", path, path);
		json_decref(pl);
		return 2;
	}
	ok = config_load(path, &cfg, &errs) == 0;
	if (ok && !json)
		printf("%s: ok (%d listener%s, %d pool%s, %d worker%s)\n", path, cfg->nlisteners,
		       cfg->nlisteners == 1 ? "" : "s", cfg->npools, cfg->npools == 1 ? "" : "s",
		       cfg->workers, cfg->workers == 1 ? "" : "s");
	ok &= check_plans(cfg, plans, nplans, &errs, pl, json);
	if (json) {
		j = json_pack("{s:s, s:b, s:i, s:i, s:i, s:o, s:o}", "path", path, "ok", ok,
			      "listeners", cfg ? cfg->nlisteners : 0, "pools", cfg ? cfg->npools : 0,
			      "workers", cfg ? cfg->workers : 0, "plans", pl, "errors", problems_json(&errs));
		out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(out);
		free(out);
		json_decref(j);
	} else {
		json_decref(pl);
		print_problems(&errs);
		if (!ok)
			fprintf(stderr, "nodown: %d error%s%s%s\n", errs.n, errs.n == 1 ? "" : "s",
				nplans ? "" : " in ", nplans ? "" : path);
	}
	errlist_free(&errs);
	config_free(cfg);
	return ok ? 0 : 1;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool json = false;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': path = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(check_usage, stdout); return 0;
		default: return usage_error("check", check_usage);
		}
	}
	if (!path)
		path = optind < argc ? argv[optind++] : "nodown.yml";
	return check(path, argv + optind, argc - optind, json);
}

static int cmd_serve(int argc, char **argv)
{
	struct config *cfg;
	const char *path;
	int r = config_args(argc, argv, "serve", serve_usage, &path);

	if (r >= 0)
		return r;
	if (load_or_report(path, &cfg))
		return 1;
	return daemon_run(cfg);
}

static int cmd_version(int argc, char **argv)
{
	ND_UNUSED(argv);
	if (argc > 1)
		return usage_error("version", version_usage);
	printf("nodown %s\n", NODOWN_VERSION);
	return 0;
}

static const struct command commands[] = {
	{ "serve", "run the proxy daemon", serve_usage, cmd_serve },
	{ "check", "validate a configuration (file or directory) and release plans", check_usage, cmd_check },
	{ "status", "show listeners, pools and backends of the running daemon", status_usage, cmd_status },
	{ "drain", "take a backend out of rotation; in-flight requests finish", drain_usage, cmd_drain },
	{ "ready", "put a backend back in rotation", ready_usage, cmd_ready },
	{ "maint", "put a backend in maintenance (out of rotation)", maint_usage, cmd_maint },
	{ "weight", "set a backend's weight", weight_usage, cmd_weight },
	{ "switchover", "move a pg or redis pool's primary with no failed client", switchover_usage, cmd_switchover },
	{ "pause", "hold a pool's new requests, transactions or commands", pause_usage, cmd_pause },
	{ "resume", "end the pause of a pool", resume_usage, cmd_resume },
	{ "reload", "apply the changed config file without dropping anything", reload_usage, cmd_reload },
	{ "run", "run a release plan inside the daemon and follow it", run_usage, cmd_run },
	{ "abort", "stop the running plan now (the red button)", abort_usage, cmd_abort },
	{ "approve", "let a plan waiting at an approve step go on", approve_usage, cmd_approve },
	{ "history", "list plan runs, or show one as a procedure sheet", history_usage, cmd_history },
	{ "load", "constant-rate HTTP or Redis load with error counts and latency percentiles", load_usage, cmd_load },
	{ "version", "print the version", version_usage, cmd_version },
};

static void print_help(FILE *f)
{
	fprintf(f, "usage: nodown <command> [options]\n\n"
		   "nodown keeps web services up while you upgrade, restart or replace them.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'nodown <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		print_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv);
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			char prog[64];

			/* getopt names the program in its messages: "nodown drain" */
			snprintf(prog, sizeof(prog), "nodown %s", commands[i].name);
			argv[1] = prog;
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "nodown: unknown command '%s'\n\n", argv[1]);
	print_help(stderr);
	return 2;
}
