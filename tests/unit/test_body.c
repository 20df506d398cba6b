/*
 * test_body.c - http/body.c: where a body ends and the form it is sent on
 * in.
 *
 * Covers Content-Length, bodyless and connection-closed bodies; chunked
 * bodies decoded in place at once and fed a byte at a time (same payload,
 * same end); the RFC 9112 7.1 grammar read strictly for requests (chunk
 * extensions with BWS and quoted strings accepted; bare LF, whitespace at
 * the end of a size line, bad sizes, overflow, long lines refused) and
 * leniently for backends; trailer sections re-serialised without framing
 * fields or obs-fold; the encoded form decoded again strictly (round trip).
 *
 * Inputs are copied to exact-size heap buffers, so a read past the end
 * shows up under SANITIZE=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/body.h"

#define S(lit) lit, sizeof(lit) - 1

/* What decoding produced: the payload, the bytes taken, the encoded form. */
struct result {
	char data[4096];
	size_t ndata;
	size_t consumed;
	char enc[8192];
	size_t nenc;
	bool complete;
	int err;
	const char *why;
};

/* Decode p[0, n) in pieces of step bytes (0: at once), each in an exact
 * heap copy, collecting payload and encoded output. */
static void run(enum http_body_kind kind, uint64_t len, bool lenient, const char *p, size_t n,
		size_t step, struct result *r)
{
	struct http_body b = { 0 };
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	http_body_begin(&b, kind, len, lenient, 256);
	if (!step)
		step = n ? n : 1;
	while (off < n && !b.complete) {
		size_t k = n - off < step ? n - off : step, used, data;
		char *q = malloc(k);
		struct http_piece pc[HTTP_BODY_MAX_PIECES];
		int np;

		assert_non_null(q);
		memcpy(q, p + off, k);
		if (http_body_decode(&b, q, k, &used, &data, &r->why) != 0) {
			assert_non_null(r->why);
			r->err = 1;
			free(q);
			break;
		}
		assert_true(used <= k);
		assert_true(data <= used);
		assert_true(used == k || b.complete);
		memcpy(r->data + r->ndata, q, data);
		r->ndata += data;
		np = http_body_encode(&b, q, data, pc);
		assert_true(np <= HTTP_BODY_MAX_PIECES);
		for (int i = 0; i < np; i++) {
			memcpy(r->enc + r->nenc, pc[i].p, pc[i].n);
			r->nenc += pc[i].n;
		}
		free(q);
		off += used;
	}
	r->consumed = off;
	r->complete = b.complete;
	http_body_free(&b);
}

static void test_length(void **state)
{
	struct result r;

	(void)state;
	run(HTTP_BODY_LENGTH, 10, false, S("0123456789GET / HTTP/1.1\r\n"), 0, &r);
	assert_false(r.err);
	assert_true(r.complete);
	assert_int_equal(r.consumed, 10);
	assert_int_equal(r.ndata, 10);
	assert_memory_equal(r.enc, "0123456789", 10);
	assert_int_equal(r.nenc, 10);
	run(HTTP_BODY_LENGTH, 10, false, S("0123"), 1, &r);
	assert_false(r.complete);
	assert_int_equal(r.consumed, 4);
}

