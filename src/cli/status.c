/*
 * status.c - `nodown status`: what the running daemon is doing, as a table
 * for people or as the admin API's JSON for scripts.
 *
 * Exit codes: 0 shown, 1 the daemon could not be reached or answered an
 * error, 2 usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "client.h"
#include "commands.h"

const char status_usage[] =
	"usage: nodown status [--json] [--socket PATH | -c FILE]\n"
	"\n"
	"Show the running daemon's listeners (active, accepted and refused\n"
	"connections) and each pool's backends (state, weight, requests in\n"
	"flight, requests, responses by status class, failed exchanges, connect\n"
	"errors). The counters are since the daemon started.\n"
	"\n"
	"The daemon is found by --socket PATH, else by the admin.socket of -c FILE,\n"
	"else of ./nodown.yml, else ./nodown.sock.\n"
	"\n"
	"options:\n"
	"      --json          print the admin API's JSON (GET /status) unchanged\n"
	"  -s, --socket PATH   the daemon's admin socket\n"
	"  -c, --config FILE   read the admin socket path from this config\n"
	"  -h, --help          show this help\n";

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static void print_table(json_t *root)
{
	size_t i, j;
	json_t *l, *p, *b;

	printf("nodown pid %lld, %lld worker(s), up %llds%s\n\n", num(root, "pid"),
	       num(root, "workers"), num(root, "uptime_seconds"),
	       json_is_true(json_object_get(root, "stopping")) ? ", STOPPING" : "");
	printf("%-16s %-6s %-22s %-12s %8s %10s %8s\n", "LISTENER", "PROTO", "BIND", "POOL",
	       "ACTIVE", "ACCEPTED", "REFUSED");
	json_array_foreach(json_object_get(root, "listeners"), i, l)
		printf("%-16s %-6s %-22s %-12s %8lld %10lld %8lld\n", str(l, "name"),
		       str(l, "protocol"), str(l, "bind"), str(l, "pool"), num(l, "active"),
		       num(l, "accepted"), num(l, "refused"));
	printf("\n%-24s %-22s %-9s %-6s %6s %6s %10s %8s %8s %8s %8s %7s %8s\n", "POOL/BACKEND",
	       "ADDRESS", "STATE", "HEALTH", "WEIGHT", "ACTIVE", "REQUESTS", "2XX", "3XX", "4XX", "5XX",
	       "FAILED", "CONNERR");
	json_array_foreach(json_object_get(root, "pools"), i, p) {
		json_array_foreach(json_object_get(p, "backends"), j, b) {
			json_t *r = json_object_get(b, "responses");
			char name[256];

			snprintf(name, sizeof(name), "%s/%s", str(p, "name"), str(b, "name"));
			printf("%-24s %-22s %-9s %-6s %6lld %6lld %10lld %8lld %8lld %8lld %8lld %7lld %8lld\n",
			       name, str(b, "address"), str(b, "state"), str(b, "health"), num(b, "weight"),
			       num(b, "active"), num(b, "requests"), num(r, "2xx"), num(r, "3xx"),
			       num(r, "4xx"), num(r, "5xx"), num(r, "failed"), num(b, "connect_errors"));
		}
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *config = NULL;
	bool as_json = false;
	char *path, *body;
	json_error_t jerr;
	json_t *root;
	int o, status, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': as_json = true; break;
		case 's': sock = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(status_usage, stdout); return 0;
		default: fprintf(stderr, "\n%s", status_usage); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nodown status: unexpected argument '%s'\n\n%s", argv[optind], status_usage);
		return 2;
	}
	path = client_socket_path("status", sock, config);
	if (!path)
		return 1;
	r = client_request("status", path, "GET", "/status", &status, &body);
	free(path);
	if (r < 0)
		return 1;
	if (status != 200) {
		fprintf(stderr, "nodown status: the daemon answered %d: %s", status, body);
		free(body);
		return 1;
	}
	if (as_json) {
		fputs(body, stdout);
		free(body);
		return 0;
	}
	root = json_loads(body, 0, &jerr);
	free(body);
	if (!root) {
		fprintf(stderr, "nodown status: the daemon's JSON is invalid: %s\n", jerr.text);
		return 1;
	}
	print_table(root);
	json_decref(root);
	return 0;
}
