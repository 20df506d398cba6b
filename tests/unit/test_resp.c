/*
 * test_resp.c - redis/resp.c: the incremental RESP reader.
 *
 * Covers requests (multibulk, empty commands, inline words with CRLF and
 * LF, double and single quotes and their escapes), replies (every RESP2
 * and RESP3 type, nesting, attributes, pushes, the depth limit), the
 * arguments kept (case-insensitive resp_arg_is, truncation at RESP_ARG_CAP
 * with the real length, available as soon as each is whole), several
 * values in one buffer, every error with its reason and place, errors
 * being sticky, the limits at and past their edge, and a 10 MB bulk fed
 * in 16 KiB chunks.
 *
 * Every input goes through run(), which feeds it whole, byte at a time
 * and in chunks of several sizes, each chunk in an exact-size heap block
 * (a read past it shows up under SANITIZE=1), and checks that the values
 * read, where they end and the error are the same for every cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis/resp.h"

#define S(lit) lit, sizeof(lit) - 1
#define MAX_VALUES 16

static const struct resp_limits lim_default = { 512 << 20, 1 << 20, 64 << 10 };

/* What a feed found: the values ended, then an error or where it stopped. */
struct val {
	size_t end;		/* offset just past the value */
	char type;
	int64_t argc;
	int nkept;
	struct resp_arg argv[RESP_ARGS_KEPT];
};

struct outcome {
	struct val v[MAX_VALUES];
	int nv;
	const char *why;	/* NULL: no error */
	size_t err_at;
	bool in_value;		/* at the end of the input */
};

/* Feed p[0, n): `first` bytes (0: as the others), then chunks of `chunk`
 * bytes (0: the rest whole). */
static void feed_all(struct outcome *o, enum resp_dir dir, const struct resp_limits *lim,
		     const char *p, size_t n, size_t first, size_t chunk)
{
	struct resp_reader r;
	size_t pos = 0;

	memset(o, 0, sizeof(*o));
	resp_reader_init(&r, dir, lim);
	while (pos < n) {
		size_t want = pos == 0 && first ? first : chunk;
		size_t k = want && want < n - pos ? want : n - pos, used = SIZE_MAX;
		const char *why = NULL;
		char *q = malloc(k);
		enum resp_result res;

		assert_non_null(q);
		memcpy(q, p + pos, k);
		res = resp_feed(&r, q, k, &used, &why);
		free(q);
		assert_true(used <= k);
		if (res == RESP_ERROR) {
			assert_non_null(why);
			o->why = why;
			o->err_at = pos + used;
			return;
		}
		if (res == RESP_MORE) {
			assert_int_equal(used, k);
			assert_true(resp_in_value(&r));
		} else {
			struct val *v = &o->v[o->nv++];

			assert_true(o->nv <= MAX_VALUES);
			assert_false(resp_in_value(&r));
			v->end = pos + used;
			v->type = r.type;
			v->argc = r.argc;
			v->nkept = r.nkept;
			memcpy(v->argv, r.argv, sizeof(r.argv[0]) * (size_t)r.nkept);
		}
		pos += used;
	}
	o->in_value = resp_in_value(&r);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->nv, b->nv);
	for (int i = 0; i < a->nv; i++) {
		const struct val *x = &a->v[i], *y = &b->v[i];

		assert_int_equal(x->end, y->end);
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->argc, y->argc);
		assert_int_equal(x->nkept, y->nkept);
		for (int j = 0; j < x->nkept; j++) {
			assert_int_equal(x->argv[j].len, y->argv[j].len);
			assert_memory_equal(x->argv[j].p, y->argv[j].p,
					    x->argv[j].len < RESP_ARG_CAP ? x->argv[j].len : RESP_ARG_CAP);
		}
	}
	if (a->why || b->why) {
		assert_non_null(a->why);
		assert_non_null(b->why);
		assert_string_equal(a->why, b->why);
		assert_int_equal(a->err_at, b->err_at);
	}
	assert_int_equal(a->in_value, b->in_value);
}

/* Read p[0, n) every way it can be cut into *o (whole). */
static void run_lim(struct outcome *o, enum resp_dir dir, const struct resp_limits *lim,
		    const char *p, size_t n)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 16 };
	struct outcome cut;

	feed_all(o, dir, lim, p, n, 0, 0);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		feed_all(&cut, dir, lim, p, n, 0, chunks[i]);
		assert_same(o, &cut);
	}
	for (size_t k = 1; k < n && n < 4096; k++) {	/* cut once, anywhere */
		feed_all(&cut, dir, lim, p, n, k, 0);
		assert_same(o, &cut);
	}
}

static void run(struct outcome *o, enum resp_dir dir, const char *p, size_t n)
{
	run_lim(o, dir, &lim_default, p, n);
}