static void test_none_and_eof(void **state)
{
	struct http_body b = { 0 };
	char buf[] = "data and more";
	size_t used, data;
	const char *why;

	(void)state;
	http_body_begin(&b, HTTP_BODY_NONE, 0, false, 256);
	assert_true(b.complete);
	assert_int_equal(http_body_decode(&b, buf, 4, &used, &data, &why), 0);
	assert_int_equal(used, 0);
	/* Content-Length: 0 is no body at all. */
	http_body_begin(&b, HTTP_BODY_LENGTH, 0, false, 256);
	assert_true(b.complete);
	assert_int_equal(b.kind, HTTP_BODY_NONE);

	http_body_begin(&b, HTTP_BODY_EOF, 0, true, 256);
	assert_false(b.complete);
	assert_int_equal(http_body_decode(&b, buf, sizeof(buf) - 1, &used, &data, &why), 0);
	assert_int_equal(used, sizeof(buf) - 1);
	assert_int_equal(data, used);
	assert_false(b.complete);
	assert_int_equal(http_body_eof(&b), 0);
	assert_true(b.complete);

	/* EOF cuts the others short. */
	http_body_begin(&b, HTTP_BODY_LENGTH, 5, false, 256);
	assert_int_equal(http_body_eof(&b), -1);
	http_body_begin(&b, HTTP_BODY_CHUNKED, 0, false, 256);
	assert_int_equal(http_body_eof(&b), -1);
	http_body_free(&b);
}

