/*
 * fuzz_pg_wire.c - libFuzzer target for pg/wire.c.
 *
 * The input is read three ways, as the pg proxy will read a connection
 * pair: as a client's first packets (pg_startup_frame: a StartupMessage
 * or CancelRequest, after up to two SSL/GSSENC requests), then what
 * follows them (the whole input, when there are none) as a stream of
 * frontend messages, and the whole input as a stream of backend messages.
 * Every framed message goes, in an exact-size heap block, through every
 * extractor and through pg_rewrite_stmt, whatever its type or direction.
 *
 * Aborts (a bug) when:
 *  - a refusal comes without a reason or a five-character SQLSTATE;
 *  - a packet or message that frames whole asks for more, or frames
 *    differently, when cut short;
 *  - a message read by an extractor is not rebuilt byte for byte by the
 *    matching builder (fields out of ErrorResponse: field for field);
 *  - a StartupMessage rebuilt from its parameters differs in length or
 *    parameters, or a CancelRequest in any byte;
 *  - pg_rewrite_stmt accepts exactly the messages that name a statement
 *    (else it is a bug), its result does not frame, does not read back
 *    with the new name and every other field kept, or renamed back is
 *    not the original; with one byte too little room it writes past cap.
 * ASan/UBSan catch reads past a message: each is copied to its own block.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/wire.h"

#define MAX_MESSAGES 64
#define MAX_LEN (1u << 16)	/* the framing maximum given to pg_msg_frame */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

/* Room for any message rebuilt from one that framed (at most MAX_LEN + 1)
 * or from a startup packet. */
static char scratch[MAX_LEN + 64];

static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	BUG_ON(!q);
	memcpy(q, p, n);
	return q;
}

static void check_err(const struct pg_err *err)
{
	BUG_ON(!err->reason || !err->sqlstate || strlen(err->sqlstate) != 5);
}

/* r is an extractor's answer: true when it read the message; a refusal
 * must come with its reason. */
static bool ok(int r, const struct pg_err *err)
{
	if (r != 0)
		check_err(err);
	return r == 0;
}

static uint32_t be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	BUG_ON(an != bn || memcmp(a, b, an));
}

static void same_str(struct pg_str a, struct pg_str b)
{
	same_bytes(a.p, a.len, b.p, b.len);
}

/* ---- framing ---------------------------------------------------------------- */

/* pg_startup_frame on a copy of p[0, n) in an exact-size block, left in
 * *copy for the strings in *s to point into: the caller frees it. */
static long startup_at(const char *p, size_t n, struct pg_startup *s, char **copy)
{
	struct pg_err err;
	long r;

	*copy = dup_exact(p, n);
	r = pg_startup_frame(*copy, n, s, &err);
	if (r < 0)
		check_err(&err);
	BUG_ON(r > (long)n || (r > 0 && r < 8));
	return r;
}

static long frame_at(const char *p, size_t n, enum pg_dir dir, uint32_t max)
{
	char *q = dup_exact(p, n);
	struct pg_err err;
	long r = pg_msg_frame(q, n, dir, max, &err);

	free(q);
	if (r < 0)
		check_err(&err);
	BUG_ON(r > (long)n || (r > 0 && r < 5));
	return r;
}

/* A packet that frames whole at len asks for more at every k < len; one
 * refused may be refused earlier but never framed. */
static void check_prefix(long whole, long cut)
{
	if (whole > 0)
		BUG_ON(cut != 0);
	else
		BUG_ON(cut > 0);
}

/* ---- startup ---------------------------------------------------------------- */

static const struct pg_str *param(const struct pg_startup *s, const char *name)
{
	for (int i = 0; i < s->nparams; i++)
		if (!strcmp(s->params[i].name.p, name))
			return &s->params[i].value;
	return NULL;
}

/* The packet rebuilt from user, database and the other parameters has the
 * same length and reads back the same. */
static void check_startup_rebuilt(const struct pg_startup *s, size_t len)
{
	struct pg_param extra[PG_MAX_PARAMS];
	const struct pg_str *db = param(s, "database");
	struct pg_startup s2;
	int nextra = 0;
	char *q;
	size_t n;

	for (int i = 0; i < s->nparams; i++)
		if (strcmp(s->params[i].name.p, "user") && strcmp(s->params[i].name.p, "database"))
			extra[nextra++] = s->params[i];
	n = pg_build_startup(scratch, sizeof(scratch), s->user.p, db ? db->p : NULL, extra, nextra);
	BUG_ON(n != len);
	BUG_ON(startup_at(scratch, n, &s2, &q) != (long)n);
	BUG_ON(s2.kind != PG_STARTUP || s2.nparams != s->nparams);
	same_str(s2.user, s->user);
	same_str(s2.database, s->database);
	same_str(s2.application_name, s->application_name);
	same_str(s2.options, s->options);
	for (int i = 0; i < s->nparams; i++) {
		const struct pg_str *v = param(&s2, s->params[i].name.p);

		BUG_ON(!v);
		same_str(*v, s->params[i].value);
	}
	free(q);
}