static void assert_arg(const struct val *v, int i, const char *want, size_t len)
{
	assert_true(i < v->nkept);
	assert_int_equal(v->argv[i].len, len);
	assert_memory_equal(v->argv[i].p, want, len < RESP_ARG_CAP ? len : RESP_ARG_CAP);
}

/* One whole value of p[0, n), of this type. */
static const struct val *one(struct outcome *o, enum resp_dir dir, const char *p, size_t n, char type)
{
	run(o, dir, p, n);
	assert_null(o->why);
	assert_int_equal(o->nv, 1);
	assert_int_equal(o->v[0].end, n);
	assert_int_equal(o->v[0].type, type);
	assert_false(o->in_value);
	return &o->v[0];
}

/* p[0, n) refused with `why` at `at`, after `values` whole values. */
static void refused_lim(enum resp_dir dir, const struct resp_limits *lim, const char *p, size_t n,
			const char *why, size_t at, int values)
{
	struct outcome o;

	run_lim(&o, dir, lim, p, n);
	assert_non_null(o.why);
	assert_string_equal(o.why, why);
	assert_int_equal(o.err_at, at);
	assert_int_equal(o.nv, values);
}

static void refused(enum resp_dir dir, const char *p, size_t n, const char *why, size_t at)
{
	refused_lim(dir, &lim_default, p, n, why, at, 0);
}

/* ---- requests ------------------------------------------------------------------ */

