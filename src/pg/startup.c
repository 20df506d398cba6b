/*
 * startup.c - a PostgreSQL client's start-up and login: its first packet
 * (SSLRequest and GSSENCRequest declined, a CancelRequest handed to
 * pg/cancel.c, protocol versions above 3.0 and _pq_. options declined),
 * authentication against the auth file (trust, md5 or SCRAM-SHA-256),
 * and the end of the login once a server of its (user, database) is at
 * hand: the server's parameters, the client's cancel key, ReadyForQuery.
 *
 * Owns: a client's authentication state (c->auth, c->user, c->salt,
 *       c->scram); its cancel key is registered here at the end of the
 *       login (pg/proxy.c drops it at close).
 * Invariants:
 *   - nothing is kept per user before the client proved who it is (its
 *     bucket is looked up only then);
 *   - a user with no usable secret goes through a mock exchange that fails
 *     only at the proof: the answers do not tell which user names exist;
 *   - a startup parameter a pooled session cannot honour refuses the
 *     client rather than silently not apply (startup_param_ok);
 *   - start-up and authentication end within header_timeout.
 * Runs on: the owning worker's loop.
 */
#include "client.h"

#include "../core/log.h"
#include "cancel.h"
#include "password.h"
#include "pool.h"
#include "scram.h"

/* ---- login ------------------------------------------------------------------------------ */

/* The client proved who it is: AuthenticationOk, then (once a server of
 * its (user, database) is at hand, so a held login waits like a
 * transaction) the server's parameters, our key and ReadyForQuery. */
static void login_ok(struct pgclient *c)
{
	char buf[64];

	c->auth = A_NONE;
	free(c->scram);
	c->scram = NULL;
	pgc_send(c, buf, pg_build_auth_ok(buf, sizeof(buf)));
	c->state = PC_IDLE;
	c->bootstrap = true;
	c->bucket = pg_bucket(c->pool, c->username, c->database);	/* only now: it is kept */
	uv_timer_stop(&c->timer);
	pgc_hold(c);
}

/*
 * The client is logged in: its parameters, its BackendKeyData and
 * ReadyForQuery. In session mode it keeps this server, and is told the
 * server's real pid (with a key of nodown's own), as a direct connection
 * would tell it; in transaction mode it gets a pid no backend can have
 * (pg_cancel_fake_pid), so pg_terminate_backend() of it kills nothing.
 */
void pgc_finish_login(struct pgclient *c, struct pgserver *s)
{
	bool session = c->pool->pg->pool_mode == PG_POOL_SESSION;
	int32_t pid = session ? s->pid : pg_cancel_fake_pid();
	char buf[64];
	uint32_t key;

	c->bootstrap = false;
	c->replaying = false;
	c->cancel = pg_cancel_register(pid, &key);
	if (!c->cancel) {
		pgc_error(c, "FATAL", "58000", "no secure random number for a cancel key "
			  "(the system's random source failed)");
		return;
	}
	c->pid = pid;
	c->key = key;
	pgc_send_login_params(c, s);
	pgc_send(c, buf, pg_build_key_data(buf, sizeof(buf), c->pid, c->key));
	pgc_send(c, buf, pg_build_ready(buf, sizeof(buf), 'I'));
	c->txstatus = 'I';
	if (session)
		pgc_server_changed(c, s);
	else
		pgc_unlink_server(c, true);
}

/* ---- authentication ------------------------------------------------------------------ */

static void auth_failed(struct pgclient *c, const char *why)
{
	char msg[256];

	log_info("pg client %s: password authentication failed for user \"%s\": %s", c->peer,
		 c->username, why);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->username);
	pgc_error(c, "FATAL", "28P01", msg);
}

/*
 * Ask the client to prove who it is. A user with no usable secret (not in
 * the auth file, or an md5 hash where SCRAM is asked for) goes through a
 * mock exchange that fails only at the proof, as PostgreSQL does, so the
 * answers do not tell which user names exist; the log says why.
 */
