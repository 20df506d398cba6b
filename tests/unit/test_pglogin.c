/*
 * test_pglogin.c - pg/login.c: nodown logging into a server, against a
 * server played here with pg/wire's builders and pg/scram.c's SCRAM server.
 *
 * Covers the methods a pool's server_auth allows or refuses (trust,
 * cleartext, md5, SCRAM), a full SCRAM exchange, a server whose SCRAM
 * signature is wrong, and servers that end the login (ReadyForQuery, or
 * AuthenticationOk) without having proved they know the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg/login.h"
#include "pg/pool.h"
#include "pg/scram.h"

#define ALL (PG_SERVER_AUTH_TRUST | PG_SERVER_AUTH_PASSWORD | PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_SCRAM)
#define DEFAULT (PG_SERVER_AUTH_TRUST | PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_SCRAM)

struct fixture {
	struct pg_authfile *af;
	const struct pg_user *user;
	struct pg_login l;
	struct gbuf out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct errlist e = { 0 };
	static const char text[] = "\"alice\" \"s3cret\"\n";

	assert_int_equal(pg_authfile_parse("t", text, sizeof(text) - 1, 1, &f->af, &e), 0);
	f->user = pg_authfile_find(f->af, "alice");
	assert_non_null(f->user);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pg_login_free(&f->l);
	gbuf_free(&f->out);
	pg_authfile_free(f->af);
	free(f);
	return 0;
}

static void start(struct fixture *f, unsigned allowed)
{
	pg_login_free(&f->l);
	gbuf_free(&f->out);
	pg_login_start(&f->l, f->user, "app", allowed, &f->out);
	gbuf_consume(&f->out, gbuf_pending(&f->out));	/* the StartupMessage */
}

static enum pg_login_result feed(struct fixture *f, const char *m, size_t n, const char **why)
{
	*why = NULL;
	return pg_login_msg(&f->l, m, n, &f->out, why);
}

/* The server's side of the end of a login: AuthenticationOk (unless
 * skip_ok), BackendKeyData, ReadyForQuery. */
static enum pg_login_result finish(struct fixture *f, bool skip_ok, const char **why)
{
	char buf[64];
	enum pg_login_result r;

	if (!skip_ok && (r = feed(f, buf, pg_build_auth_ok(buf, sizeof(buf)), why)) != PG_LOGIN_MORE)
		return r;
	if ((r = feed(f, buf, pg_build_key_data(buf, sizeof(buf), 77, 88), why)) != PG_LOGIN_MORE)
		return r;
	return feed(f, buf, pg_build_ready(buf, sizeof(buf), 'I'), why);
}

static void test_trust(void **state)
{
	struct fixture *f = *state;
	const char *why;

	start(f, DEFAULT);
	assert_int_equal(finish(f, false, &why), PG_LOGIN_DONE);
	assert_int_equal(f->l.pid, 77);
	start(f, PG_SERVER_AUTH_SCRAM | PG_SERVER_AUTH_MD5);
	assert_int_equal(finish(f, false, &why), PG_LOGIN_FAILED);
	assert_non_null(strstr(why, "trust"));
	/* ReadyForQuery without AuthenticationOk at all */
	start(f, ALL);
	assert_int_equal(finish(f, true, &why), PG_LOGIN_FAILED);
}

static void test_cleartext_only_when_allowed(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char buf[64];
	struct pg_str pw;
	struct pg_err err;

	start(f, DEFAULT);
	assert_int_equal(feed(f, buf, pg_build_auth_cleartext(buf, sizeof(buf)), &why), PG_LOGIN_FAILED);
	assert_non_null(strstr(why, "in clear"));
	assert_int_equal(gbuf_pending(&f->out), 0);	/* the password was not sent */

	start(f, DEFAULT | PG_SERVER_AUTH_PASSWORD);
	assert_int_equal(feed(f, buf, pg_build_auth_cleartext(buf, sizeof(buf)), &why), PG_LOGIN_MORE);
	assert_int_equal(pg_read_password(f->out.p + f->out.off, gbuf_pending(&f->out), &pw, &err), 0);
	assert_string_equal(pw.p, "s3cret");
	gbuf_consume(&f->out, gbuf_pending(&f->out));
	assert_int_equal(finish(f, false, &why), PG_LOGIN_DONE);
}

