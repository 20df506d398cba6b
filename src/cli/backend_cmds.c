/*
 * backend_cmds.c - `nodown drain|ready|maint|weight POOL/BACKEND`: change
 * a backend's state through the admin API, optionally waiting for it to
 * have nothing in flight.
 *
 * Exit codes: 0 done, 1 refused by the daemon (unknown name...), daemon
 * unreachable, or --wait timed out; 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "client.h"
#include "commands.h"
#include "core/config.h"

#define SOCKET_OPTS \
	"  -s, --socket PATH   the daemon's admin socket\n" \
	"  -c, --config FILE   read the admin socket path from this config\n" \
	"  -h, --help          show this help\n"

const char drain_usage[] =
	"usage: nodown drain POOL/BACKEND [--wait] [--timeout D] [--socket PATH | -c FILE]\n"
	"\n"
	"Take a backend out of rotation without failing anything: it gets no new\n"
	"requests, its idle pooled connections close at once, and requests in\n"
	"flight finish. Its state is 'draining', then 'drained' once nothing is in\n"
	"flight. 'nodown ready' puts it back.\n"
	"\n"
	"options:\n"
	"  -w, --wait          return only when nothing is in flight on it\n"
	"  -t, --timeout D     with --wait, give up after D (default 60s) and exit 1,\n"
	"                      saying how many requests are still in flight\n"
	SOCKET_OPTS;

const char maint_usage[] =
	"usage: nodown maint POOL/BACKEND [--wait] [--timeout D] [--socket PATH | -c FILE]\n"
	"\n"
	"Put a backend in maintenance: like drain (no new requests, in-flight ones\n"
	"finish), but it stays 'maint' until 'nodown ready'.\n"
	"\n"
	"options:\n"
	"  -w, --wait          return only when nothing is in flight on it\n"
	"  -t, --timeout D     with --wait, give up after D (default 60s) and exit 1\n"
	SOCKET_OPTS;

const char ready_usage[] =
	"usage: nodown ready POOL/BACKEND [--socket PATH | -c FILE]\n"
	"\n"
	"Put a drained or maintained backend back in rotation.\n"
	"\n"
	"options:\n"
	SOCKET_OPTS;

const char weight_usage[] =
	"usage: nodown weight POOL/BACKEND N [--socket PATH | -c FILE]\n"
	"\n"
	"Set a backend's weight (0-1000) for blue/green and canary shifts: with\n"
	"weights 9 and 1, one request in ten goes to the second. Weight 0 sends it\n"
	"no new requests (in-flight ones finish).\n"
	"\n"
	"options:\n"
	SOCKET_OPTS;

struct backend_cmd {
	const char *name;		/* drain, ready, maint, weight */
	const char *usage;
	bool can_wait;
	bool takes_value;
};

/*
 * Wait until nothing is in flight on the backend (a drain is then
 * drained): long polls of GET /pools/P/backends/B?wait_idle=D, each
 * answered as soon as it is so, or after at most 5 s.
 */
static int wait_idle(const struct backend_cmd *bc, const char *sock, const char *pool,
		     const char *be, uint64_t timeout_ms)
{
	uint64_t start = nd_now_ms(), left;
	long long active = -1;
	char target[512];

	for (;;) {
		const char *state;
		json_t *b;
		bool draining;

		left = nd_now_ms() - start < timeout_ms ? timeout_ms - (nd_now_ms() - start) : 0;
		snprintf(target, sizeof(target), "/pools/%s/backends/%s?wait_idle=%llums", pool, be,
			 (unsigned long long)(left < 5000 ? (left ? left : 1) : 5000));
		b = client_json_ok(bc->name, sock, "GET", target);
		if (!b)
			return 1;
		active = json_integer_value(json_object_get(b, "active"));
		state = json_string_value(json_object_get(b, "state"));
		if (!state) {
			fprintf(stderr, "nodown %s: %s\n", bc->name,
				json_string_value(json_object_get(b, "error")));
			json_decref(b);
			return 1;
		}
		draining = !strcmp(state, "draining");
		json_decref(b);
		if (active == 0 && !draining) {
			printf("%s/%s: nothing in flight (%.1fs)\n", pool, be,
			       (double)(nd_now_ms() - start) / 1000);
			return 0;
		}
		if (nd_now_ms() - start >= timeout_ms)
			break;
	}
	fprintf(stderr, "nodown %s: %s/%s still has %lld request%s in flight after %.1fs; "
		"it stays out of rotation (run 'nodown status' to watch, 'nodown ready' to undo)\n",
		bc->name, pool, be, active, active == 1 ? "" : "s", (double)timeout_ms / 1000);
	return 1;
}

