/*
 * health.c - the http health probe: a request whose response status must
 * fall in the expected range (`path`, `method`, `host`, `expect`), over
 * the core's TCP probe machinery (core/health.h).
 * Runs on: the control thread's loop.
 */
#include "health.h"

#include <errno.h>
#include <stdio.h>

#include "../core/config.h"

/* "200", "200-399" or "2xx" -> [min, max]. */
static int parse_expect(const char *s, int *min, int *max)
{
	int a, b, n;

	if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x') {
		*min = (s[0] - '0') * 100;
		*max = *min + 99;
		return 0;
	}
	if (sscanf(s, "%3d-%3d%n", &a, &b, &n) == 2 && !s[n] && a >= 100 && a <= b && b <= 599) {
		*min = a;
		*max = b;
		return 0;
	}
	if (sscanf(s, "%3d%n", &a, &n) == 1 && !s[n] && a >= 100 && a <= 599) {
		*min = *max = a;
		return 0;
	}
	return -EINVAL;
}

static void read_expect(struct cctx *cx, yaml_node_t *v, void *target)
{
	struct http_probe_cfg *h = target;

	if (!schema_want_scalar(cx, v, "expect", "a status"))
		return;
	if (parse_expect(schema_scalar(v), &h->expect_min, &h->expect_max) < 0)
		CFG_ERR(cx, v, "health.expect must be a status (200), a range (200-399) or a class "
			"(2xx), not '%s'", schema_scalar(v));
}

#define H(f) offsetof(struct http_probe_cfg, f)
static const struct field probe_keys[] = {
	{ .key = "path", .type = F_STR, .off = H(path) },
	{ .key = "method", .type = F_STR, .off = H(method) },
	{ .key = "host", .type = F_STR, .off = H(host) },
	{ .key = "expect", .type = F_CUSTOM, .fn = read_expect },
};
#undef H

static void probe_defaults(void *cfg)
{
	*(struct http_probe_cfg *)cfg = (struct http_probe_cfg){
		.path = xstrdup("/"), .method = xstrdup("GET"), .expect_min = 200, .expect_max = 399,
	};
}

static const struct keytable probe_table = {
	probe_keys, ARRAY_LEN(probe_keys), sizeof(struct http_probe_cfg), probe_defaults,
};

/* A check's state: its request, and the run in flight. */
struct http_probe_state {
	void *run;
	char req[512];
};

static const struct http_probe_cfg *probe_cfg(const struct hcheck *h)
{
	return h->pool->health.probe_cfg;
}

static void *http_open(struct hcheck *h)
{
	const struct http_probe_cfg *hp = probe_cfg(h);
	struct http_probe_state *st = xcalloc(1, sizeof(*st));
	char host[300];

	if (hp->host)
		snprintf(host, sizeof(host), "%s", hp->host);
	else
		config_format_address(&h->be->addr, host, sizeof(host));
	snprintf(st->req, sizeof(st->req),
		 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nodown-health\r\n"
		 "Connection: close\r\n\r\n", hp->method, hp->path, host);
	return st;
}

/* The status line decides. */
static int judge(const char *resp, size_t len, const struct hcheck *h, const char **why)
{
	static char buf[32];	/* the control thread only */
	int status;

	ND_UNUSED(len);
	if (!strstr(resp, "\r\n"))
		return -1;
	if (sscanf(resp, "HTTP/1.%*1d %3d", &status) != 1) {
		*why = "not an HTTP response";
		return 0;
	}
	snprintf(buf, sizeof(buf), "HTTP %d", status);
	*why = buf;
	return status >= probe_cfg(h)->expect_min && status <= probe_cfg(h)->expect_max;
}

static void http_run(struct hcheck *h, void *state)
{
	struct http_probe_state *st = state;

	probe_tcp_run(h, &st->run, st->req, judge);
}

static void http_cancel(struct hcheck *h, void *state)
{
	ND_UNUSED(h);
	probe_tcp_cancel(&((struct http_probe_state *)state)->run);
}

const struct probe_type http_probe = {
	.name = "http", .keys = &probe_table,
	.open = http_open, .run = http_run, .cancel = http_cancel, .close = free,
};
