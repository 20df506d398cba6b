/*
 * switchover.c - `nodown switchover POOL --to BACKEND`: move a pg pool's
 * primary, showing each step as the daemon finishes it.
 *
 * Exit codes: 0 done; 1 refused, aborted (clients resumed on the old
 * primary) or failed, or the daemon could not be reached; 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "core/config.h"

const char switchover_usage[] =
	"usage: nodown switchover POOL --to BACKEND [--timeout D] [--socket PATH | -c FILE]\n"
	"\n"
	"Make BACKEND, a streaming standby, the primary of pg pool POOL without a\n"
	"failed client or a lost commit: new transactions (and logins) are held,\n"
	"those in flight finish (at most D, default the pool's pause_timeout; if\n"
	"they do not, the switchover is aborted, clients go on on the old primary\n"
	"and the blocking sessions are named), the old primary's WAL position is\n"
	"recorded, fence_command runs if set, the target replays up to that\n"
	"position, is promoted (pg_promote() or promote_command) and checked to be\n"
	"at or past it; then server connections move to it and held clients go on.\n"
	"Each step is printed as it ends, then the report (stall, held clients, LSN).\n"
	"\n"
	"options:\n"
	"      --to BACKEND    the standby to promote\n"
	"  -t, --timeout D     how long in-flight transactions may keep the pause\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

static json_t *call(const char *sock, const char *method, const char *target, int *status)
{
	char *body;
	json_t *j;

	if (client_request("switchover", sock, method, target, status, &body) < 0)
		return NULL;
	j = json_loads(body, 0, NULL);
	if (!j)
		fprintf(stderr, "nodown switchover: unexpected answer: %s\n", body);
	free(body);
	return j;
}

/* Print the steps not printed yet; returns how many are printed now. */
static size_t print_steps(json_t *r, size_t shown)
{
	json_t *steps = json_object_get(r, "steps"), *st;

	for (; shown < json_array_size(steps); shown++) {
		const char *detail;

		st = json_array_get(steps, shown);
		detail = json_string_value(json_object_get(st, "detail"));
		printf("  %-8s %5lld ms%s%s\n", json_string_value(json_object_get(st, "step")),
		       (long long)json_integer_value(json_object_get(st, "ms")), detail ? "  " : "",
		       detail ? detail : "");
	}
	fflush(stdout);
	return shown;
}

static int follow(const char *sock, const char *pool)
{
	char target[512];
	size_t shown = 0;
	int status;

	snprintf(target, sizeof(target), "/pools/%s/switchover", pool);
	for (;;) {
		json_t *r = call(sock, "GET", target, &status);
		const char *state;

		if (!r)
			return 1;
		shown = print_steps(r, shown);
		state = json_string_value(json_object_get(r, "state"));
		if (!json_is_true(json_object_get(r, "running"))) {
			int rc = strcmp(state, "done") ? 1 : 0;

			if (rc == 0)
				printf("done: %s is the primary of %s; clients held %lld ms (%lld waited), "
				       "old primary at %s\n", json_string_value(json_object_get(r, "to")), pool,
				       (long long)json_integer_value(json_object_get(r, "stall_ms")),
				       (long long)json_integer_value(json_object_get(r, "held_clients")),
				       json_string_value(json_object_get(r, "lsn")));
			else
				fprintf(stderr, "nodown switchover: %s: %s\n", state,
					json_string_value(json_object_get(r, "error")));
			json_decref(r);
			return rc;
		}
		json_decref(r);
		usleep(20 * 1000);
	}
}

int cmd_switchover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock_opt = NULL, *config = NULL, *to = NULL, *timeout = NULL;
	char target[512], *sock;
	uint64_t ms;
	json_t *r;
	int o, status, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'T': to = optarg; break;
		case 't': timeout = optarg; break;
		case 's': sock_opt = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(switchover_usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", switchover_usage); return 2;
		}
	}
	if (argc - optind != 1 || !to) {
		fprintf(stderr, "nodown switchover: expected POOL and --to BACKEND\n\n%s", switchover_usage);
		return 2;
	}
	if (timeout && config_parse_duration(timeout, &ms) < 0) {
		fprintf(stderr, "nodown switchover: --timeout takes a duration such as 5s, not '%s'\n", timeout);
		return 2;
	}
	sock = client_socket_path("switchover", sock_opt, config);
	if (!sock)
		return 1;
	snprintf(target, sizeof(target), "/pools/%s/switchover?to=%s%s%s", argv[optind], to,
		 timeout ? "&pause_timeout=" : "", timeout ? timeout : "");
	r = call(sock, "POST", target, &status);
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
	rc = follow(sock, argv[optind]);
	free(sock);
	return rc;
}