static void start_auth(struct pgclient *c)
{
	const char *why = NULL;
	char buf[256];

	c->user = pg_authfile_find(c->pool->auth, c->username);
	if (c->pool->pg->auth_type == PG_CLIENT_AUTH_TRUST) {
		if (!c->user) {	/* nodown could not log into a server as it anyway */
			snprintf(buf, sizeof(buf), "role \"%s\" is not in nodown's auth file", c->username);
			pgc_error(c, "FATAL", "28000", buf);
			return;
		}
		login_ok(c);
		return;
	}
	if (c->pool->pg->auth_type == PG_CLIENT_AUTH_MD5 && (!c->user || c->user->kind != PG_SECRET_SCRAM)) {
		pg_md5_salt(c->salt);
		c->auth = A_MD5;
		pgc_send(c, buf, pg_build_auth_md5(buf, sizeof(buf), (const char *)c->salt));
		return;
	}
	c->scram = xcalloc(1, sizeof(*c->scram));
	if (!c->user || pg_scram_server_init(c->scram, c->user, &why) < 0) {
		c->mock_why = c->user ? why : "no such user in the auth file";
		pg_scram_server_mock(c->scram, c->username);
	}
	c->auth = A_SCRAM_FIRST;
	pgc_send(c, buf, pg_build_auth_sasl(buf, sizeof(buf), (const char *const[]){ "SCRAM-SHA-256" }, 1));
}

/* A PasswordMessage / SASL message during authentication. */
void pgc_auth_msg(struct pgclient *c, const char *m, size_t n)
{
	struct pg_err err;
	const char *why = NULL;
	char out[PG_SCRAM_MSG_MAX], buf[PG_SCRAM_MSG_MAX + 64];
	int len;

	if (m[0] != 'p') {
		pgc_error(c, "FATAL", "08P01", "expected a password message during authentication");
		return;
	}
	switch (c->auth) {
	case A_MD5: {
		struct pg_str pw;

		if (pg_read_password(m, n, &pw, &err) < 0)
			pgc_error(c, "FATAL", err.sqlstate, err.reason);
		else if (!c->user)
			auth_failed(c, "no such user in the auth file");
		else if (pg_md5_verify(c->user, c->salt, pw.p, &why) < 0)
			auth_failed(c, why);
		else
			login_ok(c);
		return;
	}
	case A_SCRAM_FIRST: {
		struct pg_sasl_initial si;

		if (pg_read_sasl_initial(m, n, &si, &err) < 0) {
			pgc_error(c, "FATAL", err.sqlstate, err.reason);
		} else if (si.mechanism.len != 13 || memcmp(si.mechanism.p, "SCRAM-SHA-256", 13) || !si.has_data) {
			pgc_error(c, "FATAL", "28000", "only SCRAM-SHA-256 is offered");
		} else if ((len = pg_scram_server_first(c->scram, si.data.p, si.data.len, out, &why)) < 0) {
			auth_failed(c, why);
		} else {
			c->auth = A_SCRAM_FINAL;
			pgc_send(c, buf, pg_build_auth_sasl_continue(buf, sizeof(buf), out, (size_t)len));
		}
		return;
	}
	case A_SCRAM_FINAL: {
		struct pg_str data;

		if (pg_read_sasl_response(m, n, &data, &err) < 0) {
			pgc_error(c, "FATAL", err.sqlstate, err.reason);
		} else if ((len = pg_scram_server_final(c->scram, data.p, data.len, out, &why)) < 0) {
			auth_failed(c, c->mock_why ? c->mock_why : why);
		} else {
			pgc_send(c, buf, pg_build_auth_sasl_final(buf, sizeof(buf), out, (size_t)len));
			login_ok(c);
		}
		return;
	}
	case A_NONE:
		break;
	}
	pgc_error(c, "FATAL", "08P01", "unexpected message during authentication");
}

/* ---- the first packet ---------------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, struct pg_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* A `_pq_.` protocol option (declined by negotiate_version). */
static bool protocol_option(struct pg_str name)
{
	return !strncmp(name.p, "_pq_.", 5);
}

