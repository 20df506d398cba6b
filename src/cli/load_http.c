/*
 * load_http.c - `nodown load http URL`: one request, the same every time
 * (method, path, headers, body as given), each response read with llhttp;
 * 5xx and 4xx are error classes of their own.
 */
#include <getopt.h>
#include <llhttp.h>
#include <stdio.h>

#include "core/config.h"
#include "load.h"

enum { E_5XX, E_4XX };
static const char *const http_errs[] = { "5xx", "4xx" };

struct http_arg {
	const char *method, *body;
	char headers[4096];
	char *req;			/* the request bytes, owned */
	size_t req_len;
};

struct http_state {
	llhttp_t parser;
	bool complete;
	int status;
};

static llhttp_settings_t settings;

static int on_complete(llhttp_t *p)
{
	struct http_state *st = p->data;

	st->complete = true;
	st->status = p->status_code;
	return HPE_PAUSED;
}

static int http_option(void *arg, int o, const char *val)
{
	struct http_arg *a = arg;

	switch (o) {
	case 'm': a->method = val; return 0;
	case 'b': a->body = val; return 0;
	case 'H':
		if (!strchr(val, ':') || strpbrk(val, "\r\n"))
			return -1;
		strncat(a->headers, val, sizeof(a->headers) - strlen(a->headers) - 3);
		strcat(a->headers, "\r\n");
		return 0;
	}
	return -1;
}

/* http://HOST:PORT/PATH -> address, "HOST:PORT" and path. */
static int parse_url(const char *url, struct sockaddr_storage *ss, char *hostport, size_t hn,
		     const char **path)
{
	const char *h = url + 7, *slash;
	const char *why;
	char hp[300];

	if (strncmp(url, "http://", 7))
		return -1;
	slash = strchr(h, '/');
	*path = slash ? slash : "/";
	snprintf(hp, sizeof(hp), "%.*s", slash ? (int)(slash - h) : (int)strlen(h), h);
	if (!strchr(hp, ':') || hp[strlen(hp) - 1] == ']')
		strncat(hp, ":80", sizeof(hp) - strlen(hp) - 1);
	snprintf(hostport, hn, "%s", hp);
	return config_parse_address(hp, ss, &why);
}

static int http_target(void *arg, const char *url, struct sockaddr_storage *addr)
{
	struct http_arg *a = arg;
	const char *method = a->method ? a->method : "GET", *path;
	char hostport[300];
	size_t cap;
	int n;

	if (parse_url(url, addr, hostport, sizeof(hostport), &path) < 0) {
		fprintf(stderr, "nodown load: '%s' is not a usable URL (http://HOST:PORT/PATH)\n", url);
		return -1;
	}
	cap = strlen(method) + strlen(path) + strlen(hostport) + strlen(a->headers) +
	      (a->body ? strlen(a->body) : 0) + 128;
	a->req = xmalloc(cap);
	n = snprintf(a->req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nodown-load\r\n%s",
		     method, path, hostport, a->headers);
	if (a->body)
		n += snprintf(a->req + n, cap - (size_t)n, "Content-Length: %zu\r\n\r\n%s",
			      strlen(a->body), a->body);
	else
		n += snprintf(a->req + n, cap - (size_t)n, "\r\n");
	a->req_len = (size_t)n;
	llhttp_settings_init(&settings);
	settings.on_message_complete = on_complete;
	return 0;
}

static void http_done(void *arg)
{
	free(((struct http_arg *)arg)->req);
}

static void http_opened(void *arg, void *state, const char **p, size_t *n)
{
	struct http_state *st = state;

	ND_UNUSED(arg);
	ND_UNUSED(p);
	llhttp_init(&st->parser, HTTP_RESPONSE, &settings);
	st->parser.data = st;
	*n = 0;
}

static void http_request(void *arg, void *state, uint64_t seq, const char **p, size_t *n)
{
	struct http_arg *a = arg;

	ND_UNUSED(state);
	ND_UNUSED(seq);
	*p = a->req;
	*n = a->req_len;
}

static enum load_feed http_feed(void *state, const char *p, size_t n, int *err)
{
	struct http_state *st = state;
	llhttp_errno_t e = llhttp_execute(&st->parser, p, n);
	bool keep;

	if (e == HPE_OK)
		return LOAD_MORE;
	if (e != HPE_PAUSED || !st->complete)
		return LOAD_BAD;
	*err = st->status >= 500 ? LOAD_E_PROTO + E_5XX : st->status >= 400 ? LOAD_E_PROTO + E_4XX : -1;
	keep = llhttp_should_keep_alive(&st->parser);
	llhttp_init(&st->parser, HTTP_RESPONSE, &settings);
	st->parser.data = st;
	st->complete = false;
	return keep ? LOAD_DONE : LOAD_DONE_CLOSE;
}

static const struct option http_opts[] = {
	{ "method", required_argument, NULL, 'm' }, { "body", required_argument, NULL, 'b' },
	{ "header", required_argument, NULL, 'H' }, { NULL, 0, NULL, 0 },
};

const struct load_proto load_http = {
	.name = "http", .err_names = http_errs, .nerr = 2,
	.opts = http_opts, .shorts = "m:b:H:", .arg_size = sizeof(struct http_arg),
	.option = http_option, .target = http_target, .done = http_done,
	.state_size = sizeof(struct http_state),
	.opened = http_opened, .request = http_request, .feed = http_feed,
};
