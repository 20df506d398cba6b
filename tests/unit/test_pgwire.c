/*
 * test_pgwire.c - pg/wire.c: startup framing, typed message framing, field
 * extraction, statement renaming and builders.
 *
 * Covers pg_startup_frame (StartupMessage parameters and defaults, SSL,
 * GSSENC and cancel requests, need-more at every split, length bounds,
 * layout faults, protocol versions, replication refused), pg_msg_frame
 * (length bounds, unknown and bodiless types, need-more at every split of
 * a stream), every extractor on well-formed and malformed messages (and
 * every truncation of each), pg_rewrite_stmt (rename, rest byte-identical,
 * refusals, capacity) and every builder, read back through the parsers.
 *
 * Messages are made in exact-size heap blocks, independently of the
 * builders under test, so a read past the end shows up under SANITIZE=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg/wire.h"

#define S(lit) lit, sizeof(lit) - 1
#define MAX 65536

/* p[0, n) in a heap block of exactly n bytes. */
static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

static void be32_put(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

/* A typed message with the given body, in an exact-size heap block. */
static char *mk(char type, const char *body, size_t blen, size_t *n)
{
	char *m = malloc(blen + 5);

	assert_non_null(m);
	m[0] = type;
	be32_put(m + 1, (uint32_t)blen + 4);
	memcpy(m + 5, body, blen);
	*n = blen + 5;
	return m;
}

/* An untyped packet: length, code, body. */
static char *mk_startup(uint32_t code, const char *body, size_t blen, size_t *n)
{
	char *m = malloc(blen + 8);

	assert_non_null(m);
	be32_put(m, (uint32_t)blen + 8);
	be32_put(m + 4, code);
	memcpy(m + 8, body, blen);
	*n = blen + 8;
	return m;
}

static long startup(const char *p, size_t n, struct pg_startup *s, struct pg_err *e)
{
	char *q = dup_exact(p, n);
	long r;

	*e = (struct pg_err){ NULL, NULL };
	r = pg_startup_frame(q, n, s, e);
	free(q);
	if (r < 0) {
		assert_non_null(e->reason);
		assert_int_equal(strlen(e->sqlstate), 5);
	}
	return r;
}

static long frame(const char *p, size_t n, enum pg_dir from, uint32_t max, struct pg_err *e)
{
	char *q = dup_exact(p, n);
	long r;

	*e = (struct pg_err){ NULL, NULL };
	r = pg_msg_frame(q, n, from, max, e);
	free(q);
	if (r < 0)
		assert_string_equal(e->sqlstate, PG_SQLSTATE_PROTOCOL_VIOLATION);
	return r;
}

static void assert_str(struct pg_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
	assert_int_equal(s.p[s.len], '\0');
}

/* ---- startup packet --------------------------------------------------------- */

static const char startup_body[] =
	"user\0alice\0database\0shop\0application_name\0psql\0"
	"options\0-c search_path=app\0client_encoding\0UTF8\0";

static void test_startup_message(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m = mk_startup(PG_PROTOCOL_3_0, startup_body, sizeof(startup_body), &n);

	(void)state;
	assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
	assert_int_equal(s.kind, PG_STARTUP);
	assert_int_equal(s.minor, 0);
	assert_str(s.user, "alice");
	assert_str(s.database, "shop");
	assert_str(s.application_name, "psql");
	assert_str(s.options, "-c search_path=app");
	assert_int_equal(s.nparams, 5);
	assert_str(s.params[0].name, "user");
	assert_str(s.params[4].name, "client_encoding");
	assert_str(s.params[4].value, "UTF8");
	free(m);
}

/* No database: the user's name, as PostgreSQL does; an empty one too. */
static void test_startup_database_default(void **state)
{
	struct pg_startup s;
	struct pg_err e;

	(void)state;
	{
		size_t n;
		char *m = mk_startup(PG_PROTOCOL_3_0, S("user\0bob\0\0"), &n);

		assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
		assert_str(s.database, "bob");
		assert_int_equal(s.application_name.len, 0);
		assert_int_equal(s.options.len, 0);
		assert_int_equal(s.nparams, 1);
		free(m);
	}
	{
		size_t n;
		char *m = mk_startup(PG_PROTOCOL_3_0, S("database\0\0user\0bob\0\0"), &n);

		assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
		assert_str(s.database, "bob");
		free(m);
	}
}

/* Any prefix asks for more; the whole packet, with or without bytes after
 * it, gives its length. */
static void test_startup_need_more(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m = mk_startup(PG_PROTOCOL_3_0, startup_body, sizeof(startup_body), &n);
	char *more = malloc(n + 3);

	(void)state;
	for (size_t k = 0; k < n; k++)
		assert_int_equal(startup(m, k, &s, &e), 0);
	assert_int_equal(startup(m, n, &s, &e), n);
	memcpy(more, m, n);
	memcpy(more + n, "Q\0\0", 3);
	assert_int_equal(startup(more, n + 3, &s, &e), n);
	free(more);
	free(m);
}

static void test_startup_no_user(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk_startup(PG_PROTOCOL_3_0, S("database\0shop\0\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_INVALID_AUTHORIZATION);
	free(m);
	m = mk_startup(PG_PROTOCOL_3_0, S("user\0\0\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_INVALID_AUTHORIZATION);
	free(m);
	m = mk_startup(PG_PROTOCOL_3_0, S("\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
}

/* Versions are judged from the first 8 bytes: 3.x is served (3.2 gets a
 * NegotiateProtocolVersion from the proxy), 2.0 and 4.0 are not. */
static void test_startup_versions(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk_startup(2 << 16, S("user\0alice\0\0"), &n);
	assert_int_equal(startup(m, 8, &s, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_FEATURE_NOT_SUPPORTED);
	assert_non_null(strstr(e.reason, "unsupported frontend protocol"));
	assert_int_equal(startup(m, 7, &s, &e), 0);
	free(m);
	m = mk_startup(4 << 16, S("user\0alice\0\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
	m = mk_startup(1234 << 16 | 9999, S("user\0alice\0\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_PROTOCOL_VIOLATION);
	free(m);
	m = mk_startup(3 << 16 | 2, S("user\0alice\0_pq_.x\0y\0\0"), &n);
	assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
	assert_int_equal(s.minor, 2);
	assert_str(s.params[1].name, "_pq_.x");
	free(m);
}

static void test_startup_requests(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk_startup(PG_SSL_REQUEST_CODE, "", 0, &n);
	assert_int_equal(startup(m, n, &s, &e), 8);
	assert_int_equal(s.kind, PG_SSL_REQUEST);
	free(m);
	m = mk_startup(PG_GSSENC_REQUEST_CODE, "", 0, &n);
	assert_int_equal(startup(m, n, &s, &e), 8);
	assert_int_equal(s.kind, PG_GSSENC_REQUEST);
	free(m);
	/* A request of the wrong length is refused once its code is in. */
	m = mk_startup(PG_SSL_REQUEST_CODE, S("\0\0\0\0"), &n);
	assert_int_equal(startup(m, 8, &s, &e), -1);
	free(m);
	m = mk_startup(PG_GSSENC_REQUEST_CODE, S("\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
	assert_int_equal(PG_ENCRYPTION_REFUSED, 'N');
}

static void test_startup_cancel(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m = mk_startup(PG_CANCEL_REQUEST_CODE, S("\0\0\x30\x39\xde\xad\xbe\xef"), &n);

	(void)state;
	for (size_t k = 0; k < n; k++)
		assert_int_equal(startup(m, k, &s, &e), 0);
	assert_int_equal(startup(m, n, &s, &e), 16);
	assert_int_equal(s.kind, PG_CANCEL_REQUEST);
	assert_int_equal(s.cancel_pid, 12345);
	assert_int_equal(s.cancel_key, 0xdeadbeef);
	free(m);
	m = mk_startup(PG_CANCEL_REQUEST_CODE, S("\0\0\x30\x39\xde\xad\xbe\xef\0\0\0\0"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
	m = mk_startup(PG_CANCEL_REQUEST_CODE, S("\0\0\x30\x39"), &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
}

/* The length word alone decides: below 8 and above the maximum are
 * refused from 4 bytes on; exactly the maximum is served. */
static void test_startup_length_bounds(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	char *m = calloc(1, PG_MAX_STARTUP_LEN + 1);
	size_t vlen = PG_MAX_STARTUP_LEN - 8 - sizeof("user") - 2;

	(void)state;
	assert_non_null(m);
	be32_put(m, 7);
	assert_int_equal(startup(m, 4, &s, &e), -1);
	be32_put(m, 3);
	assert_int_equal(startup(m, 4, &s, &e), -1);
	be32_put(m, PG_MAX_STARTUP_LEN + 1);
	assert_int_equal(startup(m, 4, &s, &e), -1);
	be32_put(m, 0xffffffff);
	assert_int_equal(startup(m, 4, &s, &e), -1);

	/* user=<long name>: exactly PG_MAX_STARTUP_LEN bytes */
	be32_put(m, PG_MAX_STARTUP_LEN);
	be32_put(m + 4, PG_PROTOCOL_3_0);
	memcpy(m + 8, "user", 5);
	memset(m + 13, 'u', vlen);
	m[13 + vlen] = '\0';
	m[14 + vlen] = '\0';
	assert_int_equal(14 + vlen + 1, PG_MAX_STARTUP_LEN);
	assert_int_equal(pg_startup_frame(m, PG_MAX_STARTUP_LEN, &s, &e), PG_MAX_STARTUP_LEN);
	assert_int_equal(s.user.len, vlen);
	/* One more byte in the name: too long. */
	be32_put(m, PG_MAX_STARTUP_LEN + 1);
	assert_int_equal(startup(m, PG_MAX_STARTUP_LEN + 1, &s, &e), -1);
	free(m);
}

static void test_startup_layout(void **state)
{
	static const struct {
		const char *body;
		size_t len;
	} bad[] = {
		{ S("user\0alice\0") },			/* no terminator */
		{ S("user\0alice") },			/* value without NUL */
		{ S("user") },				/* name without NUL */
		{ S("user\0alice\0\0x") },		/* bytes after the terminator */
		{ S("user\0alice\0\0\0") },
		{ S("user\0alice\0user\0bob\0\0") },	/* repeated */
		{ "", 0 },				/* nothing at all */
	};
	struct pg_startup s;
	struct pg_err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		size_t n;
		char *m = mk_startup(PG_PROTOCOL_3_0, bad[i].body, bad[i].len, &n);

		assert_int_equal(startup(m, n, &s, &e), -1);
		assert_string_equal(e.sqlstate, PG_SQLSTATE_PROTOCOL_VIOLATION);
		free(m);
	}
}

/* PG_MAX_PARAMS parameters are kept; one more is refused. */
static void test_startup_max_params(void **state)
{
	struct pg_startup s;
	struct pg_err e;
	char body[2048];
	size_t blen = 0, n;
	char *m;

	(void)state;
	blen += (size_t)sprintf(body, "user") + 1;
	blen += (size_t)sprintf(body + blen, "u") + 1;
	for (int i = 1; i < PG_MAX_PARAMS; i++) {
		blen += (size_t)sprintf(body + blen, "p%d", i) + 1;
		blen += (size_t)sprintf(body + blen, "v") + 1;
	}
	body[blen] = '\0';
	m = mk_startup(PG_PROTOCOL_3_0, body, blen + 1, &n);
	assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
	assert_int_equal(s.nparams, PG_MAX_PARAMS);
	assert_str(s.params[PG_MAX_PARAMS - 1].name, "p63");
	free(m);
	blen += (size_t)sprintf(body + blen, "p64") + 1;
	blen += (size_t)sprintf(body + blen, "v") + 1;
	body[blen] = '\0';
	m = mk_startup(PG_PROTOCOL_3_0, body, blen + 1, &n);
	assert_int_equal(startup(m, n, &s, &e), -1);
	free(m);
}

static void test_startup_replication(void **state)
{
	static const char *const refused[] = { "true", "on", "1", "database", "yes", "maybe" };
	static const char *const served[] = { "false", "OFF", "no", "0" };
	struct pg_startup s;
	struct pg_err e;
	char body[64];
	size_t n, blen;
	char *m;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
		blen = (size_t)sprintf(body, "user%creplicator%creplication%c%s%c", 0, 0, 0,
				       refused[i], 0) + 1;
		body[blen - 1] = '\0';
		m = mk_startup(PG_PROTOCOL_3_0, body, blen, &n);
		assert_int_equal(startup(m, n, &s, &e), -1);
		assert_string_equal(e.sqlstate, PG_SQLSTATE_FEATURE_NOT_SUPPORTED);
		assert_non_null(strstr(e.reason, "replication"));
		free(m);
	}
	for (size_t i = 0; i < ARRAY_LEN(served); i++) {
		blen = (size_t)sprintf(body, "user%creplicator%creplication%c%s%c", 0, 0, 0,
				       served[i], 0) + 1;
		body[blen - 1] = '\0';
		m = mk_startup(PG_PROTOCOL_3_0, body, blen, &n);
		assert_int_equal(startup(m, n, &s, &e), n);
		free(m);
	}
}

/* A TLS ClientHello sent straight away (sslnegotiation=direct). */
static void test_startup_direct_tls(void **state)
{
	struct pg_startup s;
	struct pg_err e;

	(void)state;
	assert_int_equal(startup(S("\x16\x03\x01\x02\x00\x01"), &s, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_FEATURE_NOT_SUPPORTED);
	assert_non_null(strstr(e.reason, "TLS"));
}

/* ---- typed framing ------------------------------------------------------------ */

static void test_frame_lengths(void **state)
{
	struct pg_err e;

	(void)state;
	assert_int_equal(frame(S("Q\0\0\0\x03"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("Q\0\0\0\0"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("Q\xff\xff\xff\xff"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("Q\0\0\0\x04"), PG_FRONTEND, MAX, &e), 5);
	/* len == max is framed, one more is refused before the body is in */
	assert_int_equal(frame(S("Q\0\0\0\x06x\0"), PG_FRONTEND, 6, &e), 7);
	assert_int_equal(frame(S("Q\0\0\0\x07xy\0"), PG_FRONTEND, 6, &e), -1);
	assert_int_equal(frame(S("Q\0\0\0\x07"), PG_FRONTEND, 6, &e), -1);
	assert_int_equal(frame(S("d\0\x01\0\0"), PG_FRONTEND, 65536, &e), 0);
	assert_int_equal(frame(S("d\0\x01\0\x01"), PG_FRONTEND, 65536, &e), -1);
	/* need more */
	assert_int_equal(frame("", 0, PG_FRONTEND, MAX, &e), 0);
	assert_int_equal(frame(S("Q"), PG_FRONTEND, MAX, &e), 0);
	assert_int_equal(frame(S("Q\0\0\0"), PG_FRONTEND, MAX, &e), 0);
	assert_int_equal(frame(S("Q\0\0\0\x09SELE"), PG_FRONTEND, MAX, &e), 0);
}

static void test_frame_types(void **state)
{
	static const char fe[] = "QPBDECSHFXdcfp", be[] = "123ACDEGHIKNRSTVWZcdnstv";
	struct pg_err e;
	char m[6] = { 0, 0, 0, 0, 5, 0 };

	(void)state;
	for (int c = 0; c < 256; c++) {
		bool in_fe = c && strchr(fe, c), in_be = c && strchr(be, c);
		long want_fe = in_fe ? 0 : -1, want_be = in_be ? 0 : -1;

		m[0] = (char)c;
		assert_int_equal(frame(m, 1, PG_FRONTEND, MAX, &e), want_fe);
		assert_int_equal(frame(m, 1, PG_BACKEND, MAX, &e), want_be);
		assert_int_equal(pg_msg_name((char)c, PG_FRONTEND) != NULL, in_fe);
		assert_int_equal(pg_msg_name((char)c, PG_BACKEND) != NULL, in_be);
	}
	assert_string_equal(pg_msg_name('E', PG_FRONTEND), "Execute");
	assert_string_equal(pg_msg_name('E', PG_BACKEND), "ErrorResponse");
	assert_string_equal(pg_msg_name('S', PG_FRONTEND), "Sync");
	assert_string_equal(pg_msg_name('S', PG_BACKEND), "ParameterStatus");
}

/* Sync, Flush, Terminate, CopyDone, ParseComplete... never carry a body. */
static void test_frame_bodiless(void **state)
{
	struct pg_err e;

	(void)state;
	assert_int_equal(frame(S("S\0\0\0\x04"), PG_FRONTEND, MAX, &e), 5);
	assert_int_equal(frame(S("S\0\0\0\x05x"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("X\0\0\0\x05"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("H\0\0\0\x05"), PG_FRONTEND, MAX, &e), -1);
	assert_int_equal(frame(S("c\0\0\0\x05"), PG_BACKEND, MAX, &e), -1);
	assert_int_equal(frame(S("1\0\0\0\x05"), PG_BACKEND, MAX, &e), -1);
	/* The same letters with a body, from the other side. */
	assert_int_equal(frame(S("S\0\0\0\x06" "a\0"), PG_BACKEND, MAX, &e), 7);
	assert_int_equal(frame(S("H\0\0\0\x07\0\0\0"), PG_BACKEND, MAX, &e), 8);
}

/* Parse/Bind/Execute/Sync arrive one byte at a time: nothing is framed
 * before a message is whole, and each is framed exactly when it is. */
static void test_frame_stream_split(void **state)
{
	static const char stream[] =
		"P\0\0\0\x18" "s1\0SELECT $1::int\0\0\0"
		"B\0\0\0\x14" "\0s1\0\0\0\0\x01\0\0\0\x02" "42\0\0"
		"E\0\0\0\x09\0\0\0\0\0"
		"S\0\0\0\x04";
	static const size_t ends[] = { 25, 46, 56, 61 };
	struct pg_err e;

	(void)state;
	assert_int_equal(sizeof(stream) - 1, 61);
	for (size_t i = 0, start = 0; i < ARRAY_LEN(ends); start = ends[i++]) {
		for (size_t k = start; k < ends[i]; k++)
			assert_int_equal(frame(stream + start, k - start, PG_FRONTEND, MAX, &e), 0);
		assert_int_equal(frame(stream + start, sizeof(stream) - 1 - start, PG_FRONTEND,
				       MAX, &e), ends[i] - start);
	}
}

/* ---- frontend extractors ------------------------------------------------------ */

static void test_read_query(void **state)
{
	struct pg_str sql;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('Q', S("SELECT 1;\0"), &n);
	assert_int_equal(pg_read_query(m, n, &sql, &e), 0);
	assert_str(sql, "SELECT 1;");
	/* the length field must be the message's size */
	be32_put(m + 1, (uint32_t)n);
	assert_int_equal(pg_read_query(m, n, &sql, &e), -1);
	be32_put(m + 1, (uint32_t)n - 2);
	assert_int_equal(pg_read_query(m, n, &sql, &e), -1);
	free(m);
	m = mk('Q', S("SELECT 1;"), &n);		/* no NUL */
	assert_int_equal(pg_read_query(m, n, &sql, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_PROTOCOL_VIOLATION);
	free(m);
	m = mk('Q', S("SELECT 1;\0x"), &n);	/* bytes after it */
	assert_int_equal(pg_read_query(m, n, &sql, &e), -1);
	free(m);
	m = mk('P', S("SELECT 1;\0"), &n);
	assert_int_equal(pg_read_query(m, n, &sql, &e), -1);
	free(m);
}

static void test_read_parse(void **state)
{
	struct pg_parse p;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('P', S("s1\0SELECT $1, $2\0\0\x02\0\0\0\x17\0\0\0\x19"), &n);
	assert_int_equal(pg_read_parse(m, n, &p, &e), 0);
	assert_str(p.stmt, "s1");
	assert_str(p.query, "SELECT $1, $2");
	assert_int_equal(p.nparam_types, 2);
	free(m);
	m = mk('P', S("\0SELECT 1\0\0\0"), &n);
	assert_int_equal(pg_read_parse(m, n, &p, &e), 0);
	assert_str(p.stmt, "");
	assert_int_equal(p.nparam_types, 0);
	free(m);
	/* two types announced, one sent; one announced, two sent */
	m = mk('P', S("s1\0SELECT $1, $2\0\0\x02\0\0\0\x17"), &n);
	assert_int_equal(pg_read_parse(m, n, &p, &e), -1);
	free(m);
	m = mk('P', S("s1\0SELECT $1\0\0\x01\0\0\0\x17\0\0\0\x19"), &n);
	assert_int_equal(pg_read_parse(m, n, &p, &e), -1);
	free(m);
	m = mk('P', S("s1\0SELECT $1"), &n);
	assert_int_equal(pg_read_parse(m, n, &p, &e), -1);
	free(m);
}

static void test_read_bind(void **state)
{
	/* portal p1, statement s1, formats [1], params [NULL, "42", ""],
	 * results [1, 0] */
	static const char body[] =
		"p1\0s1\0\0\x01\0\x01\0\x03\xff\xff\xff\xff\0\0\0\x02" "42\0\0\0\0"
		"\0\x02\0\x01\0\0";
	struct pg_bind b;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('B', body, sizeof(body) - 1, &n);
	assert_int_equal(pg_read_bind(m, n, &b, &e), 0);
	assert_str(b.portal, "p1");
	assert_str(b.stmt, "s1");
	assert_int_equal(b.nparams, 3);
	free(m);
	/* parameter length -2 */
	m = mk('B', S("\0s1\0\0\0\0\x01\xff\xff\xff\xfe\0\0"), &n);
	assert_int_equal(pg_read_bind(m, n, &b, &e), -1);
	free(m);
	/* a parameter longer than the message */
	m = mk('B', S("\0s1\0\0\0\0\x01\0\0\0\x09" "42\0\0"), &n);
	assert_int_equal(pg_read_bind(m, n, &b, &e), -1);
	free(m);
	/* result format count missing */
	m = mk('B', S("\0s1\0\0\0\0\0"), &n);
	assert_int_equal(pg_read_bind(m, n, &b, &e), -1);
	free(m);
}

static void test_read_target_execute(void **state)
{
	struct pg_target t;
	struct pg_execute x;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('D', S("Ss1\0"), &n);
	assert_int_equal(pg_read_target(m, n, &t, &e), 0);
	assert_int_equal(t.kind, 'S');
	assert_str(t.name, "s1");
	free(m);
	m = mk('C', S("P\0"), &n);
	assert_int_equal(pg_read_target(m, n, &t, &e), 0);
	assert_int_equal(t.kind, 'P');
	assert_str(t.name, "");
	free(m);
	m = mk('C', S("Xs1\0"), &n);
	assert_int_equal(pg_read_target(m, n, &t, &e), -1);
	free(m);
	m = mk('D', S("S"), &n);
	assert_int_equal(pg_read_target(m, n, &t, &e), -1);
	free(m);

	m = mk('E', S("c1\0\0\0\x01\0"), &n);
	assert_int_equal(pg_read_execute(m, n, &x, &e), 0);
	assert_str(x.portal, "c1");
	assert_int_equal(x.max_rows, 256);
	free(m);
	m = mk('E', S("\0\0\0\0"), &n);
	assert_int_equal(pg_read_execute(m, n, &x, &e), -1);
	free(m);
}

static void test_read_password_sasl(void **state)
{
	struct pg_sasl_initial si;
	struct pg_str s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('p', S("secret\0"), &n);
	assert_int_equal(pg_read_password(m, n, &s, &e), 0);
	assert_str(s, "secret");
	free(m);
	m = mk('p', S("SCRAM-SHA-256\0\0\0\0\x05n,,n="), &n);
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), 0);
	assert_str(si.mechanism, "SCRAM-SHA-256");
	assert_true(si.has_data);
	assert_int_equal(si.data.len, 5);
	assert_memory_equal(si.data.p, "n,,n=", 5);
	assert_int_equal(pg_read_password(m, n, &s, &e), -1);
	free(m);
	m = mk('p', S("SCRAM-SHA-256\0\xff\xff\xff\xff"), &n);
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), 0);
	assert_false(si.has_data);
	free(m);
	m = mk('p', S("SCRAM-SHA-256\0\0\0\0\x06n,,n="), &n);
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), -1);
	free(m);
	m = mk('p', S("SCRAM-SHA-256\0\xff\xff\xff\xfe"), &n);
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), -1);
	free(m);
	m = mk('p', S("c=biws,r=abc"), &n);
	assert_int_equal(pg_read_sasl_response(m, n, &s, &e), 0);
	assert_int_equal(s.len, 12);
	assert_int_equal(pg_read_password(m, n, &s, &e), -1);
	free(m);
}

/* ---- backend extractors -------------------------------------------------------- */

static void test_read_ready_status_key(void **state)
{
	static const char bad_status[] = { 'X', 'i', 'A', '\0' };
	struct pg_param ps;
	struct pg_err e;
	int32_t pid;
	uint32_t key;
	char st;
	size_t n;
	char *m;

	(void)state;
	for (const char *c = "ITE"; *c; c++) {
		m = mk('Z', c, 1, &n);
		assert_int_equal(pg_read_ready(m, n, &st, &e), 0);
		assert_int_equal(st, *c);
		free(m);
	}
	for (size_t i = 0; i < sizeof(bad_status); i++) {
		m = mk('Z', bad_status + i, 1, &n);
		assert_int_equal(pg_read_ready(m, n, &st, &e), -1);
		free(m);
	}
	m = mk('Z', S("II"), &n);
	assert_int_equal(pg_read_ready(m, n, &st, &e), -1);
	free(m);

	m = mk('S', S("TimeZone\0Europe/Paris\0"), &n);
	assert_int_equal(pg_read_param_status(m, n, &ps, &e), 0);
	assert_str(ps.name, "TimeZone");
	assert_str(ps.value, "Europe/Paris");
	free(m);
	m = mk('S', S("TimeZone\0Europe/Paris"), &n);
	assert_int_equal(pg_read_param_status(m, n, &ps, &e), -1);
	free(m);

	m = mk('K', S("\0\x01\xe2\x40\x12\x34\x56\x78"), &n);
	assert_int_equal(pg_read_key_data(m, n, &pid, &key, &e), 0);
	assert_int_equal(pid, 123456);
	assert_int_equal(key, 0x12345678);
	free(m);
	m = mk('K', S("\0\x01\xe2\x40\x12\x34\x56"), &n);
	assert_int_equal(pg_read_key_data(m, n, &pid, &key, &e), -1);
	free(m);
}

static void test_read_notice(void **state)
{
	/* As PostgreSQL 15 sends it for SELECT * FROM nope. */
	static const char err15[] =
		"SERROR\0VERROR\0C42P01\0Mrelation \"nope\" does not exist\0P15\0"
		"Fparse_relation.c\0L1392\0RparserOpenTable\0";
	char text[64];
	struct pg_notice nt;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('E', err15, sizeof(err15), &n);
	assert_int_equal(pg_read_notice(m, n, &nt, &e), 0);
	assert_str(nt.severity, "ERROR");
	assert_str(nt.sqlstate, "42P01");
	assert_str(nt.message, "relation \"nope\" does not exist");
	assert_str(nt.detail, "");
	assert_str(nt.hint, "");
	assert_string_equal(pg_describe_notice(m, n, text, sizeof(text)), "42P01: relation \"nope\" does not exist");
	assert_string_equal(pg_describe_notice(m, n, text, 12), "42P01: rela");	/* truncated */
	free(m);
	/* V wins over a localized S; N is read alike. */
	m = mk('N', S("SAVIS\0VNOTICE\0C00000\0Mhi\0Dd\0Hh\0\0"), &n);
	assert_int_equal(pg_read_notice(m, n, &nt, &e), 0);
	assert_str(nt.severity, "NOTICE");
	assert_str(nt.detail, "d");
	assert_str(nt.hint, "h");
	free(m);
	m = mk('E', S("SERROR\0C42P01\0\0"), &n);		/* no message */
	assert_int_equal(pg_read_notice(m, n, &nt, &e), -1);
	assert_string_equal(pg_describe_notice(m, n, text, sizeof(text)), "a malformed ErrorResponse");
	free(m);
	m = mk('E', S("SERROR\0C42P01\0Mx\0"), &n);		/* no terminator */
	assert_int_equal(pg_read_notice(m, n, &nt, &e), -1);
	free(m);
	m = mk('E', S("SERROR\0C42P01\0Mx"), &n);		/* no NUL */
	assert_int_equal(pg_read_notice(m, n, &nt, &e), -1);
	free(m);
	m = mk('E', S("SERROR\0C42P01\0Mx\0\0\0"), &n);	/* after the end */
	assert_int_equal(pg_read_notice(m, n, &nt, &e), -1);
	free(m);
}

static void test_read_auth(void **state)
{
	struct pg_auth a;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('R', S("\0\0\0\0"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_OK);
	free(m);
	m = mk('R', S("\0\0\0\x03"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_CLEARTEXT);
	free(m);
	m = mk('R', S("\0\0\0\x05\x01\x02\x03\x04"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_MD5);
	assert_int_equal(a.data.len, 4);
	assert_memory_equal(a.data.p, "\x01\x02\x03\x04", 4);
	free(m);
	m = mk('R', S("\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL);
	assert_int_equal(a.nmechs, 2);
	assert_str(a.mechs[1], "SCRAM-SHA-256");
	free(m);
	m = mk('R', S("\0\0\0\x0br=abc,s=xyz,i=4096"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL_CONTINUE);
	assert_int_equal(a.data.len, 18);
	free(m);
	m = mk('R', S("\0\0\0\x0cv=abc"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL_FINAL);
	assert_memory_equal(a.data.p, "v=abc", 5);
	free(m);

	/* malformed */
	m = mk('R', S("\0\0\0\x05\x01\x02\x03"), &n);		/* short salt */
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	m = mk('R', S("\0\0\0\0\0"), &n);			/* Ok with a body */
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	m = mk('R', S("\0\0\0\x0a\0"), &n);			/* no mechanisms */
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	m = mk('R', S("\0\0\0\x0aSCRAM-SHA-256\0"), &n);	/* no list end */
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	m = mk('R', S("\0\0\0\x0a" "a\0b\0c\0d\0e\0f\0g\0h\0i\0\0"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	m = mk('R', S("\0\0"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	free(m);
	/* GSS: a method nodown does not do */
	m = mk('R', S("\0\0\0\x07"), &n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_FEATURE_NOT_SUPPORTED);
	free(m);
}

static void test_read_copy_response(void **state)
{
	struct pg_copy c;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	m = mk('G', S("\0\0\x02\0\0\0\0"), &n);
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), 0);
	assert_int_equal(c.type, 'G');
	assert_false(c.binary);
	assert_int_equal(c.ncols, 2);
	free(m);
	m = mk('H', S("\x01\0\x01\0\x01"), &n);
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), 0);
	assert_int_equal(c.type, 'H');
	assert_true(c.binary);
	free(m);
	m = mk('W', S("\0\0\0"), &n);
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), 0);
	assert_int_equal(c.type, 'W');
	assert_int_equal(c.ncols, 0);
	free(m);
	m = mk('G', S("\0\0\x01\0\x01"), &n);		/* text COPY, binary column */
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), -1);
	free(m);
	m = mk('G', S("\x02\0\0"), &n);			/* format 2 */
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), -1);
	free(m);
	m = mk('G', S("\0\0\x02\0\0"), &n);		/* one column short */
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), -1);
	free(m);
	m = mk('D', S("\0\0\0"), &n);
	assert_int_equal(pg_read_copy_response(m, n, &c, &e), -1);
	free(m);
}

/* Run the extractor for type/dir on m[0, n). */
static int read_any(const char *m, size_t n, enum pg_dir dir, struct pg_err *e)
{
	union {
		struct pg_str s;
		struct pg_parse p;
		struct pg_bind b;
		struct pg_target t;
		struct pg_execute x;
		struct pg_param ps;
		struct pg_notice nt;
		struct pg_auth a;
		struct pg_copy c;
	} u;
	int32_t pid;
	uint32_t key;
	char st;

	if (dir == PG_FRONTEND) {
		switch (m[0]) {
		case 'Q': return pg_read_query(m, n, &u.s, e);
		case 'P': return pg_read_parse(m, n, &u.p, e);
		case 'B': return pg_read_bind(m, n, &u.b, e);
		case 'D':
		case 'C': return pg_read_target(m, n, &u.t, e);
		case 'E': return pg_read_execute(m, n, &u.x, e);
		case 'p': return pg_read_password(m, n, &u.s, e);
		}
	} else {
		switch (m[0]) {
		case 'Z': return pg_read_ready(m, n, &st, e);
		case 'S': return pg_read_param_status(m, n, &u.ps, e);
		case 'K': return pg_read_key_data(m, n, &pid, &key, e);
		case 'E':
		case 'N': return pg_read_notice(m, n, &u.nt, e);
		case 'R': return pg_read_auth(m, n, &u.a, e);
		case 'G':
		case 'H':
		case 'W': return pg_read_copy_response(m, n, &u.c, e);
		}
	}
	fail();
	return -1;
}

/* Every message cut short (its length field cut to match) is refused, in
 * an exact-size block so ASan sees any read past it. */
static void test_read_truncations(void **state)
{
	static const struct {
		enum pg_dir dir;
		char type;
		const char *body;
		size_t len;
	} msgs[] = {
		{ PG_FRONTEND, 'Q', S("SELECT 1\0") },
		{ PG_FRONTEND, 'P', S("s1\0SELECT $1\0\0\x01\0\0\0\x17") },
		{ PG_FRONTEND, 'B', S("p\0s\0\0\x01\0\0\0\x01\0\0\0\x02" "42\0\x01\0\x01") },
		{ PG_FRONTEND, 'D', S("Ss1\0") },
		{ PG_FRONTEND, 'E', S("\0\0\0\0\0") },
		{ PG_FRONTEND, 'p', S("pw\0") },
		{ PG_BACKEND, 'Z', S("I") },
		{ PG_BACKEND, 'S', S("a\0b\0") },
		{ PG_BACKEND, 'K', S("\0\0\0\x01\0\0\0\x02") },
		{ PG_BACKEND, 'E', S("SERROR\0VERROR\0C08P01\0Mm\0\0") },
		{ PG_BACKEND, 'R', S("\0\0\0\x0aSCRAM-SHA-256\0\0") },
		{ PG_BACKEND, 'R', S("\0\0\0\x05salt") },
		{ PG_BACKEND, 'G', S("\x01\0\x02\0\x01\0\x01") },
	};
	struct pg_err e;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
		size_t n;
		char *m = mk(msgs[i].type, msgs[i].body, msgs[i].len, &n);

		assert_int_equal(read_any(m, n, msgs[i].dir, &e), 0);
		free(m);
		for (size_t k = 0; k < msgs[i].len; k++) {
			m = mk(msgs[i].type, msgs[i].body, k, &n);
			assert_int_equal(read_any(m, n, msgs[i].dir, &e), -1);
			free(m);
		}
	}
}

/* ---- statement renaming ------------------------------------------------------ */

/* Rename m[0, n) to `name` in an exact-size block; check the length field
 * and that it frames. */
static char *rewrite(const char *m, size_t n, const char *name, size_t *outn)
{
	struct pg_err e;
	long need = pg_rewrite_stmt(m, n, name, NULL, 0, &e);
	char *out;

	assert_true(need > 0);
	out = malloc((size_t)need);
	assert_non_null(out);
	assert_int_equal(pg_rewrite_stmt(m, n, name, out, (size_t)need, &e), need);
	assert_int_equal(frame(out, (size_t)need, PG_FRONTEND, MAX, &e), need);
	*outn = (size_t)need;
	return out;
}

static void test_rewrite_parse(void **state)
{
	struct pg_parse p;
	struct pg_err e;
	size_t n, n2, n3;
	char *m = mk('P', S("stmt_a\0SELECT $1\0\0\x01\0\0\0\x17"), &n);
	char *r = rewrite(m, n, "nd_17", &n2), *back;

	(void)state;
	assert_int_equal(n2, n - 1);
	assert_int_equal(pg_read_parse(r, n2, &p, &e), 0);
	assert_str(p.stmt, "nd_17");
	assert_str(p.query, "SELECT $1");
	assert_int_equal(p.nparam_types, 1);
	assert_memory_equal(r + 5 + 6, m + 5 + 7, n - 12);
	/* and back again: the original bytes */
	back = rewrite(r, n2, "stmt_a", &n3);
	assert_int_equal(n3, n);
	assert_memory_equal(back, m, n);
	free(back);
	free(r);
	free(m);
}

static void test_rewrite_bind(void **state)
{
	static const char body[] = "portal\0\0\0\x01\0\x01\0\x01\0\0\0\x02" "42\0\x01\0\x01";
	struct pg_bind b;
	struct pg_err e;
	size_t n, n2;
	char *m = mk('B', body, sizeof(body) - 1, &n);
	char *r = rewrite(m, n, "nd_1", &n2);

	(void)state;
	assert_int_equal(n2, n + 4);
	assert_int_equal(pg_read_bind(r, n2, &b, &e), 0);
	assert_str(b.portal, "portal");
	assert_str(b.stmt, "nd_1");
	assert_int_equal(b.nparams, 1);
	assert_memory_equal(r + 5, m + 5, 7);			/* portal kept */
	assert_memory_equal(r + 5 + 7 + 5, m + 5 + 7 + 1, n - 13);	/* rest too */
	free(r);
	free(m);
}

static void test_rewrite_describe_close(void **state)
{
	struct pg_target t;
	struct pg_err e;
	size_t n, n2;
	char *m, *r;

	(void)state;
	m = mk('D', S("Sstmt_a\0"), &n);
	r = rewrite(m, n, "nd_2", &n2);
	assert_int_equal(pg_read_target(r, n2, &t, &e), 0);
	assert_int_equal(r[0], 'D');
	assert_int_equal(t.kind, 'S');
	assert_str(t.name, "nd_2");
	free(r);
	free(m);
	m = mk('C', S("Sstmt_a\0"), &n);
	r = rewrite(m, n, "", &n2);
	assert_int_equal(pg_read_target(r, n2, &t, &e), 0);
	assert_int_equal(r[0], 'C');
	assert_str(t.name, "");
	free(r);
	free(m);
}

static void test_rewrite_refused(void **state)
{
	struct pg_err e;
	size_t n;
	char out[64];
	char *m;

	(void)state;
	m = mk('D', S("Pcursor\0"), &n);		/* a portal */
	assert_int_equal(pg_rewrite_stmt(m, n, "nd_1", out, sizeof(out), &e), -1);
	assert_string_equal(e.sqlstate, PG_SQLSTATE_PROTOCOL_VIOLATION);
	free(m);
	m = mk('E', S("\0\0\0\0\0"), &n);
	assert_int_equal(pg_rewrite_stmt(m, n, "nd_1", out, sizeof(out), &e), -1);
	free(m);
	m = mk('Q', S("SELECT 1\0"), &n);
	assert_int_equal(pg_rewrite_stmt(m, n, "nd_1", out, sizeof(out), &e), -1);
	free(m);
	m = mk('P', S("s1\0SELECT 1\0\0"), &n);	/* malformed: no count */
	assert_int_equal(pg_rewrite_stmt(m, n, "nd_1", out, sizeof(out), &e), -1);
	free(m);
	assert_int_equal(pg_rewrite_stmt("", 0, "nd_1", out, sizeof(out), &e), -1);
}

/* Too small a buffer: the length needed is returned and nothing past cap
 * is written. */
static void test_rewrite_capacity(void **state)
{
	struct pg_err e;
	size_t n;
	char out[64];
	char *m = mk('P', S("s\0SELECT 1\0\0\0"), &n);

	(void)state;
	assert_int_equal(pg_rewrite_stmt(m, n, "nd_123", NULL, 0, &e), n + 5);
	for (size_t cap = 0; cap < n + 5; cap++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(pg_rewrite_stmt(m, n, "nd_123", out, cap, &e), n + 5);
		for (size_t i = cap; i < sizeof(out); i++)
			assert_int_equal(out[i], '#');
	}
	free(m);
}

/* ---- builders ------------------------------------------------------------------ */

/* Build into an exact-size block: size with NULL, 0 first. */
#define BUILD(out, n, fn, ...)                                       \
	do {                                                         \
		(n) = fn(NULL, 0, ##__VA_ARGS__);                      \
		(out) = malloc(n);                                     \
		assert_non_null(out);                                  \
		assert_int_equal(fn((out), (n), ##__VA_ARGS__), (n)); \
	} while (0)

/* A typed message out of a builder frames to exactly its length. */
static void framed(const char *m, size_t n, enum pg_dir dir)
{
	struct pg_err e;

	assert_int_equal(frame(m, n, dir, MAX, &e), n);
}

static void test_build_error(void **state)
{
	struct pg_notice nt;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	BUILD(m, n, pg_build_error, "FATAL", "08P01", "invalid Bind message", NULL, NULL);
	framed(m, n, PG_BACKEND);
	assert_memory_equal(m, "E\0\0\0\x30" "SFATAL\0VFATAL\0C08P01\0", 26);
	assert_int_equal(pg_read_notice(m, n, &nt, &e), 0);
	assert_str(nt.severity, "FATAL");
	assert_str(nt.sqlstate, "08P01");
	assert_str(nt.message, "invalid Bind message");
	assert_str(nt.detail, "");
	free(m);
	BUILD(m, n, pg_build_error, "ERROR", "53300", "too many clients", "pool full",
	      "raise max_client_conn");
	assert_int_equal(pg_read_notice(m, n, &nt, &e), 0);
	assert_str(nt.severity, "ERROR");
	assert_str(nt.detail, "pool full");
	assert_str(nt.hint, "raise max_client_conn");
	free(m);
}

static void test_build_auth(void **state)
{
	static const char *const mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256" };
	struct pg_auth a;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	BUILD(m, n, pg_build_auth_ok);
	assert_memory_equal(m, "R\0\0\0\x08\0\0\0\0", n);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_OK);
	free(m);
	BUILD(m, n, pg_build_auth_cleartext);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_CLEARTEXT);
	free(m);
	BUILD(m, n, pg_build_auth_md5, "\x9a\0\x01\xff");
	assert_int_equal(n, 13);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_MD5);
	assert_memory_equal(a.data.p, "\x9a\0\x01\xff", 4);
	free(m);
	BUILD(m, n, pg_build_auth_sasl, mechs, 2);
	framed(m, n, PG_BACKEND);
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL);
	assert_int_equal(a.nmechs, 2);
	assert_str(a.mechs[0], "SCRAM-SHA-256-PLUS");
	assert_str(a.mechs[1], "SCRAM-SHA-256");
	free(m);
	BUILD(m, n, pg_build_auth_sasl_continue, S("r=abc,s=c2FsdA==,i=4096"));
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL_CONTINUE);
	assert_int_equal(a.data.len, 23);
	assert_memory_equal(a.data.p, "r=abc,s=c2FsdA==,i=4096", 23);
	free(m);
	BUILD(m, n, pg_build_auth_sasl_final, S("v=c2ln"));
	assert_int_equal(pg_read_auth(m, n, &a, &e), 0);
	assert_int_equal(a.code, PG_AUTH_SASL_FINAL);
	assert_memory_equal(a.data.p, "v=c2ln", 6);
	free(m);
}

static void test_build_backend_misc(void **state)
{
	static const struct pg_str opts[] = { { "_pq_.a", 6 }, { "_pq_.bb", 7 } };
	struct pg_param ps;
	struct pg_err e;
	int32_t pid;
	uint32_t key;
	char st;
	size_t n;
	char *m;

	(void)state;
	BUILD(m, n, pg_build_param_status, "server_version", "15.8");
	framed(m, n, PG_BACKEND);
	assert_int_equal(pg_read_param_status(m, n, &ps, &e), 0);
	assert_str(ps.name, "server_version");
	assert_str(ps.value, "15.8");
	free(m);
	BUILD(m, n, pg_build_key_data, -7, 0xfedcba98);
	assert_int_equal(pg_read_key_data(m, n, &pid, &key, &e), 0);
	assert_int_equal(pid, -7);
	assert_int_equal(key, 0xfedcba98);
	free(m);
	BUILD(m, n, pg_build_ready, 'T');
	assert_memory_equal(m, "Z\0\0\0\x05T", 6);
	assert_int_equal(pg_read_ready(m, n, &st, &e), 0);
	assert_int_equal(st, 'T');
	free(m);
	BUILD(m, n, pg_build_negotiate, 0, opts, 2);
	framed(m, n, PG_BACKEND);
	assert_int_equal(n, 1 + 4 + 8 + 7 + 8);
	assert_memory_equal(m, "v\0\0\0\x1b\0\0\0\0\0\0\0\x02_pq_.a\0_pq_.bb\0", n);
	free(m);
	BUILD(m, n, pg_build_command_complete, "DEALLOCATE");
	framed(m, n, PG_BACKEND);
	assert_memory_equal(m, "C\0\0\0\x0f" "DEALLOCATE\0", n);
	free(m);
}

static int dealloc(const char *sql, char *name, size_t cap)
{
	return pg_sql_deallocate(sql, strlen(sql), name, cap);
}

static void test_sql_deallocate(void **state)
{
	static const struct {
		const char *sql, *name;	/* name NULL: not recognized */
	} cases[] = {
		{ "DEALLOCATE _pg3_0", "_pg3_0" },
		{ "deallocate prepare S1;", "s1" },
		{ "  DeAllocate\n\tFoo_$9 ; \n", "foo_$9" },
		{ "DEALLOCATE \"My \"\"Stmt\"\"\"", "My \"Stmt\"" },
		{ "DEALLOCATE \"ALL\"", "ALL" },
		{ "DEALLOCATE all", NULL },
		{ "DEALLOCATE PREPARE ALL;", NULL },
		{ "DEALLOCATE", NULL },
		{ "DEALLOCATE ;", NULL },
		{ "DEALLOCATE a b", NULL },
		{ "DEALLOCATE a;;", NULL },
		{ "DEALLOCATE a; SELECT 1", NULL },
		{ "DEALLOCATE /* c */ a", NULL },
		{ "DEALLOCATEa", NULL },
		{ "DEALLOCATE 1a", NULL },
		{ "DEALLOCATE \"\"", NULL },
		{ "DEALLOCATE \"open", NULL },
		{ "SELECT 1", NULL },
	};
	char name[16];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int r = dealloc(cases[i].sql, name, sizeof(name));

		if (r != (cases[i].name != NULL))
			fail_msg("'%s': got %d", cases[i].sql, r);
		if (r)
			assert_string_equal(name, cases[i].name);
	}
	assert_int_equal(dealloc("DEALLOCATE abcdefghijklmno", name, sizeof(name)), 1);
	assert_int_equal(dealloc("DEALLOCATE abcdefghijklmnop", name, sizeof(name)), 0);
}

static void test_build_startup(void **state)
{
	static const struct pg_param extra[] = {
		{ { "application_name", 16 }, { "nodown", 6 } },
		{ { "client_encoding", 15 }, { "UTF8", 4 } },
	};
	struct pg_startup s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	BUILD(m, n, pg_build_startup, "alice", "shop", extra, 2);
	assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
	assert_int_equal(s.kind, PG_STARTUP);
	assert_int_equal(s.minor, 0);
	assert_str(s.user, "alice");
	assert_str(s.database, "shop");
	assert_str(s.application_name, "nodown");
	assert_int_equal(s.nparams, 4);
	assert_str(s.params[3].value, "UTF8");
	free(m);
	BUILD(m, n, pg_build_startup, "bob", NULL, NULL, 0);
	assert_int_equal(n, 8 + 5 + 4 + 1);
	assert_int_equal(pg_startup_frame(m, n, &s, &e), n);
	assert_int_equal(s.nparams, 1);
	assert_str(s.database, "bob");
	free(m);
	BUILD(m, n, pg_build_cancel, 4242, 0x01020304);
	assert_int_equal(pg_startup_frame(m, n, &s, &e), 16);
	assert_int_equal(s.kind, PG_CANCEL_REQUEST);
	assert_int_equal(s.cancel_pid, 4242);
	assert_int_equal(s.cancel_key, 0x01020304);
	free(m);
}

static void test_build_frontend(void **state)
{
	static const uint32_t types[] = { 23, 25 };
	struct pg_sasl_initial si;
	struct pg_parse p;
	struct pg_target t;
	struct pg_str s;
	struct pg_err e;
	size_t n;
	char *m;

	(void)state;
	BUILD(m, n, pg_build_password, "md5abcdef");
	framed(m, n, PG_FRONTEND);
	assert_int_equal(pg_read_password(m, n, &s, &e), 0);
	assert_str(s, "md5abcdef");
	free(m);
	BUILD(m, n, pg_build_sasl_initial, "SCRAM-SHA-256", S("n,,n=,r=xyz"));
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), 0);
	assert_str(si.mechanism, "SCRAM-SHA-256");
	assert_true(si.has_data);
	assert_memory_equal(si.data.p, "n,,n=,r=xyz", 11);
	free(m);
	BUILD(m, n, pg_build_sasl_initial, "SCRAM-SHA-256", NULL, 0);
	assert_int_equal(pg_read_sasl_initial(m, n, &si, &e), 0);
	assert_false(si.has_data);
	free(m);
	BUILD(m, n, pg_build_sasl_response, S("c=biws,r=xyz,p=proof"));
	assert_int_equal(pg_read_sasl_response(m, n, &s, &e), 0);
	assert_memory_equal(s.p, "c=biws,r=xyz,p=proof", s.len);
	free(m);
	BUILD(m, n, pg_build_query, "DISCARD ALL");
	assert_int_equal(pg_read_query(m, n, &s, &e), 0);
	assert_str(s, "DISCARD ALL");
	free(m);
	BUILD(m, n, pg_build_parse, "nd_3", "SELECT $1, $2", types, 2);
	framed(m, n, PG_FRONTEND);
	assert_int_equal(pg_read_parse(m, n, &p, &e), 0);
	assert_str(p.stmt, "nd_3");
	assert_str(p.query, "SELECT $1, $2");
	assert_int_equal(p.nparam_types, 2);
	assert_memory_equal(m + n - 8, "\0\0\0\x17\0\0\0\x19", 8);
	free(m);
	BUILD(m, n, pg_build_close_stmt, "nd_3");
	assert_int_equal(pg_read_target(m, n, &t, &e), 0);
	assert_int_equal(m[0], 'C');
	assert_int_equal(t.kind, 'S');
	assert_str(t.name, "nd_3");
	free(m);
	BUILD(m, n, pg_build_sync);
	assert_memory_equal(m, "S\0\0\0\x04", 5);
	framed(m, n, PG_FRONTEND);
	free(m);
	BUILD(m, n, pg_build_terminate);
	assert_memory_equal(m, "X\0\0\0\x04", 5);
	framed(m, n, PG_FRONTEND);
	free(m);
}

/* A builder given too little room says what it needs and writes nothing
 * past cap. */
static void test_build_capacity(void **state)
{
	char buf[128];
	size_t need = pg_build_error(NULL, 0, "FATAL", "08P01", "m", "d", "h");

	(void)state;
	assert_true(need < sizeof(buf));
	for (size_t cap = 0; cap < need; cap++) {
		memset(buf, '#', sizeof(buf));
		assert_int_equal(pg_build_error(buf, cap, "FATAL", "08P01", "m", "d", "h"), need);
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
	}
	memset(buf, '#', sizeof(buf));
	assert_int_equal(pg_build_startup(buf, 10, "alice", "shop", NULL, 0), 34);
	for (size_t i = 10; i < sizeof(buf); i++)
		assert_int_equal(buf[i], '#');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_message),
		cmocka_unit_test(test_startup_database_default),
		cmocka_unit_test(test_startup_need_more),
		cmocka_unit_test(test_startup_no_user),
		cmocka_unit_test(test_startup_versions),
		cmocka_unit_test(test_startup_requests),
		cmocka_unit_test(test_startup_cancel),
		cmocka_unit_test(test_startup_length_bounds),
		cmocka_unit_test(test_startup_layout),
		cmocka_unit_test(test_startup_max_params),
		cmocka_unit_test(test_startup_replication),
		cmocka_unit_test(test_startup_direct_tls),
		cmocka_unit_test(test_frame_lengths),
		cmocka_unit_test(test_frame_types),
		cmocka_unit_test(test_frame_bodiless),
		cmocka_unit_test(test_frame_stream_split),
		cmocka_unit_test(test_read_query),
		cmocka_unit_test(test_read_parse),
		cmocka_unit_test(test_read_bind),
		cmocka_unit_test(test_read_target_execute),
		cmocka_unit_test(test_read_password_sasl),
		cmocka_unit_test(test_read_ready_status_key),
		cmocka_unit_test(test_read_notice),
		cmocka_unit_test(test_read_auth),
		cmocka_unit_test(test_read_copy_response),
		cmocka_unit_test(test_read_truncations),
		cmocka_unit_test(test_rewrite_parse),
		cmocka_unit_test(test_rewrite_bind),
		cmocka_unit_test(test_rewrite_describe_close),
		cmocka_unit_test(test_rewrite_refused),
		cmocka_unit_test(test_rewrite_capacity),
		cmocka_unit_test(test_build_error),
		cmocka_unit_test(test_build_auth),
		cmocka_unit_test(test_build_backend_misc),
		cmocka_unit_test(test_sql_deallocate),
		cmocka_unit_test(test_build_startup),
		cmocka_unit_test(test_build_frontend),
		cmocka_unit_test(test_build_capacity),
	};

	return cmocka_run_group_tests_name("pgwire", tests, NULL, NULL);
}