static int run(const struct backend_cmd *bc, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock_opt = NULL, *config = NULL;
	char pool[256], target[1024], *slash, *sock;
	uint64_t timeout_ms = 60000;
	bool wait = false, timeout_given = false;
	json_t *b;
	int o, r = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, bc->can_wait ? "wt:s:c:h" : "s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'w': wait = true; break;
		case 't':
			timeout_given = true;
			if (config_parse_duration(optarg, &timeout_ms) < 0) {
				fprintf(stderr, "nodown %s: --timeout takes a duration such as 30s or 2m, not '%s'\n",
					bc->name, optarg);
				return 2;
			}
			break;
		case 's': sock_opt = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(bc->usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", bc->usage); return 2;
		}
	}
	if ((wait || timeout_given) && !bc->can_wait) {
		fprintf(stderr, "nodown %s: --wait and --timeout apply to drain and maint\n\n%s",
			bc->name, bc->usage);
		return 2;
	}
	if (argc - optind != (bc->takes_value ? 2 : 1)) {
		fprintf(stderr, "nodown %s: expected POOL/BACKEND%s\n\n%s", bc->name,
			bc->takes_value ? " and a weight" : "", bc->usage);
		return 2;
	}
	slash = strchr(argv[optind], '/');
	if (!slash || slash == argv[optind] || !slash[1] || strchr(slash + 1, '/') ||
	    (size_t)(slash - argv[optind]) >= sizeof(pool)) {
		fprintf(stderr, "nodown %s: '%s' is not POOL/BACKEND (for example app/ap1)\n",
			bc->name, argv[optind]);
		return 2;
	}
	if (bc->takes_value) {
		const char *v = argv[optind + 1];

		if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 4 || atoi(v) > 1000) {
			fprintf(stderr, "nodown %s: the weight must be a whole number from 0 to 1000, not '%s'\n",
				bc->name, v);
			return 2;
		}
	}
	memcpy(pool, argv[optind], (size_t)(slash - argv[optind]));
	pool[slash - argv[optind]] = '\0';
	if (bc->takes_value)
		snprintf(target, sizeof(target), "/pools/%s/backends/%s/%s?value=%s", pool, slash + 1,
			 bc->name, argv[optind + 1]);
	else
		snprintf(target, sizeof(target), "/pools/%s/backends/%s/%s", pool, slash + 1, bc->name);
	sock = client_socket_path(bc->name, sock_opt, config);
	if (!sock)
		return 1;
	b = client_json_ok(bc->name, sock, "POST", target);
	if (!b) {
		free(sock);
		return 1;
	}
	printf("%s/%s: state %s, weight %lld, %lld in flight\n", pool, slash + 1,
	       json_string_value(json_object_get(b, "state")),
	       json_integer_value(json_object_get(b, "weight")),
	       json_integer_value(json_object_get(b, "active")));
	json_decref(b);
	if (wait)
		r = wait_idle(bc, sock, pool, slash + 1, timeout_ms);
	free(sock);
	return r;
}

int cmd_drain(int argc, char **argv)
{
	static const struct backend_cmd bc = { "drain", drain_usage, true, false };

	return run(&bc, argc, argv);
}

int cmd_maint(int argc, char **argv)
{
	static const struct backend_cmd bc = { "maint", maint_usage, true, false };

	return run(&bc, argc, argv);
}

int cmd_ready(int argc, char **argv)
{
	static const struct backend_cmd bc = { "ready", ready_usage, false, false };

	return run(&bc, argc, argv);
}

int cmd_weight(int argc, char **argv)
{
	static const struct backend_cmd bc = { "weight", weight_usage, false, true };

	return run(&bc, argc, argv);
}