static const char simple[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
#define SIMPLE_LEN (sizeof(simple) - 1 - strlen("GET /next HTTP/1.1\r\n"))

static void test_chunked(void **state)
{
	struct result r;

	(void)state;
	run(HTTP_BODY_CHUNKED, 0, false, S(simple), 0, &r);
	assert_false(r.err);
	assert_true(r.complete);
	assert_int_equal(r.consumed, SIMPLE_LEN);
	assert_int_equal(r.ndata, 11);
	assert_memory_equal(r.data, "hello world", 11);
	/* One run of payload per decode, then the last chunk. */
	assert_int_equal(r.nenc, strlen("b\r\nhello world\r\n0\r\n\r\n"));
	assert_memory_equal(r.enc, "b\r\nhello world\r\n0\r\n\r\n", r.nenc);
}

/* Fed a byte at a time, or in any step: the same payload, the same end. */
static void test_chunked_split(void **state)
{
	static const char in[] = "3;ext=\"a;b\" \t; x\r\nabc\r\n10\r\n0123456789abcdef\r\n"
				 "0\r\nX-T: v\r\n\r\nrest";
	struct result whole, part;

	(void)state;
	run(HTTP_BODY_CHUNKED, 0, false, S(in), 0, &whole);
	assert_false(whole.err);
	assert_true(whole.complete);
	assert_int_equal(whole.consumed, sizeof(in) - 1 - 4);
	for (size_t step = 1; step < sizeof(in); step++) {
		run(HTTP_BODY_CHUNKED, 0, false, S(in), step, &part);
		assert_false(part.err);
		assert_true(part.complete);
		assert_int_equal(part.consumed, whole.consumed);
		assert_int_equal(part.ndata, whole.ndata);
		assert_memory_equal(part.data, whole.data, whole.ndata);
		/* The trailer section is the same however it arrived. */
		assert_true(part.nenc >= 13);
		assert_memory_equal(part.enc + part.nenc - 13, "0\r\nX-T: v\r\n\r\n", 13);
	}
}

struct bad {
	const char *p;
	size_t n;
};
#define BAD(lit) { S(lit) }

/* Valid per the RFC 9112 7.1 grammar: accepted from clients. */
static const struct bad strict_ok[] = {
	BAD("5\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=b\r\nhello\r\n0\r\n\r\n"),
	BAD("5 ;a=b\r\nhello\r\n0\r\n\r\n"),
	BAD("5; a = b ; c\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=\"q;\\\"x\"\r\nhello\r\n0\r\n\r\n"),
	BAD("5\t;\ta\t=\t\"\"\r\nhello\r\n0\r\n\r\n"),
	BAD("0000000000000000000005\r\nhello\r\n0\r\n\r\n"),
	BAD("A\r\n0123456789\r\n0\r\n\r\n"),
	BAD("0;last\r\n\r\n"),
	BAD("0\r\nX: y\r\n\r\n"),
};

/* Refused from clients. */
static const struct bad strict_bad[] = {
	BAD("5\nhello\r\n0\r\n\r\n"),		/* bare LF ends a size line */
	BAD("5\r\nhello\n0\r\n\r\n"),		/* bare LF after data */
	BAD("5\r\nhello\r\n0\n\n"),
	BAD("5\r\nhello\r\n0\r\n\n"),
	BAD("5 \r\nhello\r\n0\r\n\r\n"),	/* whitespace at the end of a size line */
	BAD("5;a \r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=b \r\nhello\r\n0\r\n\r\n"),
	BAD("5\rhello\r\n0\r\n\r\n"),		/* bare CR */
	BAD("5\r\nhelloXX0\r\n\r\n"),		/* data not followed by CRLF */
	BAD("5\r\nhello\rX0\r\n\r\n"),
	BAD("zz\r\nhello\r\n0\r\n\r\n"),
	BAD("\r\nhello\r\n0\r\n\r\n"),
	BAD("-5\r\nhello\r\n0\r\n\r\n"),
	BAD("0x5\r\nhello\r\n0\r\n\r\n"),
	BAD("+5\r\nhello\r\n0\r\n\r\n"),
	BAD("1000000000000000\r\n"),		/* 16 significant digits */
	BAD("fffffffffffffffff1\r\n"),
	BAD("5;\r\nhello\r\n0\r\n\r\n"),
	BAD("5;=b\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=b=c\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=\"b\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a=\x01\r\nhello\r\n0\r\n\r\n"),
	BAD("5;a(b)\r\nhello\r\n0\r\n\r\n"),
	BAD("5,5\r\nhello\r\n0\r\n\r\n"),
	BAD("0\r\n folded\r\n\r\n"),		/* a trailer section starting with a fold */
	BAD("0\r\nX y: z\r\n\r\n"),		/* invalid trailer name */
	BAD("0\r\nX : z\r\n\r\n"),
	BAD("0\r\nNoColon\r\n\r\n"),
	BAD("0\r\nX: a\rb\r\n\r\n"),
	BAD("0\r\nX: a\x01\r\n\r\n"),
};

/* Refused from clients, accepted from backends (and sent on canonical). */
static const struct bad lenient_only[] = {
	BAD("5 \r\nhello\r\n0\r\n\r\n"),
	BAD("5  \nhello\n0\n\n"),
	BAD("5\nhello\n0\r\n\r\n"),
	BAD("5;a \r\nhello\r\n0\r\n\r\n"),
	BAD("5\r\nhello\r\n0\nX: y\n\n"),
};

static void test_chunked_grammar(void **state)
{
	struct result r, again;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(strict_ok); i++) {
		run(HTTP_BODY_CHUNKED, 0, false, strict_ok[i].p, strict_ok[i].n, 0, &r);
		if (r.err || !r.complete)
			fail_msg("strict_ok[%zu] refused: %s", i, r.why ? r.why : "incomplete");
	}
	for (size_t i = 0; i < ARRAY_LEN(strict_bad); i++) {
		for (size_t step = 0; step < 4; step++) {
			run(HTTP_BODY_CHUNKED, 0, false, strict_bad[i].p, strict_bad[i].n, step, &r);
			if (!r.err)
				fail_msg("strict_bad[%zu] accepted (step %zu)", i, step);
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(lenient_only); i++) {
		run(HTTP_BODY_CHUNKED, 0, false, lenient_only[i].p, lenient_only[i].n, 0, &r);
		if (!r.err)
			fail_msg("lenient_only[%zu] accepted strictly", i);
		run(HTTP_BODY_CHUNKED, 0, true, lenient_only[i].p, lenient_only[i].n, 0, &r);
		if (r.err || !r.complete)
			fail_msg("lenient_only[%zu] refused leniently: %s", i, r.why ? r.why : "incomplete");
		assert_int_equal(r.ndata, 5);
		/* What goes on is strict. */
		run(HTTP_BODY_CHUNKED, 0, false, r.enc, r.nenc, 0, &again);
		assert_false(again.err);
		assert_true(again.complete);
		assert_int_equal(again.ndata, 5);
		assert_memory_equal(again.data, "hello", 5);
	}
}

/* A chunk-size line longer than 4096 bytes (extensions) is refused. */
static void test_chunk_line_too_long(void **state)
{
	static char in[5000];
	struct result r;

	(void)state;
	memset(in, 'x', sizeof(in));
	memcpy(in, "5;a=", 4);
	run(HTTP_BODY_CHUNKED, 0, false, in, sizeof(in), 0, &r);
	assert_true(r.err);
}

/* Trailers: kept fields re-serialised (CRLF, one space after the colon),
 * framing and routing fields dropped, obs-fold made one space. */
static void test_trailers(void **state)
{
	static const char in[] =
		"0\r\nX-A:1\r\nContent-Length: 5\r\nHost: h\r\n  folded-into-host\r\n"
		"X-B:  two \r\n\t more\r\ntransfer-encoding: chunked\r\nX-C: 3\r\n\r\n";
	static const char want[] = "0\r\nX-A: 1\r\nX-B: two more\r\nX-C: 3\r\n\r\n";
	struct result r;

	(void)state;
	for (size_t step = 0; step < 9; step++) {
		run(HTTP_BODY_CHUNKED, 0, false, S(in), step, &r);
		assert_false(r.err);
		assert_true(r.complete);
		assert_int_equal(r.ndata, 0);
		assert_int_equal(r.nenc, sizeof(want) - 1);
		assert_memory_equal(r.enc, want, sizeof(want) - 1);
	}
	/* Only dropped fields: an empty trailer section. */
	run(HTTP_BODY_CHUNKED, 0, false, S("0\r\nHost: a\r\n\r\n"), 0, &r);
	assert_false(r.err);
	assert_memory_equal(r.enc, "0\r\n\r\n", 5);
	assert_int_equal(r.nenc, 5);
}

static void test_trailers_too_large(void **state)
{
	char in[600];
	struct result r;
	int n;

	(void)state;
	n = snprintf(in, sizeof(in), "0\r\nX: %0400d\r\n\r\n", 0);	/* max_trailer 256 in run() */
	run(HTTP_BODY_CHUNKED, 0, false, in, (size_t)n, 0, &r);
	assert_true(r.err);
	n = snprintf(in, sizeof(in), "0\r\nX: %0200d\r\n\r\n", 0);
	run(HTTP_BODY_CHUNKED, 0, false, in, (size_t)n, 0, &r);
	assert_false(r.err);
	assert_true(r.complete);
}

/* Large data chunks across many decodes: payload moved, never past an
 * unread byte; one chunk per decode run. */
static void test_chunked_large(void **state)
{
	char in[3000], want[2048];
	size_t n = 0, w = 0;
	struct result r, again;

	(void)state;
	for (int i = 0; i < 40; i++) {
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%x\r\n", 30 + i % 7);
		for (int k = 0; k < 30 + i % 7; k++) {
			in[n++] = (char)('a' + (i + k) % 26);
			want[w++] = (char)('a' + (i + k) % 26);
		}
		in[n++] = '\r';
		in[n++] = '\n';
	}
	memcpy(in + n, "0\r\n\r\n", 5);
	n += 5;
	for (size_t step = 1; step < 200; step += 13) {
		run(HTTP_BODY_CHUNKED, 0, false, in, n, step, &r);
		assert_false(r.err);
		assert_true(r.complete);
		assert_int_equal(r.ndata, w);
		assert_memory_equal(r.data, want, w);
		run(HTTP_BODY_CHUNKED, 0, false, r.enc, r.nenc, 0, &again);
		assert_false(again.err);
		assert_int_equal(again.ndata, w);
		assert_memory_equal(again.data, want, w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_none_and_eof),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_split),
		cmocka_unit_test(test_chunked_grammar),
		cmocka_unit_test(test_chunk_line_too_long),
		cmocka_unit_test(test_trailers),
		cmocka_unit_test(test_trailers_too_large),
		cmocka_unit_test(test_chunked_large),
	};

	return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
