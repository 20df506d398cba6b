/*
 * test_parse.c - http/parse.c: heads.
 *
 * Covers http_head_end (resumed across calls through `from`; CRLF and bare
 * LF line ends), an accept/reject table for http_scan_head over requests
 * and responses (every smuggling shape the proxy must refuse, with the
 * status it answers, and the lenient forms it accepts), the head summary
 * (Connection tokens, Expect, Content-Length, chunked, target forms),
 * http_rewrite_head (one canonical form: CRLF, our version, canonical
 * Content-Length and Transfer-Encoding, origin-form target with Host from
 * an absolute-form one, hop-by-hop removal, X-Forwarded-For merge,
 * underscores, overflow) and http_head_verify (llhttp reads every
 * rewritten head with the framing the scan found). Bodies: test_body.c.
 *
 * Heads are copied to exact-size heap buffers before parsing, so a read
 * past the end shows up under SANITIZE=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/parse.h"

#define S(lit) lit, sizeof(lit) - 1

/* p[0, n) in a heap block of exactly n bytes. */
static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

static int scan(const char *p, size_t n, bool request, struct http_head *h, const char **why)
{
	char *q = dup_exact(p, n);
	int r;

	*why = NULL;
	r = http_scan_head(q, n, request, h, why);
	free(q);
	if (r)
		assert_non_null(*why);
	return r;
}

/* ---- http_head_end --------------------------------------------------------- */

static void test_head_end(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
	const size_t end = sizeof(req) - 1 - 4;

	(void)state;
	assert_int_equal(http_head_end(S(req), 0), end);
	assert_int_equal(http_head_end(req, end, 0), end);
	assert_int_equal(http_head_end(req, end - 1, 0), 0);
	assert_int_equal(http_head_end("", 0, 0), 0);
	assert_int_equal(http_head_end(S("A\r\n\r\n"), 0), 5);
	assert_int_equal(http_head_end(S("A\r\n\r"), 0), 0);
	/* A bare CR is no line end: it is refused later, by the scan. */
	assert_int_equal(http_head_end(S("A\r\r\n\r\n"), 0), 6);
	/* The first empty line wins; what follows it is not looked at. */
	assert_int_equal(http_head_end(S("A\r\n\r\nB\r\n\r\n"), 0), 5);
	assert_int_equal(http_head_end(S("A\r\n\r\nB\nC"), 0), 5);
	/* Nothing new since the last call. */
	assert_int_equal(http_head_end(S("GET / HTTP/1.1\r\n"), 16), 0);
}

/* Lines may end in a bare LF (RFC 9112 2.2); every mix of the two ends
 * a head at its first empty line. */
static void test_head_end_bare_lf(void **state)
{
	static const char late[] = "GET / HTTP/1.1\r\nHost: a\nX: y\r\n";

	(void)state;
	assert_int_equal(http_head_end(S("GET / HTTP/1.1\nHost: a\n\nX"), 0), 24);
	assert_int_equal(http_head_end(S("GET / HTTP/1.1\r\nHost: a\n\r\nX"), 0), 26);
	assert_int_equal(http_head_end(S("GET / HTTP/1.1\r\nHost: a\r\n\nX"), 0), 26);
	assert_int_equal(http_head_end(S(late), 0), 0);
	assert_int_equal(http_head_end(late, 16, 0), 0);
	assert_int_equal(http_head_end(S(late), 16), 0);
	/* The request line is never empty: an LF at the very start, or after
	 * one CR, ends nothing (the proxy skips such lines first). */
	assert_int_equal(http_head_end(S("\n"), 0), 0);
	assert_int_equal(http_head_end(S("\r\n"), 0), 0);
	/* The empty line found when resuming right between its bytes. */
	assert_int_equal(http_head_end(S("A\n\n"), 2), 3);
	assert_int_equal(http_head_end(S("A\n\r\n"), 3), 4);
}

/* The head arrives a few bytes at a time; each call resumes where the last
 * one stopped, whatever byte of CRLFCRLF the split falls on. */