static void test_request_multibulk(void **state)
{
	struct outcome o;
	const struct val *v;

	(void)state;
	v = one(&o, RESP_REQUEST, S("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), '*');
	assert_int_equal(v->argc, 2);
	assert_int_equal(v->nkept, 2);
	assert_arg(v, 0, "GET", 3);
	assert_arg(v, 1, "k", 1);

	v = one(&o, RESP_REQUEST, S("*9\r\n$3\r\nSET\r\n$0\r\n\r\n$1\r\n\n\r\n$2\r\nEX\r\n$2\r\n10\r\n"
				    "$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"), '*');
	assert_int_equal(v->argc, 9);
	assert_int_equal(v->nkept, RESP_ARGS_KEPT);	/* the first ones only */
	assert_arg(v, 0, "SET", 3);
	assert_arg(v, 1, "", 0);
	assert_arg(v, 2, "\n", 1);

	/* binary payloads, CRLF and NUL included */
	v = one(&o, RESP_REQUEST, S("*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\0*\r\n"), '*');
	assert_arg(v, 1, "\r\n\0*", 4);
}

/* *0, *-1, an empty or blank line: a value with argc 0. */
static void test_request_empty(void **state)
{
	static const char *const in[] = { "*0\r\n", "*-1\r\n", "\r\n", "\n", " \t \r\n", "\v\f\n" };
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		const struct val *v = one(&o, RESP_REQUEST, in[i], strlen(in[i]), in[i][0] == '*' ? '*' : 'i');

		assert_int_equal(v->argc, 0);
		assert_int_equal(v->nkept, 0);
	}
}

static void test_request_inline(void **state)
{
	struct outcome o;
	const struct val *v;

	(void)state;
	v = one(&o, RESP_REQUEST, S("PING\r\n"), 'i');
	assert_int_equal(v->argc, 1);
	assert_arg(v, 0, "PING", 4);

	v = one(&o, RESP_REQUEST, S("set a b\n"), 'i');
	assert_int_equal(v->argc, 3);
	assert_arg(v, 0, "set", 3);
	assert_arg(v, 1, "a", 1);
	assert_arg(v, 2, "b", 1);

	/* runs of blanks; a bare word ends at space, tab or CR only */
	v = one(&o, RESP_REQUEST, S("  mset\t a\r1  b\v2 c 3 d 4 \r\n"), 'i');
	assert_int_equal(v->argc, 8);
	assert_int_equal(v->nkept, RESP_ARGS_KEPT);
	assert_arg(v, 0, "mset", 4);
	assert_arg(v, 1, "a", 1);
	assert_arg(v, 2, "1", 1);

	/* a command starting with '$' or any byte but '*' is inline */
	v = one(&o, RESP_REQUEST, S("$3 x\r\n"), 'i');
	assert_int_equal(v->argc, 2);
	assert_arg(v, 0, "$3", 2);
}

static void test_request_quotes(void **state)
{
	struct outcome o;
	const struct val *v;

	(void)state;
	v = one(&o, RESP_REQUEST, S("SET \"a b\" 'c d'\r\n"), 'i');
	assert_int_equal(v->argc, 3);
	assert_arg(v, 1, "a b", 3);
	assert_arg(v, 2, "c d", 3);

	/* "..." escapes: \xHH, \n \r \t \b \a, \<other>; \x without two hex
	 * digits is x */
	v = one(&o, RESP_REQUEST, S("\"\\x41\\x6a\\n\\r\\t\\b\\a\\\"\\\\\\q\" \"\\x4g\" \"\\xZ\\x\"\n"), 'i');
	assert_int_equal(v->argc, 3);
	assert_arg(v, 0, "Aj\n\r\t\b\a\"\\q", 10);
	assert_arg(v, 1, "x4g", 3);
	assert_arg(v, 2, "xZx", 3);

	/* '...' knows only \' */
	v = one(&o, RESP_REQUEST, S("'it\\'s' 'a\\b' '\\\\''\r\n"), 'i');
	assert_int_equal(v->argc, 3);
	assert_arg(v, 0, "it's", 4);
	assert_arg(v, 1, "a\\b", 3);
	assert_arg(v, 2, "\\'", 2);
	v = one(&o, RESP_REQUEST, S("\"\" ''\r\n"), 'i');
	assert_int_equal(v->argc, 2);
	assert_arg(v, 0, "", 0);
	assert_arg(v, 1, "", 0);

	/* a quote may open inside a word; a closing quote must be followed by
	 * a blank (any isspace) or the end */
	v = one(&o, RESP_REQUEST, S("ab\"c d\" x'y'\v'z'\tw\n"), 'i');
	assert_int_equal(v->argc, 4);
	assert_arg(v, 0, "abc d", 5);
	assert_arg(v, 1, "xy", 2);
	assert_arg(v, 2, "z", 1);

	/* CR and LF inside quotes, when not ending the line */
	v = one(&o, RESP_REQUEST, S("\"a\rb\" \"\\x0d\"\n"), 'i');
	assert_arg(v, 0, "a\rb", 3);
	assert_arg(v, 1, "\r", 1);
}

static void test_request_quote_errors(void **state)
{
	const char *why = "unbalanced quotes in request";

	(void)state;
	refused(RESP_REQUEST, S("GET \"abc\r\n"), why, 9);
	refused(RESP_REQUEST, S("GET 'abc\n"), why, 8);
	refused(RESP_REQUEST, S("GET \"a\"b\n"), why, 7);
	refused(RESP_REQUEST, S("GET 'a'b\n"), why, 7);
	refused(RESP_REQUEST, S("\"a\\\n"), why, 3);
	refused(RESP_REQUEST, S("\"a\\x\n"), why, 4);
	refused(RESP_REQUEST, S("\"a\\x4\n"), why, 5);
	refused(RESP_REQUEST, S("'a\\\n"), why, 3);
	refused(RESP_REQUEST, S("'a\\'\r\n"), why, 5);
}

/* The first arguments are there as soon as each is whole. */
static void test_request_args_early(void **state)
{
	struct resp_reader r;
	const char *why;
	size_t used;

	(void)state;
	resp_reader_init(&r, RESP_REQUEST, &lim_default);
	assert_int_equal(resp_feed(&r, S("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nva"), &used, &why), RESP_MORE);
	assert_true(resp_in_value(&r));
	assert_int_equal(r.argc, 3);
	assert_int_equal(r.nkept, 2);
	assert_true(resp_arg_is(&r, 0, "SET"));
	assert_true(resp_arg_is(&r, 1, "K"));
	assert_false(resp_arg_is(&r, 2, "va"));
	assert_int_equal(resp_feed(&r, S("lue\r\nGET"), &used, &why), RESP_DONE);
	assert_int_equal(used, 5);
	assert_int_equal(r.nkept, 3);
	assert_true(resp_arg_is(&r, 2, "value"));
	assert_false(resp_in_value(&r));

	/* the next value starts afresh */
	assert_int_equal(resp_feed(&r, S("GET"), &used, &why), RESP_MORE);
	assert_true(resp_in_value(&r));
	assert_int_equal(r.type, 'i');
	assert_int_equal(r.nkept, 0);
	assert_int_equal(resp_feed(&r, S(" k\r\n"), &used, &why), RESP_DONE);
	assert_int_equal(r.argc, 2);
	assert_true(resp_arg_is(&r, 0, "get"));
}

static void test_arg_is(void **state)
{
	struct resp_reader r;
	const char *why;
	size_t used;

	(void)state;
	resp_reader_init(&r, RESP_REQUEST, &lim_default);
	assert_int_equal(resp_feed(&r, S("ClIeNt SetName x\r\n"), &used, &why), RESP_DONE);
	assert_true(resp_arg_is(&r, 0, "client"));
	assert_true(resp_arg_is(&r, 0, "CLIENT"));
	assert_true(resp_arg_is(&r, 1, "setname"));
	assert_false(resp_arg_is(&r, 1, "setnam"));
	assert_false(resp_arg_is(&r, 1, "setnamex"));
	assert_false(resp_arg_is(&r, 2, "y"));
	assert_false(resp_arg_is(&r, 3, "x"));	/* not kept */
	assert_false(resp_arg_is(&r, -1, "x"));
	/* only ASCII letters fold */
	assert_int_equal(resp_feed(&r, S("[@\xc3\xa9\r\n"), &used, &why), RESP_DONE);
	assert_true(resp_arg_is(&r, 0, "[@\xc3\xa9"));
	assert_false(resp_arg_is(&r, 0, "{`\xc3\xa9"));
	assert_false(resp_arg_is(&r, 0, "[@\xc3\x89"));
}

/* An argument longer than RESP_ARG_CAP: its start and its real length. */
static void test_arg_truncated(void **state)
{
	char big[200], msg[300], word[RESP_ARG_CAP + 1];
	struct outcome o;
	const struct val *v;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	n = snprintf(msg, sizeof(msg), "*2\r\n$%zu\r\n%.*s\r\n$1\r\nx\r\n", sizeof(big), (int)sizeof(big), big);
	v = one(&o, RESP_REQUEST, msg, (size_t)n, '*');
	assert_arg(v, 0, big, sizeof(big));
	assert_arg(v, 1, "x", 1);

	n = snprintf(msg, sizeof(msg), "\"%.*s\" 'x'\n", (int)sizeof(big), big);
	v = one(&o, RESP_REQUEST, msg, (size_t)n, 'i');
	assert_arg(v, 0, big, sizeof(big));
	assert_arg(v, 1, "x", 1);

	/* RESP_ARG_CAP bytes compare; one more does not */
	memcpy(word, big, RESP_ARG_CAP);
	word[RESP_ARG_CAP] = '\0';
	n = snprintf(msg, sizeof(msg), "%s %.*s\n", word, RESP_ARG_CAP + 1, big);
	{
		struct resp_reader r;
		const char *why;
		size_t used;

		resp_reader_init(&r, RESP_REQUEST, &lim_default);
		assert_int_equal(resp_feed(&r, msg, (size_t)n, &used, &why), RESP_DONE);
		assert_true(resp_arg_is(&r, 0, word));
		assert_int_equal(r.argv[1].len, RESP_ARG_CAP + 1);
		word[0] = 'A';
		assert_true(resp_arg_is(&r, 0, word));
		assert_false(resp_arg_is(&r, 1, word));
	}
}

/* Several requests in one buffer: each stops where it ends. */
static void test_request_pipeline(void **state)
{
	static const char in[] = "*1\r\n$4\r\nPING\r\nECHO hi\n\r\n*-1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nQUIT\r\n*1\r\n$3\r\nGE";
	struct outcome o;

	(void)state;
	run(&o, RESP_REQUEST, in, sizeof(in) - 1);
	assert_null(o.why);
	assert_int_equal(o.nv, 6);
	assert_int_equal(o.v[0].end, 14);
	assert_int_equal(o.v[0].type, '*');
	assert_arg(&o.v[0], 0, "PING", 4);
	assert_int_equal(o.v[1].end, 22);
	assert_int_equal(o.v[1].type, 'i');
	assert_int_equal(o.v[1].argc, 2);
	assert_arg(&o.v[1], 1, "hi", 2);
	assert_int_equal(o.v[2].end, 24);
	assert_int_equal(o.v[2].argc, 0);
	assert_int_equal(o.v[3].end, 29);
	assert_int_equal(o.v[3].type, '*');
	assert_int_equal(o.v[3].argc, 0);
	assert_int_equal(o.v[4].argc, 2);
	assert_arg(&o.v[4], 1, "a", 1);
	assert_int_equal(o.v[5].type, 'i');
	assert_arg(&o.v[5], 0, "QUIT", 4);
	assert_true(o.in_value);
}

static void test_request_errors(void **state)
{
	char msg[128];

	(void)state;
	refused(RESP_REQUEST, S("*abc\r\n"), "invalid multibulk length", 4);
	refused(RESP_REQUEST, S("*\r\n"), "invalid multibulk length", 1);
	refused(RESP_REQUEST, S("*-2\r\n"), "invalid multibulk length", 3);
	refused(RESP_REQUEST, S("*-0\r\n"), "invalid multibulk length", 3);
	refused(RESP_REQUEST, S("*01\r\n"), "invalid multibulk length", 3);
	refused(RESP_REQUEST, S("*+1\r\n"), "invalid multibulk length", 3);
	refused(RESP_REQUEST, S("* 1\r\n"), "invalid multibulk length", 3);
	refused(RESP_REQUEST, S("*?\r\n"), "invalid multibulk length", 2);
	refused(RESP_REQUEST, S("*1\n"), "invalid multibulk length", 2);
	refused(RESP_REQUEST, S("*99999999999999999999\r\n"), "invalid multibulk length", 21);
	refused(RESP_REQUEST, S("*1\rx"), "expected LF after CR", 3);
	refused(RESP_REQUEST, S("*1\r\n:1\r\n"), "expected '$', got something else", 4);
	refused(RESP_REQUEST, S("*2\r\n$1\r\na\r\n*1\r\n"), "expected '$', got something else", 11);
	refused(RESP_REQUEST, S("*1\r\n$-1\r\n"), "invalid bulk length", 7);
	refused(RESP_REQUEST, S("*1\r\n$+1\r\n"), "invalid bulk length", 7);
	refused(RESP_REQUEST, S("*1\r\n$01\r\n"), "invalid bulk length", 7);
	refused(RESP_REQUEST, S("*1\r\n$\r\n"), "invalid bulk length", 5);
	refused(RESP_REQUEST, S("*1\r\n$1\n"), "invalid bulk length", 6);
	refused(RESP_REQUEST, S("*1\r\n$1\r\nab\r\n"), "expected CRLF after bulk string", 9);
	refused(RESP_REQUEST, S("*1\r\n$1\r\na\n"), "expected CRLF after bulk string", 9);
	refused(RESP_REQUEST, S("*1\r\n$1\r\na\rx"), "expected CRLF after bulk string", 10);
	refused(RESP_REQUEST, S("GET a\0b\r\n"), "NUL byte in inline request", 5);
	refused(RESP_REQUEST, S("\"\0\"\r\n"), "NUL byte in inline request", 1);

	/* a type line of more than RESP_LINE_MAX bytes */
	memset(msg, '1', sizeof(msg));
	msg[0] = '*';
	refused(RESP_REQUEST, msg, sizeof(msg), "too big mbulk count string", 1 + RESP_LINE_MAX);
	memcpy(msg, "*1\r\n$", 5);
	refused(RESP_REQUEST, msg, sizeof(msg), "too big bulk count string", 5 + RESP_LINE_MAX);
	/* up to RESP_LINE_MAX it waits for the CR, then judges */
	memcpy(msg + 5 + RESP_LINE_MAX, "\r\n", 2);
	refused(RESP_REQUEST, msg, 5 + RESP_LINE_MAX + 2, "invalid bulk length", 5 + RESP_LINE_MAX);
}

/* After an error the reader says so again, and reads nothing more. */
static void test_error_sticky(void **state)
{
	struct resp_reader r;
	const char *why = NULL;
	size_t used = 99;

	(void)state;
	resp_reader_init(&r, RESP_REQUEST, &lim_default);
	assert_int_equal(resp_feed(&r, S("PING\r\n*x\r\n"), &used, &why), RESP_DONE);
	assert_int_equal(used, 6);
	assert_int_equal(resp_feed(&r, S("*x\r\n"), &used, &why), RESP_ERROR);
	assert_int_equal(used, 2);
	assert_string_equal(why, "invalid multibulk length");
	why = NULL;
	assert_int_equal(resp_feed(&r, S("PING\r\n"), &used, &why), RESP_ERROR);
	assert_int_equal(used, 0);
	assert_string_equal(why, "invalid multibulk length");
	/* nothing fed: nothing consumed */
	resp_reader_init(&r, RESP_REPLY, &lim_default);
	assert_int_equal(resp_feed(&r, "", 0, &used, &why), RESP_MORE);
	assert_int_equal(used, 0);
	assert_false(resp_in_value(&r));
}

static void test_request_limits(void **state)
{
	const struct resp_limits lim = { 10, 3, 8 };
	struct outcome o;

	(void)state;
	run_lim(&o, RESP_REQUEST, &lim, S("*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$1\r\nx\r\n"));
	assert_null(o.why);
	assert_int_equal(o.nv, 1);
	assert_arg(&o.v[0], 0, "0123456789", 10);
	refused_lim(RESP_REQUEST, &lim, S("*4\r\n"), "invalid multibulk length", 2, 0);
	refused_lim(RESP_REQUEST, &lim, S("*1\r\n$11\r\n"), "invalid bulk length", 7, 0);

	/* max_inline bytes, and a CR more before the LF */
	run_lim(&o, RESP_REQUEST, &lim, S("1234 678\r\n1234 678\n"));
	assert_null(o.why);
	assert_int_equal(o.nv, 2);
	assert_int_equal(o.v[0].argc, 2);
	refused_lim(RESP_REQUEST, &lim, S("123456789\n"), "too big inline request", 8, 0);
	refused_lim(RESP_REQUEST, &lim, S("12345678\rx\n"), "too big inline request", 9, 0);
	refused_lim(RESP_REQUEST, &lim, S("12345678\r\r\n"), "too big inline request", 9, 0);
	refused_lim(RESP_REQUEST, &lim, S("a\n12345678\r\n123456789"), "too big inline request", 20, 2);
	/* the inline limit is not the multibulk's */
	run_lim(&o, RESP_REQUEST, &lim, S("*2\r\n$10\r\n0123456789\r\n$1\r\nx\r\n"));
	assert_null(o.why);
}

/* 10 MB of payload in 16 KiB reads: every read consumed, nothing held. */
static void test_request_huge_bulk(void **state)
{
	const size_t big = 10u << 20, unit = 16384;
	char *chunk = malloc(unit);
	struct resp_reader r;
	const char *why;
	size_t used, left = big;

	(void)state;
	assert_non_null(chunk);
	resp_reader_init(&r, RESP_REQUEST, &lim_default);
	assert_int_equal(resp_feed(&r, S("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10485760\r\n"), &used, &why), RESP_MORE);
	assert_int_equal(r.nkept, 2);
	while (left > 0) {
		size_t k = left < unit ? left : unit;

		for (size_t i = 0; i < k; i++)
			chunk[i] = (char)('A' + (big - left + i) % 26);
		assert_int_equal(resp_feed(&r, chunk, k, &used, &why), RESP_MORE);
		assert_int_equal(used, k);
		assert_true(resp_in_value(&r));
		left -= k;
	}
	memcpy(chunk, "\r\n*1\r\n", 6);
	assert_int_equal(resp_feed(&r, chunk, 6, &used, &why), RESP_DONE);
	assert_int_equal(used, 2);
	assert_int_equal(r.nkept, 3);
	assert_int_equal(r.argv[2].len, big);
	for (size_t i = 0; i < RESP_ARG_CAP; i++)
		assert_int_equal(r.argv[2].p[i], 'A' + i % 26);

	/* and a reply, cut in the middle of its CRLF */
	resp_reader_init(&r, RESP_REPLY, &lim_default);
	assert_int_equal(resp_feed(&r, S("$10485760\r\n"), &used, &why), RESP_MORE);
	for (left = big; left > 0; left -= unit)
		assert_int_equal(resp_feed(&r, chunk, unit, &used, &why), RESP_MORE);
	assert_int_equal(resp_feed(&r, "\r", 1, &used, &why), RESP_MORE);
	assert_int_equal(resp_feed(&r, "\n", 1, &used, &why), RESP_DONE);
	assert_int_equal(r.type, '$');
	free(chunk);
}

/* ---- replies ------------------------------------------------------------------- */

static void test_reply_simple(void **state)
{
	static const struct {
		const char *in;
		char type;
	} ok[] = {
		{ "+OK\r\n", '+' },
		{ "+\r\n", '+' },
		{ "-ERR unknown command 'x'\r\n", '-' },
		{ ":0\r\n", ':' },
		{ ":-1\r\n", ':' },
		{ ":9223372036854775807\r\n", ':' },
		{ ":-9223372036854775808\r\n", ':' },
		{ "_\r\n", '_' },
		{ ",3.14\r\n", ',' },
		{ ",-inf\r\n", ',' },
		{ "#t\r\n", '#' },
		{ "#f\r\n", '#' },
		{ "(3492890328409238509324850943850943825024385\r\n", '(' },
		{ "$5\r\nhello\r\n", '$' },
		{ "$0\r\n\r\n", '$' },
		{ "$-1\r\n", '$' },
		{ "$4\r\n\r\n\r\n\r\n", '$' },
		{ "!21\r\nSYNTAX invalid syntax\r\n", '!' },
		{ "=15\r\ntxt:Some string\r\n", '=' },
		{ "*-1\r\n", '*' },
		{ "*0\r\n", '*' },
		{ "%0\r\n", '%' },
		{ "~0\r\n", '~' },
		{ ">0\r\n", '>' },
	};
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const struct val *v = one(&o, RESP_REPLY, ok[i].in, strlen(ok[i].in), ok[i].type);

		assert_int_equal(v->argc, 0);
		assert_int_equal(v->nkept, 0);
	}
}