/* Startup parameters a pooled session can honour: who and where, the
 * tracked ones (replayed on every server), extra_float_digits, which is
 * ignored (as PgBouncer users configure), and protocol options, which
 * negotiate_version declines. Others, `options` included, would silently
 * not apply: refused. */
static bool startup_param_ok(struct pg_str name)
{
	static const char *const fixed[] = { "user", "database", "replication", "extra_float_digits" };

	if (protocol_option(name))
		return true;
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		if (!strcmp(name.p, fixed[i]))
			return true;
	for (int i = 0; i < PG_TRACKED_PARAMS; i++)
		if (!strcasecmp(name.p, pg_tracked_params[i]))
			return true;
	return false;
}

/* A client asking for protocol 3.x with x > 0, or for _pq_. options, is
 * told that nodown speaks 3.0 and none of those options (as PostgreSQL
 * itself answers); it then goes on in 3.0 or gives up. */
static void negotiate_version(struct pgclient *c, const struct pg_startup *st)
{
	struct pg_str opts[PG_MAX_PARAMS];
	int nopts = 0;
	char buf[4096];
	size_t n;

	for (int i = 0; i < st->nparams; i++)
		if (protocol_option(st->params[i].name))
			opts[nopts++] = st->params[i].name;
	if (st->minor == 0 && nopts == 0)
		return;
	n = pg_build_negotiate(buf, sizeof(buf), 0, opts, nopts);
	if (n <= sizeof(buf))
		pgc_send(c, buf, n);
}

/* The cancel this connection carried was acted on (or dropped): answer it
 * the way PostgreSQL does, by closing the connection. */
static void cancel_done(void *arg)
{
	struct pgclient *c = arg;

	c->cancel_req = NULL;
	pgc_close(c, NULL);
}

/* The first packet of the connection. */
void pgc_on_startup(struct pgclient *c)
{
	struct pg_startup st;
	struct pg_err err;
	long n = pg_startup_frame(c->in.p + c->in.off, gbuf_pending(&c->in), &st, &err);

	if (n == 0)
		return;
	if (n < 0) {
		pgc_error(c, "FATAL", err.sqlstate, err.reason);
		return;
	}
	gbuf_consume(&c->in, (size_t)n);
	switch (st.kind) {
	case PG_SSL_REQUEST:
	case PG_GSSENC_REQUEST:
		pgc_send(c, "N", 1);		/* no TLS yet: the client goes on in clear or gives up */
		return;
	case PG_CANCEL_REQUEST:
		c->state = PC_CANCEL;
		c->cancel_req = pg_cancel_request(c->w, st.cancel_pid, st.cancel_key, cancel_done, c);
		return;
	case PG_STARTUP:
		break;
	}
	negotiate_version(c, &st);
	for (int i = 0; i < st.nparams; i++) {
		if (!startup_param_ok(st.params[i].name)) {
			char msg[256];

			snprintf(msg, sizeof(msg), "startup parameter \"%.64s\" is not supported through "
				 "nodown's pool; set it with SET, or per role (ALTER ROLE ... SET)",
				 st.params[i].name.p);
			pgc_error(c, "FATAL", "0A000", msg);
			return;
		}
	}
	copy_str(c->username, sizeof(c->username), st.user);
	copy_str(c->database, sizeof(c->database), st.database);
	copy_str(c->appname, sizeof(c->appname), st.application_name);
	for (int i = 0; i < st.nparams; i++)
		pg_vars_set(&c->vars, st.params[i].name.p, st.params[i].name.len,
			    st.params[i].value.p, st.params[i].value.len);
	if (st.user.len > PG_AUTH_USER_MAX || st.database.len > PG_AUTH_USER_MAX) {
		pgc_error(c, "FATAL", "08P01", "user or database name too long");
		return;
	}
	c->state = PC_AUTH;
	start_auth(c);
}

void pgc_startup_timeout_cb(uv_timer_t *t)
{
	struct pgclient *c = t->data;

	if (c->state == PC_CANCEL)	/* the cancel goes on; its requester stops waiting */
		pgc_close(c, NULL);
	else
		pgc_error(c, "FATAL", "08006", "startup and authentication took longer than header_timeout");
}
