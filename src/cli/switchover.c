/*
 * switchover.c - `nodown switchover POOL --to BACKEND`: move a pg or redis
 * pool's primary, showing each step as the daemon finishes it.
 *
 * Exit codes: 0 done; 1 refused, aborted (clients resumed on the old
 * primary) or failed, or the daemon could not be reached; 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>

#include "client.h"
#include "commands.h"
#include "core/config.h"

const char switchover_usage[] =
	"usage: nodown switchover POOL --to BACKEND [--timeout D] [--socket PATH | -c FILE]\n"
	"       nodown switchover POOL --abort [--socket PATH | -c FILE]\n"
	"\n"
	"Make BACKEND, a standby (pg) or replica (redis) of the current primary,\n"
	"the primary of POOL without a failed client or a lost write.\n"
	"\n"
	"pg pools: new transactions (and logins) are held, those in flight finish\n"
	"(at most D, default the pool's pause_timeout; if they do not, the\n"
	"switchover is aborted, clients go on on the old primary and the blocking\n"
	"sessions are named), the old primary's WAL position is recorded,\n"
	"fence_command runs if set, the target replays up to that position, is\n"
	"promoted (pg_promote() or promote_command) and checked to be at or past\n"
	"it; then server connections move to it and held clients go on.\n"
	"\n"
	"redis pools: new commands are held (a MULTI block finishes), those in\n"
	"flight finish (at most D; blocked ones, BLPOP and the like, abort it and\n"
	"are named), the old primary is fenced (CLIENT PAUSE WRITE), the target\n"
	"catches up with its offset, is promoted (REPLICAOF NO ONE), the old one\n"
	"becomes its replica, and every client moves with its session (database,\n"
	"name, protocol, subscriptions). The clients still connected directly to\n"
	"the old primary are listed at the end.\n"
	"\n"
	"Each step is printed as it ends, then the report (stall, held clients).\n"
	"\n"
	"--abort stops a running switchover of POOL while nothing has been done\n"
	"that cannot be undone (pg: before the fence; redis: before the\n"
	"promotion): clients go on, on the old primary. Later it is refused, and\n"
	"the switchover finishes or fails by itself. Exit 0 once it is aborted.\n"
	"\n"
	"options:\n"
	"      --to BACKEND    the standby to promote\n"
	"      --abort         abort the running switchover of POOL\n"
	"  -t, --timeout D     how long in-flight transactions may keep the pause\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

/* Print the steps not printed yet; returns how many are printed now. */
static size_t print_steps(json_t *r, size_t shown)
{
	json_t *steps = json_object_get(r, "steps"), *st;

	for (; shown < json_array_size(steps); shown++) {
		const char *detail;

		st = json_array_get(steps, shown);
		detail = json_string_value(json_object_get(st, "detail"));
		printf("  %-10s %5lld ms%s%s\n", json_string_value(json_object_get(st, "step")),
		       (long long)json_integer_value(json_object_get(st, "ms")), detail ? "  " : "",
		       detail ? detail : "");
	}
	fflush(stdout);
	return shown;
}

/* The end of a switchover that succeeded, and who stayed behind. */
static void print_done(json_t *r, const char *pool)
{
	json_t *lingering = json_object_get(r, "lingering"), *e;
	const char *lsn = json_string_value(json_object_get(r, "lsn"));
	size_t i;

	printf("done: %s is the primary of %s; clients held %lld ms (%lld waited)",
	       json_string_value(json_object_get(r, "to")), pool,
	       (long long)json_integer_value(json_object_get(r, "stall_ms")),
	       (long long)json_integer_value(json_object_get(r, "held_clients")));
	if (lsn)
		printf(", old primary at %s", lsn);
	printf("\n");
	if (json_array_size(lingering) == 0)
		return;
	printf("%zu %s still connected directly to the old primary %s (not through nodown):\n",
	       json_array_size(lingering), json_array_size(lingering) == 1 ? "client is" : "clients are",
	       json_string_value(json_object_get(r, "from")));
	json_array_foreach(lingering, i, e)
		printf("  id=%s addr=%s name=%s db=%s age=%ss idle=%ss last command=%s\n",
		       json_string_value(json_object_get(e, "id")), json_string_value(json_object_get(e, "addr")),
		       json_string_value(json_object_get(e, "name")), json_string_value(json_object_get(e, "db")),
		       json_string_value(json_object_get(e, "age")), json_string_value(json_object_get(e, "idle")),
		       json_string_value(json_object_get(e, "cmd")));
}

