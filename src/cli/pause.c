/*
 * pause.c - `nodown pause POOL` and `nodown resume POOL`: hold a pool's
 * new requests (http), transactions (pg) or commands (redis) at their
 * boundaries, and let them go again.
 *
 * Exit codes: 0 done; 1 refused by the daemon (no such pool,
 * already paused, a switchover runs, not paused), the daemon could not be
 * reached, or --wait timed out; 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "client.h"
#include "commands.h"
#include "core/config.h"

const char pause_usage[] =
	"usage: nodown pause POOL [--timeout D] [--wait] [--socket PATH | -c FILE]\n"
	"\n"
	"Hold the new work of pool POOL at its boundary: an http request waits\n"
	"before it goes to a backend, a pg transaction (or login) before its first\n"
	"statement, a redis command before it is sent; work in flight finishes (a\n"
	"request, a MULTI block, a transaction). Clients see a stall, not an\n"
	"error. The pause ends with 'nodown resume POOL', or by itself after D\n"
	"(default 30s), whichever comes first; pg clients also give up after the\n"
	"pool's query_wait_timeout, http clients after their own timeouts.\n"
	"\n"
	"options:\n"
	"  -t, --timeout D     the longest the pause lasts (default 30s)\n"
	"  -w, --wait          return once nothing is in flight through the pool (the\n"
	"                      servers are quiet); exit 1 if that takes longer than D\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

const char resume_usage[] =
	"usage: nodown resume POOL [--socket PATH | -c FILE]\n"
	"\n"
	"End the pause of POOL ('nodown pause'): held clients go on at once.\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

/* The pool's `in_flight` in GET /status, or -1. */
static long long in_flight(const char *sock, const char *pool)
{
	json_t *st = client_json_ok("pause", sock, "GET", "/status"), *p;
	long long n = -1;
	size_t i;

	json_array_foreach(json_object_get(st, "pools"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")), pool))
			n = json_integer_value(json_object_get(p, "in_flight"));
	json_decref(st);
	return n;
}

static int wait_quiet(const char *sock, const char *pool, uint64_t timeout_ms)
{
	uint64_t start = nd_now_ms();
	long long n;

	while ((n = in_flight(sock, pool)) != 0) {
		if (n < 0)
			return 1;
		if (nd_now_ms() - start >= timeout_ms) {
			fprintf(stderr, "nodown pause: %lld still in flight through %s after %.1fs; the pool "
				"stays paused until 'nodown resume %s' or its timeout\n", n, pool,
				(double)timeout_ms / 1000, pool);
			return 1;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
	}
	printf("%s: nothing in flight (%.2fs)\n", pool, (double)(nd_now_ms() - start) / 1000);
	return 0;
}

static int run(const char *cmd, const char *usage, bool is_pause, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock_opt = NULL, *config = NULL, *timeout = NULL;
	char target[512], *sock;
	uint64_t ms = 30000;
	bool wait = false;
	json_t *r;
	int o, rc = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, is_pause ? "t:ws:c:h" : "s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 't': timeout = optarg; break;
		case 'w': wait = true; break;
		case 's': sock_opt = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", usage); return 2;
		}
	}
	if (argc - optind != 1 || (!is_pause && (timeout || wait))) {
		fprintf(stderr, "nodown %s: expected POOL%s\n\n%s", cmd, is_pause ? "" : " and no option", usage);
		return 2;
	}
	if (timeout && (config_parse_duration(timeout, &ms) < 0 || ms == 0)) {
		fprintf(stderr, "nodown %s: --timeout takes a duration above 0 such as 30s, not '%s'\n", cmd,
			timeout);
		return 2;
	}
	sock = client_socket_path(cmd, sock_opt, config);
	if (!sock)
		return 1;
	if (is_pause)
		snprintf(target, sizeof(target), "/pools/%s/pause?timeout=%llums", argv[optind],
			 (unsigned long long)ms);
	else
		snprintf(target, sizeof(target), "/pools/%s/resume", argv[optind]);
	r = client_json_ok(cmd, sock, "POST", target);
	if (!r) {
		free(sock);
		return 1;
	}
	if (is_pause)
		printf("%s paused for at most %.1fs; %lld in flight\n", argv[optind], (double)ms / 1000,
		       (long long)json_integer_value(json_object_get(r, "in_flight")));
	else
		printf("%s resumed after %lld ms; %lld clients were held\n", argv[optind],
		       (long long)json_integer_value(json_object_get(r, "elapsed_ms")),
		       (long long)json_integer_value(json_object_get(r, "held_clients")));
	json_decref(r);
	if (is_pause && wait)
		rc = wait_quiet(sock, argv[optind], ms);
	free(sock);
	return rc;
}

int cmd_pause(int argc, char **argv)
{
	return run("pause", pause_usage, true, argc, argv);
}

int cmd_resume(int argc, char **argv)
{
	return run("resume", resume_usage, false, argc, argv);
}