static void test_md5_only_when_allowed(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char buf[64];

	start(f, PG_SERVER_AUTH_SCRAM);
	assert_int_equal(feed(f, buf, pg_build_auth_md5(buf, sizeof(buf), "salt"), &why), PG_LOGIN_FAILED);
	assert_non_null(strstr(why, "md5"));
	start(f, DEFAULT);
	assert_int_equal(feed(f, buf, pg_build_auth_md5(buf, sizeof(buf), "salt"), &why), PG_LOGIN_MORE);
	gbuf_consume(&f->out, gbuf_pending(&f->out));
	assert_int_equal(finish(f, false, &why), PG_LOGIN_DONE);
}

/*
 * Run SCRAM with a server here, up to (and with) its final message;
 * corrupt: alter the server's signature. Returns what the login made of
 * the final message.
 */
static enum pg_login_result scram(struct fixture *f, bool corrupt, const char **why)
{
	struct pg_scram_server ss;
	struct pg_sasl_initial si;
	struct pg_str data;
	struct pg_err err;
	char out[PG_SCRAM_MSG_MAX], buf[PG_SCRAM_MSG_MAX + 64];
	int n;

	assert_int_equal(pg_scram_server_init(&ss, f->user, why), 0);
	assert_int_equal(feed(f, buf, pg_build_auth_sasl(buf, sizeof(buf),
				(const char *const[]){ "SCRAM-SHA-256" }, 1), why), PG_LOGIN_MORE);
	assert_int_equal(pg_read_sasl_initial(f->out.p + f->out.off, gbuf_pending(&f->out), &si, &err), 0);
	n = pg_scram_server_first(&ss, si.data.p, si.data.len, out, why);
	assert_true(n > 0);
	gbuf_consume(&f->out, gbuf_pending(&f->out));
	assert_int_equal(feed(f, buf, pg_build_auth_sasl_continue(buf, sizeof(buf), out, (size_t)n), why),
			 PG_LOGIN_MORE);
	assert_int_equal(pg_read_sasl_response(f->out.p + f->out.off, gbuf_pending(&f->out), &data, &err), 0);
	n = pg_scram_server_final(&ss, data.p, data.len, out, why);
	assert_true(n > 0);
	gbuf_consume(&f->out, gbuf_pending(&f->out));
	if (corrupt)
		out[5] = out[5] == 'A' ? 'B' : 'A';
	return feed(f, buf, pg_build_auth_sasl_final(buf, sizeof(buf), out, (size_t)n), why);
}

static void test_scram(void **state)
{
	struct fixture *f = *state;
	const char *why;

	start(f, DEFAULT);
	assert_int_equal(scram(f, false, &why), PG_LOGIN_MORE);
	assert_int_equal(finish(f, false, &why), PG_LOGIN_DONE);
	/* a server that does not know the password cannot sign */
	start(f, DEFAULT);
	assert_int_equal(scram(f, true, &why), PG_LOGIN_FAILED);
	/* SCRAM not allowed */
	start(f, PG_SERVER_AUTH_MD5);
	{
		char buf[64];

		assert_int_equal(feed(f, buf, pg_build_auth_sasl(buf, sizeof(buf),
					(const char *const[]){ "SCRAM-SHA-256" }, 1), &why), PG_LOGIN_FAILED);
	}
}

/* A server that starts SCRAM and then declares the login over, without
 * its signature: refused either way it tries. */
static void test_scram_cut_short(void **state)
{
	struct fixture *f = *state;
	const char *why;
	char buf[PG_SCRAM_MSG_MAX + 64];

	start(f, ALL);
	assert_int_equal(feed(f, buf, pg_build_auth_sasl(buf, sizeof(buf),
				(const char *const[]){ "SCRAM-SHA-256" }, 1), &why), PG_LOGIN_MORE);
	gbuf_consume(&f->out, gbuf_pending(&f->out));
	assert_int_equal(finish(f, true, &why), PG_LOGIN_FAILED);	/* K, then Z */
	start(f, ALL);
	assert_int_equal(feed(f, buf, pg_build_auth_sasl(buf, sizeof(buf),
				(const char *const[]){ "SCRAM-SHA-256" }, 1), &why), PG_LOGIN_MORE);
	assert_int_equal(feed(f, buf, pg_build_auth_ok(buf, sizeof(buf)), &why), PG_LOGIN_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleartext_only_when_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_md5_only_when_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_cut_short, setup, teardown),
	};

	return cmocka_run_group_tests_name("pglogin", tests, NULL, NULL);
}
