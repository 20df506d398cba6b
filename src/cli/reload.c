/*
 * reload.c - `nodown reload`: make the running daemon re-read its config.
 *
 * Exit codes: 0 applied, 1 refused (the errors are printed; the daemon
 * keeps serving the config it had) or the daemon could not be reached,
 * 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>

#include "client.h"
#include "commands.h"

const char reload_usage[] =
	"usage: nodown reload [--socket PATH | -c FILE]\n"
	"\n"
	"Make the running daemon re-read the config file it was started with\n"
	"(the same as sending it SIGHUP, but the outcome is printed here).\n"
	"The new config is validated first: on any error nothing changes, the\n"
	"daemon keeps serving the old one, and each error is printed (as\n"
	"file:line:col: message where it has a position). Otherwise new connections and the next request\n"
	"of each open connection use it at once; requests in flight finish on\n"
	"the old one. Backends that stay (same pool, name and address) keep\n"
	"their state, health, pooled connections and counters, and a state set\n"
	"by an operator (drain, maint, weight) is kept; a weight changed in the\n"
	"file applies unless an operator changed that backend's weight. Removed backends get no\n"
	"new requests; requests in flight on them finish. Listeners that stay at\n"
	"the same address keep their socket (no connection is refused); removed\n"
	"ones close, and their clients are closed once idle. Settings that need\n"
	"a restart (workers, buffers, admin, pid_file, state_file, log) must be\n"
	"unchanged, or the reload is refused.\n"
	"\n"
	"The daemon is found by --socket PATH, else by the admin.socket of -c FILE,\n"
	"else of ./nodown.yml, else ./nodown.sock.\n"
	"\n"
	"options:\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

/* Print the daemon's answer; 0 if it applied the reload. */
static int report(int status, const char *body)
{
	json_t *j = json_loads(body, 0, NULL), *e;
	size_t i;

	if (!j) {
		fprintf(stderr, "nodown reload: unexpected answer from the daemon: %s\n", body);
		return 1;
	}
	if (status == 200) {
		printf("reloaded: %s\n", json_string_value(json_object_get(j, "summary")));
		json_decref(j);
		return 0;
	}
	fprintf(stderr, "nodown reload: %s\n", json_string_value(json_object_get(j, "error")));
	json_array_foreach(json_object_get(j, "errors"), i, e)
		fprintf(stderr, "%s\n", json_string_value(e));
	json_decref(j);
	return 1;
}

int cmd_reload(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock_opt = NULL, *config = NULL;
	char *sock, *body;
	int o, status, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock_opt = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(reload_usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", reload_usage); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nodown reload: unexpected argument '%s'\n\n%s", argv[optind], reload_usage);
		return 2;
	}
	sock = client_socket_path("reload", sock_opt, config);
	if (!sock)
		return 1;
	r = client_request("reload", sock, "POST", "/reload", &status, &body);
	free(sock);
	if (r < 0)
		return 1;
	r = report(status, body);
	free(body);
	return r;
}