/* Print the steps as they end; exit status 0 if it ends in state `want`. */
static int follow(const char *sock, const char *pool, const char *want)
{
	char target[512];
	size_t shown = 0;
	int status;

	for (;;) {
		json_t *r;
		const char *state;

		/* a long poll: answered at the next step, the end, or 5 s */
		snprintf(target, sizeof(target), "/pools/%s/switchover?after=%zu&wait=5s", pool, shown);
		r = client_json("switchover", sock, "GET", target, &status);
		if (!r)
			return 1;
		if (status != 200) {
			fprintf(stderr, "nodown switchover: %s\n", json_string_value(json_object_get(r, "error")));
			json_decref(r);
			return 1;
		}
		shown = print_steps(r, shown);
		state = json_string_value(json_object_get(r, "state"));
		if (!json_is_true(json_object_get(r, "running"))) {
			int rc = strcmp(state, want) ? 1 : 0;

			if (!strcmp(state, "done"))
				print_done(r, pool);
			else
				fprintf(stderr, "nodown switchover: %s: %s\n", state,
					json_string_value(json_object_get(r, "error")));
			json_decref(r);
			return rc;
		}
		json_decref(r);
	}
}

/* --abort: ask the running switchover of pool to stop (before the fence). */
static int abort_running(const char *sock, const char *pool)
{
	char target[512];
	int status;
	json_t *r;

	snprintf(target, sizeof(target), "/pools/%s/switchover", pool);
	r = client_json("switchover", sock, "GET", target, &status);
	if (!r)
		return 1;
	if (status != 200 || !json_is_true(json_object_get(r, "running"))) {
		const char *e = json_string_value(json_object_get(r, "error"));

		if (status == 200 || (status == 404 && e && strstr(e, "no switchover")))
			fprintf(stderr, "nodown switchover: no switchover of %s is running\n", pool);
		else
			fprintf(stderr, "nodown switchover: %s\n", e ? e : "unexpected answer");
		json_decref(r);
		return 1;
	}
	snprintf(target, sizeof(target), "/operations/%lld/abort",
		 (long long)json_integer_value(json_object_get(r, "id")));
	json_decref(r);
	r = client_json("switchover", sock, "POST", target, &status);
	if (!r)
		return 1;
	if (status != 202) {
		fprintf(stderr, "nodown switchover: %s\n", json_string_value(json_object_get(r, "error")));
		json_decref(r);
		return 1;
	}
	json_decref(r);
	printf("abort of the switchover of %s asked:\n", pool);
	return follow(sock, pool, "aborted");
}

int cmd_switchover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "abort", no_argument, NULL, 'A' },
		{ "timeout", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock_opt = NULL, *config = NULL, *to = NULL, *timeout = NULL;
	bool abort_it = false;
	char target[512], *sock;
	uint64_t ms;
	json_t *r;
	int o, status, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'T': to = optarg; break;
		case 'A': abort_it = true; break;
		case 't': timeout = optarg; break;
		case 's': sock_opt = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(switchover_usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", switchover_usage); return 2;
		}
	}
	if (argc - optind != 1 || !to == !abort_it || (abort_it && timeout)) {
		fprintf(stderr, "nodown switchover: expected POOL and either --to BACKEND or --abort\n\n%s",
			switchover_usage);
		return 2;
	}
	if (timeout && config_parse_duration(timeout, &ms) < 0) {
		fprintf(stderr, "nodown switchover: --timeout takes a duration such as 5s, not '%s'\n", timeout);
		return 2;
	}
	sock = client_socket_path("switchover", sock_opt, config);
	if (!sock)
		return 1;
	if (abort_it) {
		rc = abort_running(sock, argv[optind]);
		free(sock);
		return rc;
	}
	snprintf(target, sizeof(target), "/pools/%s/switchover?to=%s%s%s", argv[optind], to,
		 timeout ? "&pause_timeout=" : "", timeout ? timeout : "");
	r = client_json("switchover", sock, "POST", target, &status);
	if (!r) {
		free(sock);
		return 1;
	}
	if (status != 202) {
		fprintf(stderr, "nodown switchover: %s\n", json_string_value(json_object_get(r, "error")));
		json_decref(r);
		free(sock);
		return 1;
	}
	json_decref(r);
	printf("switchover of %s to %s:\n", argv[optind], to);
	rc = follow(sock, argv[optind], "done");
	free(sock);
	return rc;
}