static void test_head_end_split(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nNEXT";
	const size_t end = sizeof(req) - 1 - 4;

	(void)state;
	for (size_t step = 1; step <= 7; step++) {
		size_t from = 0, len, got = 0;

		for (len = step; len <= sizeof(req) - 1; len += step) {
			char *q = dup_exact(req, len);

			got = http_head_end(q, len, from);
			free(q);
			if (got)
				break;
			from = len;
		}
		assert_int_equal(got, end);
		assert_true(len >= end);
		assert_true(len < end + step);
	}
	/* Every split point of the terminator, resuming exactly once. */
	for (size_t split = end - 4; split < end; split++) {
		assert_int_equal(http_head_end(req, split, 0), 0);
		assert_int_equal(http_head_end(req, end, split), end);
	}
}

/* ---- http_scan_head: the accept/reject table ------------------------------- */

struct case_ {
	const char *p;
	size_t n;
	int status;		/* 0 accepted, else the status answered */
};

#define OK(lit) { S(lit), 0 }
#define NO(lit, st) { S(lit), st }

static const struct case_ requests[] = {
	/* good */
	OK("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("GET /x?y=1&z HTTP/1.1\r\nhost: example.com:8080\r\nAccept: */*\r\n\r\n"),
	OK("GET / HTTP/1.0\r\n\r\n"),
	OK("GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
	OK("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
	OK("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	OK("POST /p HTTP/1.0\r\nContent-Length: 5\r\n\r\n"),
	OK("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
	OK("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
	OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("GET HTTPS://a:8443?q HTTP/1.1\r\nHost: b\r\n\r\n"),
	OK("GET http://a HTTP/1.0\r\n\r\n"),
	/* lenient forms, normalised by the rewrite */
	OK("GET / HTTP/1.1\nHost: a\nX: b\n\n"),
	OK("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n"),
	OK("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
	OK("GET / HTTP/1.9\r\nHost: a\r\n\r\n"),
	OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 010\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX_Under: a\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\nX-Sp:  v  \r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\nX-8bit: caf\xc3\xa9\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09AZaz: tchar\r\n\r\n"),
	OK("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000\r\n\r\n"),

	/* Content-Length with Transfer-Encoding, either order */
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
	NO("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
	/* duplicate Content-Length, same and different */
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", 400),
	/* Content-Length not a number */
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", 400),
	/* obs-fold */
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n 5\r\n\r\n", 400),
	/* bare CR, bare LF */
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", 400),
	NO("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\nY: b\r\n\r\n", 400),
	/* whitespace before the colon, invalid name characters */
	NO("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX y: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\n\"X\": a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
	/* control characters and NUL */
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 400),
	NO("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400),
	/* Host missing in 1.1, repeated */
	NO("GET / HTTP/1.1\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
	NO("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
	/* request Transfer-Encoding: exactly one "chunked", in one field, in 1.1:
	 * 501 for a coding nodown does not do, 400 for a malformed list */
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, ,\r\n\r\n", 400),
	NO("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	NO("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
	NO("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	/* request line shape */
	NO(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
	NO("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
	NO("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET / HTTP/1.1\r\nHost: a\r\nConnection: a, b, c, d, e, f, g, h, i\r\n\r\n", 400),
	/* request-target forms (RFC 9112 3.2) */
	NO("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	NO("GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	/* versions other than 1.0 and 1.1 */
	NO("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	NO("PRI * HTTP/2.0\r\n\r\n", 505),
	NO("GET / HTTP/0.9\r\n\r\n", 505),
	NO("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
	/* CONNECT */
	NO("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
	NO("CONNECT a:443 HTTP/1.0\r\n\r\n", 501),
};

static const struct case_ responses[] = {
	OK("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\n\r\n"),
	OK("HTTP/1.0 200 OK\r\n\r\n"),
	OK("HTTP/1.1 200\r\n\r\n"),
	OK("HTTP/1.1 200 \r\n\r\n"),
	OK("HTTP/1.1 404 Not \xc3\xa9 Found\r\nServer: x\r\n\r\n"),
	OK("HTTP/1.1 204 No Content\r\n\r\n"),
	OK("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
	OK("HTTP/1.1 100 Continue\r\n\r\n"),
	OK("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	/* a response may end a non-chunked coding with the connection */
	OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
	/* no Host needed in a response */
	OK("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
	/* lenient forms from a backend, normalised by the rewrite */
	OK("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n"),
	OK("HTTP/1.1 200 OK\n\r\n"),
	OK("HTTP/1.1 200 OK\nContent-Length: 2\n\n"),
	OK("HTTP/1.2 200 OK\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n"),
	OK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),

	NO("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nX: a\rY: b\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", -1),
	NO("HTTP/1.1 200 O\rK\r\n\r\n", -1),
	NO("HTTP/1.1 200 O\x01K\r\n\r\n", -1),
	NO("HTTP/2.0 200 OK\r\n\r\n", -1),
	NO("HTTP/0.9 200 OK\r\n\r\n", -1),
	NO("HTTP/1.1 20 OK\r\n\r\n", -1),
	NO("HTTP/1.1 2000 OK\r\n\r\n", -1),
	NO("HTTP/1.1 099 Low\r\n\r\n", -1),
	NO("HTTP/1.1  200 OK\r\n\r\n", -1),
	NO("HTTP/1.1 2x0 OK\r\n\r\n", -1),
	NO("http/1.1 200 OK\r\n\r\n", -1),
	NO("HTTP/1.1 200 OK\r\r\n\r\n", -1),
	NO("GET / HTTP/1.1\r\nHost: a\r\n\r\n", -1),
};

static void check_table(const struct case_ *t, size_t n, bool request)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		struct http_head h;
		const char *why;
		int r = scan(t[i].p, t[i].n, request, &h, &why);
		bool ok = t[i].status == -1 ? r != 0 : r == t[i].status;

		if (!ok) {
			print_message("%s case %zu: want %d, got %d (%s): ", request ? "request" : "response",
				      i, t[i].status, r, why ? why : "accepted");
			for (size_t k = 0; k < t[i].n; k++) {
				unsigned char c = (unsigned char)t[i].p[k];

				if (c >= 0x20 && c < 0x7f && c != '\\')
					print_message("%c", c);
				else
					print_message("\\x%02x", c);
			}
			print_message("\n");
			bad++;
		}
		if (r == 0) {
			assert_int_equal(h.len, t[i].n);
			assert_int_equal(h.request, request);
		}
	}
	assert_int_equal(bad, 0);
}

static void test_scan_requests(void **state)
{
	(void)state;
	check_table(requests, ARRAY_LEN(requests), true);
}

static void test_scan_responses(void **state)
{
	(void)state;
	check_table(responses, ARRAY_LEN(responses), false);
}

/*
 * An HTTP/0.9 request has no version at all ("GET /path"): it is answered
 * 505 like any other version nodown does not speak, not 400.
 */
static void test_scan_http09_style(void **state)
{
	struct http_head h;
	const char *why;

	(void)state;
	assert_int_equal(scan(S("GET /\r\n\r\n"), true, &h, &why), 505);
	assert_int_equal(scan(S("GET /index.html\r\n\r\n"), true, &h, &why), 505);
}

/* A head must be exactly one head: nothing after the blank line. */
static void test_scan_trailing_bytes(void **state)
{
	struct http_head h;
	const char *why;

	(void)state;
	assert_int_equal(scan(S("GET / HTTP/1.1\r\nHost: a\r\n\r\nX"), true, &h, &why), 400);
	assert_int_not_equal(scan(S("HTTP/1.1 200 OK\r\n\r\n\r\n"), false, &h, &why), 0);
}

/* ---- the head summary -------------------------------------------------------- */

static void test_summary_request_line(void **state)
{
	static const char p[] = "POST /up?x=1 HTTP/1.0\r\nContent-Length: 007\r\n\r\n";
	struct http_head h;
	const char *why;

	(void)state;
	assert_int_equal(scan(S(p), true, &h, &why), 0);
	assert_true(h.request);
	assert_true(http_span_is(p, h.method, "post"));
	assert_int_equal(h.method.off, 0);
	assert_int_equal(h.method.len, 4);
	assert_int_equal(h.target.off, 5);
	assert_int_equal(h.target.len, 7);
	assert_memory_equal(p + h.target.off, "/up?x=1", 7);
	assert_int_equal(h.major, 1);
	assert_int_equal(h.minor, 0);
	assert_int_equal(h.len, sizeof(p) - 1);
	assert_true(h.has_cl);
	assert_int_equal(h.cl, 7);
	assert_false(h.has_te);
	assert_false(h.chunked);
	assert_false(h.has_host);
	assert_false(h.conn_close);
	assert_false(h.conn_keepalive);
	assert_false(h.expect_continue);
	assert_int_equal(h.nconn_tokens, 0);
}

static void test_summary_fields(void **state)
{
	struct http_head h;
	const char *why;

	(void)state;
	{
		static const char p[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.conn_keepalive);
		assert_false(h.conn_close);
		assert_false(h.conn_upgrade);
		assert_int_equal(h.nconn_tokens, 0);
	}
	{
		static const char p[] = "GET / HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.conn_close);
		assert_false(h.conn_keepalive);
		assert_true(h.has_host);
	}
	{
		static const char p[] = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
					"Upgrade: websocket\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.conn_upgrade);
		assert_true(h.has_upgrade);
	}
	{
		/* Upgrade without the Connection token, and the other way round */
		static const char p[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
		static const char q[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.has_upgrade);
		assert_false(h.conn_upgrade);
		assert_int_equal(scan(S(q), true, &h, &why), 0);
		assert_false(h.has_upgrade);
		assert_true(h.conn_upgrade);
	}
	{
		/* Several fields and lists: every token counted, others kept as spans. */
		static const char p[] = "GET / HTTP/1.1\r\nHost: a\r\n"
					"Connection: keep-alive, X-Foo ,, x-bar\r\n"
					"Connection: CLOSE\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.conn_keepalive);
		assert_true(h.conn_close);
		assert_int_equal(h.nconn_tokens, 2);
		assert_true(http_span_is(p, h.conn_tokens[0], "x-foo"));
		assert_int_equal(h.conn_tokens[0].len, 5);
		assert_true(http_span_is(p, h.conn_tokens[1], "x-bar"));
	}
	{
		static const char p[] = "GET / HTTP/1.1\r\nHost: a\r\n"
					"Connection: a, b, c, d, e, f, g, h\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_int_equal(h.nconn_tokens, HTTP_MAX_CONN_TOKENS);
	}
	{
		static const char p[] = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
					"Content-Length: 123456789012345678\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.expect_continue);
		assert_true(h.has_cl);
		assert_int_equal(h.cl, 123456789012345678ull);
	}
	{
		static const char p[] = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue \r\n\r\n";
		static const char q[] = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-x\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.expect_continue);
		assert_int_equal(scan(S(q), true, &h, &why), 0);
		assert_false(h.expect_continue);
	}
	{
		static const char p[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

		assert_int_equal(scan(S(p), true, &h, &why), 0);
		assert_true(h.has_te);
		assert_true(h.chunked);
		assert_false(h.has_cl);
	}
	{
		static const char p[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, deflate\r\n\r\n";

		assert_int_equal(scan(S(p), false, &h, &why), 0);
		assert_true(h.has_te);
		assert_false(h.chunked);
	}
	{
		static const char p[] = "HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n"
					"Content-Length: 0\r\n\r\n";

		assert_int_equal(scan(S(p), false, &h, &why), 0);
		assert_false(h.request);
		assert_int_equal(h.status, 404);
		assert_int_equal(h.major, 1);
		assert_int_equal(h.minor, 0);
		assert_true(h.conn_keepalive);
		assert_true(h.has_cl);
		assert_int_equal(h.cl, 0);
	}
}

static void test_span_is(void **state)
{
	static const char p[] = "xKeep-Alivex";

	(void)state;
	assert_true(http_span_is(p, (struct span){ 1, 10 }, "keep-alive"));
	assert_false(http_span_is(p, (struct span){ 1, 9 }, "keep-alive"));
	assert_false(http_span_is(p, (struct span){ 1, 10 }, "keep-aliv"));
	assert_false(http_span_is(p, (struct span){ 1, 11 }, "keep-alive"));
	assert_true(http_span_is(p, (struct span){ 0, 0 }, ""));
}

/* ---- http_rewrite_head ---------------------------------------------------------- */

/* Scan in (must be accepted), rewrite with rw, compare to want, re-scan. */
static void check_rewrite(const char *in, size_t n, bool request, const struct http_rewrite *rw,
			  const char *want)
{
	struct http_head h, h2;
	const char *why;
	char out[2048];
	long r;

	assert_int_equal(scan(in, n, request, &h, &why), 0);
	r = http_rewrite_head(in, &h, rw, out, sizeof(out));
	assert_true(r > 0);
	out[r] = '\0';
	assert_string_equal(out, want);
	assert_int_equal(scan(out, (size_t)r, request, &h2, &why), 0);
	assert_int_equal(h2.has_cl, h.has_cl);
	assert_int_equal(h2.cl, h.cl);
	assert_int_equal(h2.chunked, h.chunked);
	if (http_head_verify(out, (size_t)r, &h, !request && h.status < 200, &why) != 0)
		fail_msg("llhttp refused the rewritten head: %s", why);
}

static void test_rewrite_hop_by_hop(void **state)
{
	static const char in[] =
		"POST /a HTTP/1.1\r\n"
		"Host: example\r\n"
		"Connection: keep-alive, X-Secret, Content-Length, host\r\n"
		"Keep-Alive: timeout=5\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"TE: trailers\r\n"
		"Upgrade: websocket\r\n"
		"X-Secret: s\r\n"
		"Content-Length: 3\r\n"
		"x-secret: s2\r\n"
		"X-Secreted: kept\r\n"
		"Accept: */*\r\n"
		"\r\n";
	const struct http_rewrite rw = { 0 };

	(void)state;
	check_rewrite(S(in), true, &rw,
		      "POST /a HTTP/1.1\r\n"
		      "Host: example\r\n"
		      "Content-Length: 3\r\n"
		      "X-Secreted: kept\r\n"
		      "Accept: */*\r\n"
		      "\r\n");
}

static void test_rewrite_framing_kept(void **state)
{
	static const char in[] =
		"POST /a HTTP/1.1\r\n"
		"Connection: Transfer-Encoding, HOST\r\n"
		"Transfer-Encoding: chunked\r\n"
		"Host: h\r\n"
		"\r\n";
	const struct http_rewrite rw = { .via = "1.1 nodown" };

	(void)state;
	check_rewrite(S(in), true, &rw,
		      "POST /a HTTP/1.1\r\n"
		      "Transfer-Encoding: chunked\r\n"
		      "Host: h\r\n"
		      "Via: 1.1 nodown\r\n"
		      "\r\n");
}

static void test_rewrite_forwarded(void **state)
{
	static const char in[] =
		"GET /a HTTP/1.1\r\n"
		"Host: example\r\n"
		"X-Forwarded-For: 1.1.1.1\r\n"
		"Accept: */*\r\n"
		"x-forwarded-for: 2.2.2.2, 3.3.3.3 \r\n"
		"X-Forwarded-For:\r\n"
		"X-Forwarded-Proto: https\r\n"
		"x-forwarded-proto: gopher\r\n"
		"Via: 1.0 edge\r\n"
		"\r\n";
	const struct http_rewrite rw = {
		.forwarded_for = "10.0.0.1",
		.forwarded_proto = "http",
		.via = "1.1 nodown",
		.connection = "keep-alive",
	};

	(void)state;
	check_rewrite(S(in), true, &rw,
		      "GET /a HTTP/1.1\r\n"
		      "Host: example\r\n"
		      "Accept: */*\r\n"
		      "Via: 1.0 edge\r\n"
		      "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\n"
		      "X-Forwarded-Proto: http\r\n"
		      "Via: 1.1 nodown\r\n"
		      "Connection: keep-alive\r\n"
		      "\r\n");
}

static void test_rewrite_forwarded_first(void **state)
{
	static const char in[] = "GET / HTTP/1.0\r\n\r\n";
	const struct http_rewrite rw = { .forwarded_for = "[::1]", .forwarded_proto = "http" };
	const struct http_rewrite none = { 0 };

	(void)state;
	check_rewrite(S(in), true, &rw,
		      "GET / HTTP/1.0\r\n"
		      "X-Forwarded-For: [::1]\r\n"
		      "X-Forwarded-Proto: http\r\n"
		      "\r\n");
	/* Without forwarded_for/proto, incoming fields pass untouched. */
	check_rewrite(S("GET / HTTP/1.0\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n\r\n"),
		      true, &none,
		      "GET / HTTP/1.0\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n\r\n");
}

static void test_rewrite_upgrade(void **state)
{
	static const char in[] =
		"GET /ws HTTP/1.1\r\n"
		"Host: a\r\n"
		"Connection: Upgrade\r\n"
		"Upgrade: websocket\r\n"
		"Sec-WebSocket-Key: k\r\n"
		"\r\n";
	const struct http_rewrite keep = { .connection = "upgrade", .keep_upgrade = true };
	const struct http_rewrite drop = { .connection = "close" };

	(void)state;
	check_rewrite(S(in), true, &keep,
		      "GET /ws HTTP/1.1\r\n"
		      "Host: a\r\n"
		      "Upgrade: websocket\r\n"
		      "Sec-WebSocket-Key: k\r\n"
		      "Connection: upgrade\r\n"
		      "\r\n");
	check_rewrite(S(in), true, &drop,
		      "GET /ws HTTP/1.1\r\n"
		      "Host: a\r\n"
		      "Sec-WebSocket-Key: k\r\n"
		      "Connection: close\r\n"
		      "\r\n");
}

static void test_rewrite_response(void **state)
{
	static const char in[] =
		"HTTP/1.1 200 OK\r\n"
		"Connection: close, X-Internal\r\n"
		"Keep-Alive: timeout=5\r\n"
		"X-Internal: 1\r\n"
		"Content-Length: 2\r\n"
		"Server: s\r\n"
		"\r\n";
	const struct http_rewrite rw = { .via = "1.1 nodown", .connection = "close" };

	(void)state;
	check_rewrite(S(in), false, &rw,
		      "HTTP/1.1 200 OK\r\n"
		      "Content-Length: 2\r\n"
		      "Server: s\r\n"
		      "Via: 1.1 nodown\r\n"
		      "Connection: close\r\n"
		      "\r\n");
}

/* An intermediary sends its own version: a 1.0 response goes out as 1.1,
 * so does a 1.2 request; a 1.0 request stays 1.0 (its client cannot read
 * chunked responses). */
static void test_rewrite_version(void **state)
{
	const struct http_rewrite rw = { .connection = "close" };

	(void)state;
	check_rewrite(S("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"), false, &rw,
		      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
	check_rewrite(S("HTTP/1.1 204\r\n\r\n"), false, &rw,
		      "HTTP/1.1 204 \r\nConnection: close\r\n\r\n");
	check_rewrite(S("HTTP/1.2 200 Fine\r\n\r\n"), false, &rw,
		      "HTTP/1.1 200 Fine\r\nConnection: close\r\n\r\n");
	check_rewrite(S("GET / HTTP/1.0\r\n\r\n"), true, &rw,
		      "GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
	check_rewrite(S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), true, &rw,
		      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
}

/* Bare LF line ends come out as CRLF, request and response. */
static void test_rewrite_crlf(void **state)
{
	const struct http_rewrite rw = { 0 };

	(void)state;
	check_rewrite(S("GET /x HTTP/1.1\nHost: a\nX-A: one\r\nX-B: two\n\n"), true, &rw,
		      "GET /x HTTP/1.1\r\nHost: a\r\nX-A: one\r\nX-B: two\r\n\r\n");
	check_rewrite(S("HTTP/1.1 200 OK\nContent-Length: 2\n\r\n"), false, &rw,
		      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
}

/* Content-Length goes on once, in canonical decimal (one origin server
 * reads 010 as octal 8); Transfer-Encoding once, its codings joined. */
static void test_rewrite_canonical_framing(void **state)
{
	const struct http_rewrite rw = { 0 };

	(void)state;
	check_rewrite(S("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 010\r\n\r\n"), true, &rw,
		      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n");
	check_rewrite(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000000\r\n\r\n"),
		      true, &rw, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	check_rewrite(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\nContent-Length: 05, 5\r\n\r\n"),
		      false, &rw, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n");
	check_rewrite(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,gzip,\r\nX: y\r\n"
			"transfer-encoding:  chunked \r\n\r\n"), false, &rw,
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX: y\r\n\r\n");
	check_rewrite(S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"), true, &rw,
		      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n");
}

/* RFC 9112 3.2.2: the Host sent on is the absolute-form target's
 * authority, and the target goes on in origin-form. */
static void test_rewrite_absolute_form(void **state)
{
	const struct http_rewrite rw = { 0 };

	(void)state;
	check_rewrite(S("GET http://other:81/p?q=1 HTTP/1.1\r\nHost: evil\r\nX: y\r\n\r\n"), true, &rw,
		      "GET /p?q=1 HTTP/1.1\r\nX: y\r\nHost: other:81\r\n\r\n");
	check_rewrite(S("GET https://h HTTP/1.1\r\nHost: h\r\n\r\n"), true, &rw,
		      "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	check_rewrite(S("GET http://h?x HTTP/1.0\r\n\r\n"), true, &rw,
		      "GET /?x HTTP/1.0\r\nHost: h\r\n\r\n");
}

/* Field names with '_' are dropped when asked (nginx's default), so
 * Transfer_Encoding never reaches a server that reads it as framing. */
static void test_rewrite_underscores(void **state)
{
	const struct http_rewrite drop = { .drop_underscore = true }, pass = { 0 };
	static const char in[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
				 "Content_Length: 5\r\nX-Ok: 1\r\nX_Forwarded_For: 1.2.3.4\r\n"
				 "Content-Length: 0\r\n\r\n";
	struct http_head h;
	const char *why;

	(void)state;
	assert_int_equal(scan(S(in), true, &h, &why), 0);
	assert_true(h.underscore);
	assert_false(h.chunked);
	check_rewrite(S(in), true, &drop,
		      "POST / HTTP/1.1\r\nHost: a\r\nX-Ok: 1\r\nContent-Length: 0\r\n\r\n");
	check_rewrite(S(in), true, &pass,
		      "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\n"
		      "X-Ok: 1\r\nX_Forwarded_For: 1.2.3.4\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(scan(S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), true, &h, &why), 0);
	assert_false(h.underscore);
}

/* Too small an output: -1, and nothing written past cap. */
static void test_rewrite_overflow(void **state)
{
	static const char in[] = "GET /a HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
	const struct http_rewrite rw = { .forwarded_for = "10.0.0.1", .via = "1.1 nodown" };
	struct http_head h;
	const char *why;
	char out[256];
	long full, r;

	(void)state;
	assert_int_equal(scan(S(in), true, &h, &why), 0);
	full = http_rewrite_head(in, &h, &rw, out, sizeof(out));
	assert_true(full > 0);
	for (size_t cap = 0; cap < (size_t)full; cap++) {
		memset(out, 'Z', sizeof(out));
		r = http_rewrite_head(in, &h, &rw, out, cap);
		assert_int_equal(r, -1);
		for (size_t i = cap; i < sizeof(out); i++)
			assert_int_equal(out[i], 'Z');
	}
	r = http_rewrite_head(in, &h, &rw, out, (size_t)full);
	assert_int_equal(r, full);
}

/* ---- http_head_verify --------------------------------------------------------- */

/* llhttp reads a head the way the scan did, or the head is refused. */
static void test_verify(void **state)
{
	struct http_head h;
	const char *why;

	(void)state;
	assert_int_equal(scan(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), true, &h, &why), 0);
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
					  &h, false, &why), 0);
	/* The same summary against a head whose framing differs. */
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n"),
					  &h, false, &why), -2);
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\r\nHost: a\r\n"
					    "Transfer-Encoding: chunked\r\n\r\n"), &h, false, &why), -2);
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), &h, false, &why), -2);
	/* What llhttp refuses outright: a bare LF, HTTP/1.2. */
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\n"),
					  &h, false, &why), -1);
	assert_non_null(why);
	assert_int_equal(http_head_verify(S("POST / HTTP/1.2\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
					  &h, false, &why), -1);
	/* Responses without a body whatever their fields say. */
	assert_int_equal(scan(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"), false, &h, &why), 0);
	assert_int_equal(http_head_verify(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
					  &h, true, &why), 0);
	/* A head that does not end. */
	assert_int_equal(http_head_verify(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"),
					  &h, false, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_head_end_bare_lf),
		cmocka_unit_test(test_head_end_split),
		cmocka_unit_test(test_scan_requests),
		cmocka_unit_test(test_scan_responses),
		cmocka_unit_test(test_scan_http09_style),
		cmocka_unit_test(test_scan_trailing_bytes),
		cmocka_unit_test(test_summary_request_line),
		cmocka_unit_test(test_summary_fields),
		cmocka_unit_test(test_span_is),
		cmocka_unit_test(test_rewrite_hop_by_hop),
		cmocka_unit_test(test_rewrite_framing_kept),
		cmocka_unit_test(test_rewrite_forwarded),
		cmocka_unit_test(test_rewrite_forwarded_first),
		cmocka_unit_test(test_rewrite_upgrade),
		cmocka_unit_test(test_rewrite_response),
		cmocka_unit_test(test_rewrite_version),
		cmocka_unit_test(test_rewrite_crlf),
		cmocka_unit_test(test_rewrite_canonical_framing),
		cmocka_unit_test(test_rewrite_absolute_form),
		cmocka_unit_test(test_rewrite_underscores),
		cmocka_unit_test(test_rewrite_overflow),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