static void test_reply_aggregates(void **state)
{
	struct outcome o;

	(void)state;
	one(&o, RESP_REPLY, S("*3\r\n:1\r\n$1\r\na\r\n*2\r\n+x\r\n$-1\r\n"), '*');
	one(&o, RESP_REPLY, S("*2\r\n*0\r\n*-1\r\n"), '*');
	one(&o, RESP_REPLY, S("%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n#t\r\n"), '%');
	one(&o, RESP_REPLY, S("~3\r\n:1\r\n,2.5\r\n_\r\n"), '~');
	one(&o, RESP_REPLY, S(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"), '>');
	one(&o, RESP_REPLY, S("*1\r\n%1\r\n~1\r\n>1\r\n=5\r\ntxt:x\r\n!1\r\ne\r\n"), '*');
}

/* An attribute belongs to the value after it, at the top or inside. */
static void test_reply_attributes(void **state)
{
	struct resp_reader r;
	struct outcome o;
	const char *why;
	size_t used;

	(void)state;
	one(&o, RESP_REPLY, S("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
			     "*2\r\n:2039123\r\n:9543892\r\n"), '*');
	one(&o, RESP_REPLY, S("|0\r\n:5\r\n"), ':');
	one(&o, RESP_REPLY, S("|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n#f\r\n"), '#');
	one(&o, RESP_REPLY, S("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n|0\r\n:2\r\n"), '*');
	one(&o, RESP_REPLY, S("|1\r\n+ttl\r\n:3600\r\n>2\r\n+a\r\n+b\r\n"), '>');
	/* a top-level aggregate's elements (a subscribe confirmation has 3),
	 * whatever an attribute before it or an aggregate inside it holds */
	assert_int_equal(one(&o, RESP_REPLY, S("|1\r\n+a\r\n*5\r\n+b\r\n+c\r\n+d\r\n+e\r\n+f\r\n"
					      "*3\r\n$9\r\nsubscribe\r\n*1\r\n:1\r\n:1\r\n"), '*')->argc, 3);
	assert_int_equal(one(&o, RESP_REPLY, S(">4\r\n+a\r\n+b\r\n+c\r\n+d\r\n"), '>')->argc, 4);

	/* an attribute alone is no value */
	resp_reader_init(&r, RESP_REPLY, &lim_default);
	assert_int_equal(resp_feed(&r, S("|1\r\n+a\r\n+b\r\n"), &used, &why), RESP_MORE);
	assert_true(resp_in_value(&r));
	assert_int_equal(resp_feed(&r, S("+OK\r\n"), &used, &why), RESP_DONE);
	assert_int_equal(r.type, '+');
	/* a pipeline of replies ends at each */
	run(&o, RESP_REPLY, S("+OK\r\n|1\r\n+a\r\n+b\r\n:1\r\n>1\r\n+p\r\n$1\r\nx\r\n*1\r\n"));
	assert_null(o.why);
	assert_int_equal(o.nv, 4);
	assert_int_equal(o.v[0].end, 5);
	assert_int_equal(o.v[1].end, 21);
	assert_int_equal(o.v[1].type, ':');
	assert_int_equal(o.v[2].type, '>');
	assert_int_equal(o.v[3].type, '$');
	assert_true(o.in_value);
}

/* RESP_MAX_DEPTH aggregates nest, attributes among them; one more is
 * refused, an empty one or a string not. */
static void test_reply_depth(void **state)
{
	char in[4 * RESP_MAX_DEPTH + 8];
	struct outcome o;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < RESP_MAX_DEPTH; i++)
		n += (size_t)sprintf(in + n, "*1\r\n");
	memcpy(in + n, ":1\r\n", 4);
	one(&o, RESP_REPLY, in, n + 4, '*');
	memcpy(in + n, "*0\r\n", 4);
	one(&o, RESP_REPLY, in, n + 4, '*');
	memcpy(in + n, "*-1\r\n", 5);
	one(&o, RESP_REPLY, in, n + 5, '*');
	memcpy(in + n, "$1\r\nx\r\n", 7);
	one(&o, RESP_REPLY, in, n + 7, '*');
	memcpy(in + n, "~1\r\n", 4);
	refused(RESP_REPLY, in, n + 4, "too deeply nested", n + 2);
	memcpy(in + n, "%1\r\n", 4);
	refused(RESP_REPLY, in, n + 4, "too deeply nested", n + 2);
	memcpy(in + n, "|1\r\n", 4);
	refused(RESP_REPLY, in, n + 4, "too deeply nested", n + 2);
	memcpy(in + n - 4, "|1\r\n*1\r\n", 8);	/* the attribute is a level */
	refused(RESP_REPLY, in, n + 4, "too deeply nested", n + 2);
}

static void test_reply_errors(void **state)
{
	char msg[100];

	(void)state;
	refused(RESP_REPLY, S("?x\r\n"), "unknown reply type", 0);
	refused(RESP_REPLY, S(";4\r\nabcd\r\n"), "unknown reply type", 0);
	refused(RESP_REPLY, S(".\r\n"), "unknown reply type", 0);
	refused(RESP_REPLY, S("PONG\r\n"), "unknown reply type", 0);
	refused(RESP_REPLY, S("*1\r\n\r\n"), "unknown reply type", 4);
	refused(RESP_REPLY, S("$?\r\n;4\r\nabcd\r\n;0\r\n"), "streamed values are not supported", 1);
	refused(RESP_REPLY, S("*?\r\n"), "streamed values are not supported", 1);
	refused(RESP_REPLY, S("%?\r\n"), "streamed values are not supported", 1);
	refused(RESP_REPLY, S(":abc\r\n"), "invalid integer", 4);
	refused(RESP_REPLY, S(":1.5\r\n"), "invalid integer", 4);
	refused(RESP_REPLY, S(":+1\r\n"), "invalid integer", 3);
	refused(RESP_REPLY, S(":\r\n"), "invalid integer", 1);
	refused(RESP_REPLY, S(":9223372036854775808\r\n"), "invalid integer", 20);
	refused(RESP_REPLY, S(":-9223372036854775809\r\n"), "invalid integer", 21);
	refused(RESP_REPLY, S(":1\n"), "invalid integer", 2);
	refused(RESP_REPLY, S("#x\r\n"), "invalid boolean", 2);
	refused(RESP_REPLY, S("#tt\r\n"), "invalid boolean", 3);
	refused(RESP_REPLY, S("#\r\n"), "invalid boolean", 1);
	refused(RESP_REPLY, S("_0\r\n"), "invalid null", 2);
	refused(RESP_REPLY, S("+a\nb\r\n"), "newline inside a simple string", 2);
	refused(RESP_REPLY, S("-ERR\n"), "newline inside a simple string", 4);
	refused(RESP_REPLY, S("+a\rb\r\n"), "expected LF after CR", 3);
	refused(RESP_REPLY, S("$-2\r\n"), "invalid bulk length", 3);
	refused(RESP_REPLY, S("!-1\r\n"), "invalid bulk length", 3);
	refused(RESP_REPLY, S("=-1\r\n"), "invalid bulk length", 3);
	refused(RESP_REPLY, S("$3\r\nabcd\r\n"), "expected CRLF after bulk string", 7);
	refused(RESP_REPLY, S("*-2\r\n"), "invalid multibulk length", 3);
	refused(RESP_REPLY, S("~-1\r\n"), "invalid aggregate length", 3);
	refused(RESP_REPLY, S(">-1\r\n"), "invalid aggregate length", 3);
	refused(RESP_REPLY, S("%-1\r\n"), "invalid aggregate length", 3);
	refused(RESP_REPLY, S("|x\r\n"), "invalid aggregate length", 2);
	refused(RESP_REPLY, S("*2\r\n:1\r\n:x\r\n"), "invalid integer", 10);
	memset(msg, '1', sizeof(msg));
	msg[0] = '~';
	refused(RESP_REPLY, msg, sizeof(msg), "too big aggregate count string", 1 + RESP_LINE_MAX);
	msg[0] = ':';
	refused(RESP_REPLY, msg, sizeof(msg), "invalid integer", 1 + RESP_LINE_MAX);
	msg[0] = '+';
	{
		struct outcome o;

		run(&o, RESP_REPLY, msg, sizeof(msg));	/* a simple line is not a type line */
		assert_null(o.why);
		assert_true(o.in_value);
	}
}

static void test_reply_limits(void **state)
{
	const struct resp_limits lim = { 5, 2, 4 };
	const struct resp_limits huge = { INT64_MAX, INT64_MAX, SIZE_MAX };
	struct outcome o;

	(void)state;
	run_lim(&o, RESP_REPLY, &lim, S("$5\r\nabcde\r\n%2\r\n+a\r\n+b\r\n+c\r\n+d\r\n+abcd\r\n"));
	assert_null(o.why);
	assert_int_equal(o.nv, 3);
	refused_lim(RESP_REPLY, &lim, S("$6\r\n"), "invalid bulk length", 2, 0);
	refused_lim(RESP_REPLY, &lim, S("=6\r\n"), "invalid bulk length", 2, 0);
	refused_lim(RESP_REPLY, &lim, S("*3\r\n"), "invalid multibulk length", 2, 0);
	refused_lim(RESP_REPLY, &lim, S("%3\r\n"), "invalid aggregate length", 2, 0);
	refused_lim(RESP_REPLY, &lim, S("+abcde\r\n"), "too big simple string", 5, 0);
	refused_lim(RESP_REPLY, &lim, S("-abcde\r\n"), "too big simple string", 5, 0);

	/* without limits, a count of pairs must still fit twice in int64_t */
	run_lim(&o, RESP_REPLY, &huge, S("*9223372036854775807\r\n%4611686018427387903\r\n"));
	assert_null(o.why);
	assert_true(o.in_value);
	refused_lim(RESP_REPLY, &huge, S("%4611686018427387904\r\n"), "invalid aggregate length", 20, 0);
	refused_lim(RESP_REPLY, &huge, S("|4611686018427387904\r\n"), "invalid aggregate length", 20, 0);
	run_lim(&o, RESP_REPLY, &huge, S("$9223372036854775807\r\nabc"));
	assert_null(o.why);
	assert_true(o.in_value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_multibulk),
		cmocka_unit_test(test_request_empty),
		cmocka_unit_test(test_request_inline),
		cmocka_unit_test(test_request_quotes),
		cmocka_unit_test(test_request_quote_errors),
		cmocka_unit_test(test_request_args_early),
		cmocka_unit_test(test_arg_is),
		cmocka_unit_test(test_arg_truncated),
		cmocka_unit_test(test_request_pipeline),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_error_sticky),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_request_huge_bulk),
		cmocka_unit_test(test_reply_simple),
		cmocka_unit_test(test_reply_aggregates),
		cmocka_unit_test(test_reply_attributes),
		cmocka_unit_test(test_reply_depth),
		cmocka_unit_test(test_reply_errors),
		cmocka_unit_test(test_reply_limits),
	};

	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