/* Returns the length of the startup packet at p with *kind set, or 0
 * when there is none. */
static size_t startup(const char *p, size_t n, enum pg_startup_kind *kind)
{
	struct pg_startup s, scut;
	char *q, *qcut;
	long len = startup_at(p, n, &s, &q);

	if (n) {
		size_t cut = (unsigned char)p[0] % (len > 0 ? (size_t)len : n);

		check_prefix(len, startup_at(p, cut, &scut, &qcut));
		free(qcut);
	}
	if (len <= 0) {
		free(q);
		return 0;
	}
	*kind = s.kind;
	if (s.kind == PG_STARTUP) {
		BUG_ON(s.user.len == 0 || s.database.len == 0);
		check_startup_rebuilt(&s, (size_t)len);
	} else if (s.kind == PG_CANCEL_REQUEST) {
		same_bytes(scratch, pg_build_cancel(scratch, sizeof(scratch), s.cancel_pid,
						    s.cancel_key), p, (size_t)len);
	}
	free(q);
	return (size_t)len;
}

/* ---- frontend messages ------------------------------------------------------ */

static void check_query(const char *m, size_t n)
{
	struct pg_err err;
	struct pg_str sql;

	char name[64], again[128];

	if (!ok(pg_read_query(m, n, &sql, &err), &err))
		return;
	same_bytes(scratch, pg_build_query(scratch, sizeof(scratch), sql.p), m, n);
	/* a DEALLOCATE it recognizes names a plain identifier it recognizes again */
	if (pg_sql_deallocate(sql.p, sql.len, name, sizeof(name))) {
		size_t l = strlen(name);
		bool plain = l > 0 && !(name[0] >= '0' && name[0] <= '9') && name[0] != '$';

		for (size_t i = 0; i < l; i++)
			plain = plain && ((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
					  name[i] == '_' || name[i] == '$');
		if (plain && strcmp(name, "all") && strcmp(name, "prepare")) {
			char back[64];

			snprintf(again, sizeof(again), "DEALLOCATE %s", name);
			if (pg_sql_deallocate(again, strlen(again), back, sizeof(back)) != 1 || strcmp(back, name))
				__builtin_trap();
		}
	}
}

static void check_parse(const char *m, size_t n)
{
	static uint32_t types[UINT16_MAX];
	struct pg_err err;
	struct pg_parse ps;
	const char *t;

	if (!ok(pg_read_parse(m, n, &ps, &err), &err))
		return;
	BUG_ON(n != 5 + ps.stmt.len + 1 + ps.query.len + 1 + 2 + 4 * (size_t)ps.nparam_types);
	t = m + n - 4 * (size_t)ps.nparam_types;
	for (uint32_t i = 0; i < ps.nparam_types; i++)
		types[i] = be32(t + 4 * i);
	same_bytes(scratch, pg_build_parse(scratch, sizeof(scratch), ps.stmt.p, ps.query.p, types,
					   ps.nparam_types), m, n);
}

static void check_target(const char *m, size_t n)
{
	struct pg_err err;
	struct pg_target t;

	if (!ok(pg_read_target(m, n, &t, &err), &err))
		return;
	BUG_ON(t.kind != 'S' && t.kind != 'P');
	if (m[0] == 'C' && t.kind == 'S')
		same_bytes(scratch, pg_build_close_stmt(scratch, sizeof(scratch), t.name.p), m, n);
}

static void check_auth_responses(const char *m, size_t n)
{
	struct pg_sasl_initial si;
	struct pg_err err;
	struct pg_str s;

	if (ok(pg_read_password(m, n, &s, &err), &err))
		same_bytes(scratch, pg_build_password(scratch, sizeof(scratch), s.p), m, n);
	if (ok(pg_read_sasl_initial(m, n, &si, &err), &err))
		same_bytes(scratch, pg_build_sasl_initial(scratch, sizeof(scratch), si.mechanism.p,
							  si.has_data ? si.data.p : NULL,
							  si.data.len), m, n);
	if (ok(pg_read_sasl_response(m, n, &s, &err), &err))
		same_bytes(scratch, pg_build_sasl_response(scratch, sizeof(scratch), s.p, s.len),
			   m, n);
}

/* Sync and Terminate are their type and a length of 4. */
static void check_bodiless(const char *m, size_t n)
{
	if (n == 5 && m[0] == 'S')
		same_bytes(scratch, pg_build_sync(scratch, sizeof(scratch)), m, n);
	if (n == 5 && m[0] == 'X')
		same_bytes(scratch, pg_build_terminate(scratch, sizeof(scratch)), m, n);
}

static void check_execute(const char *m, size_t n)
{
	struct pg_execute x;
	struct pg_err err;

	if (!ok(pg_read_execute(m, n, &x, &err), &err))
		return;
	BUG_ON(n != 5 + x.portal.len + 1 + 4);
}

/* ---- statement renaming -------------------------------------------------------- */

/* Fields of a message that names a statement; false if it names none. */
struct named {
	struct pg_str stmt, other;	/* other: query (Parse), portal (Bind) */
	uint32_t count;			/* parameter types (Parse), parameters (Bind) */
	char kind;			/* Describe/Close */
};

static bool read_named(const char *m, size_t n, struct named *nm)
{
	struct pg_err err;
	struct pg_parse ps;
	struct pg_bind b;
	struct pg_target t;

	if (pg_read_parse(m, n, &ps, &err) == 0) {
		*nm = (struct named){ ps.stmt, ps.query, ps.nparam_types, 0 };
		return true;
	}
	if (pg_read_bind(m, n, &b, &err) == 0) {
		*nm = (struct named){ b.stmt, b.portal, b.nparams, 0 };
		return true;
	}
	if (pg_read_target(m, n, &t, &err) == 0 && t.kind == 'S') {
		*nm = (struct named){ t.name, { "", 0 }, 0, t.kind };
		return true;
	}
	return false;
}

/* m[0, n) renamed to name, checked; returns it in a block of its size. */
static char *renamed(const char *m, size_t n, const char *name, size_t *outn)
{
	struct pg_err err;
	long need = pg_rewrite_stmt(m, n, name, NULL, 0, &err);
	char *out, *small;

	BUG_ON(need < 5);
	out = malloc((size_t)need);
	small = malloc((size_t)need - 1);
	BUG_ON(!out || !small);
	BUG_ON(pg_rewrite_stmt(m, n, name, out, (size_t)need, &err) != need);
	BUG_ON(pg_rewrite_stmt(m, n, name, small, (size_t)need - 1, &err) != need);
	free(small);
	*outn = (size_t)need;
	return out;
}

static void check_rewrite(const char *m, size_t n, const char *name)
{
	struct named a, b;
	struct pg_err err;
	size_t n2, n3;
	char *r, *back;

	if (!read_named(m, n, &a)) {
		BUG_ON(pg_rewrite_stmt(m, n, name, scratch, sizeof(scratch), &err) != -1);
		check_err(&err);
		return;
	}
	r = renamed(m, n, name, &n2);
	BUG_ON(n2 != n - a.stmt.len + strlen(name));
	BUG_ON(r[0] != m[0]);
	BUG_ON(frame_at(r, n2, PG_FRONTEND, UINT32_MAX) != (long)n2);
	BUG_ON(!read_named(r, n2, &b));
	BUG_ON(b.stmt.len != strlen(name) || memcmp(b.stmt.p, name, b.stmt.len));
	same_str(a.other, b.other);
	BUG_ON(a.count != b.count || a.kind != b.kind);
	back = renamed(r, n2, a.stmt.p, &n3);
	same_bytes(back, n3, m, n);
	free(back);
	free(r);
}

/* ---- backend messages -------------------------------------------------------- */

static void check_backend_simple(const char *m, size_t n)
{
	struct pg_param ps;
	struct pg_err err;
	int32_t pid;
	uint32_t key;
	char st;

	if (ok(pg_read_ready(m, n, &st, &err), &err))
		same_bytes(scratch, pg_build_ready(scratch, sizeof(scratch), st), m, n);
	if (ok(pg_read_param_status(m, n, &ps, &err), &err))
		same_bytes(scratch, pg_build_param_status(scratch, sizeof(scratch), ps.name.p,
							  ps.value.p), m, n);
	if (ok(pg_read_key_data(m, n, &pid, &key, &err), &err))
		same_bytes(scratch, pg_build_key_data(scratch, sizeof(scratch), pid, key), m, n);
}

/* An ErrorResponse built from the fields read reads back the same. */
static void check_notice(const char *m, size_t n)
{
	struct pg_notice a, b;
	struct pg_err err;
	size_t len;
	char *q;

	if (!ok(pg_read_notice(m, n, &a, &err), &err))
		return;
	len = pg_build_error(scratch, sizeof(scratch), a.severity.p, a.sqlstate.p, a.message.p,
			     a.detail.len ? a.detail.p : NULL, a.hint.len ? a.hint.p : NULL);
	q = dup_exact(scratch, len);
	BUG_ON(pg_read_notice(q, len, &b, &err) != 0);
	same_str(a.severity, b.severity);
	same_str(a.sqlstate, b.sqlstate);
	same_str(a.message, b.message);
	same_str(a.detail, b.detail);
	same_str(a.hint, b.hint);
	free(q);
}

static size_t build_auth(const struct pg_auth *a)
{
	const char *mechs[PG_MAX_SASL_MECHS];

	switch (a->code) {
	case PG_AUTH_OK:
		return pg_build_auth_ok(scratch, sizeof(scratch));
	case PG_AUTH_CLEARTEXT:
		return pg_build_auth_cleartext(scratch, sizeof(scratch));
	case PG_AUTH_MD5:
		BUG_ON(a->data.len != 4);
		return pg_build_auth_md5(scratch, sizeof(scratch), a->data.p);
	case PG_AUTH_SASL:
		BUG_ON(a->nmechs < 1 || a->nmechs > PG_MAX_SASL_MECHS);
		for (int i = 0; i < a->nmechs; i++)
			mechs[i] = a->mechs[i].p;
		return pg_build_auth_sasl(scratch, sizeof(scratch), mechs, a->nmechs);
	case PG_AUTH_SASL_CONTINUE:
		return pg_build_auth_sasl_continue(scratch, sizeof(scratch), a->data.p, a->data.len);
	case PG_AUTH_SASL_FINAL:
		return pg_build_auth_sasl_final(scratch, sizeof(scratch), a->data.p, a->data.len);
	}
	BUG_ON(1);
	return 0;
}

static void check_auth(const char *m, size_t n)
{
	struct pg_err err;
	struct pg_auth a;

	if (!ok(pg_read_auth(m, n, &a, &err), &err))
		return;
	same_bytes(scratch, build_auth(&a), m, n);
}

static void check_copy(const char *m, size_t n)
{
	struct pg_err err;
	struct pg_copy c;

	if (!ok(pg_read_copy_response(m, n, &c, &err), &err))
		return;
	BUG_ON(c.type != m[0] || n != 5 + 1 + 2 + 2 * (size_t)c.ncols);
}

/* ---- streams ------------------------------------------------------------------ */

static void check_message(const char *m, size_t n, int i)
{
	static const char *const names[] = { "nd_1", "", "a_statement_name_longer_than_most" };

	check_query(m, n);
	check_parse(m, n);
	check_target(m, n);
	check_execute(m, n);
	check_bodiless(m, n);
	check_auth_responses(m, n);
	check_rewrite(m, n, names[i % 3]);
	check_backend_simple(m, n);
	check_notice(m, n);
	check_auth(m, n);
	check_copy(m, n);
}

static void stream(const char *p, size_t n, enum pg_dir dir)
{
	for (int i = 0; i < MAX_MESSAGES && n; i++) {
		long len = frame_at(p, n, dir, MAX_LEN);
		size_t cut = (unsigned char)p[n - 1] % (len > 0 ? (size_t)len : n);
		char *m;

		check_prefix(len, frame_at(p, cut, dir, MAX_LEN));
		if (len <= 0)
			return;
		BUG_ON(!pg_msg_name(p[0], dir));
		check_prefix(len, frame_at(p, (size_t)len - 1, dir, MAX_LEN));
		m = dup_exact(p, (size_t)len);
		check_message(m, (size_t)len, i);
		free(m);
		p += len;
		n -= (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	enum pg_startup_kind kind;
	size_t off = 0, len;

	/* An SSL or GSSENC request is answered 'N'; another packet follows. */
	for (int i = 0; i < 3; i++) {
		len = startup(p + off, size - off, &kind);
		off += len;
		if (!len || (kind != PG_SSL_REQUEST && kind != PG_GSSENC_REQUEST))
			break;
	}
	stream(p + off, size - off, PG_FRONTEND);
	stream(p, size, PG_BACKEND);
	return 0;
}
