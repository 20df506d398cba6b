/*
 * login.c - the client side of a PostgreSQL login: StartupMessage, then
 * whatever authentication the server asks for (trust, cleartext, md5,
 * SCRAM-SHA-256, with the server's own signature checked), BackendKeyData
 * and ReadyForQuery.
 *
 * Invariant: a login is DONE only after ReadyForQuery, and, under SCRAM,
 *            only if the server proved it knows the password too.
 * Runs on: any thread, on the caller's state.
 */
#include "login.h"

#include "password.h"
#include "pool.h"
#include "scram.h"

static void put(struct gbuf *out, const char *p, size_t n)
{
	if (gbuf_reserve(out, n, SIZE_MAX))
		gbuf_append(out, p, n);
}

void pg_login_start(struct pg_login *l, const struct pg_user *user, const char *database,
		    unsigned allowed, struct gbuf *out)
{
	char msg[512];
	size_t n = pg_build_startup(msg, sizeof(msg), user->name, database, NULL, 0);

	*l = (struct pg_login){ .user = user, .allowed = allowed };
	put(out, msg, n);
}

void pg_login_free(struct pg_login *l)
{
	free(l->scram);
	l->scram = NULL;
}

/* May the server ask for this? */
static int allowed(struct pg_login *l, unsigned method, const char *what, const char **why)
{
	if (l->allowed & method)
		return 0;
	*why = what;
	return -1;
}

/* Answer an Authentication request; -1 with *why when we cannot. */
static int answer(struct pg_login *l, const struct pg_auth *a, struct gbuf *out, const char **why)
{
	char data[PG_SCRAM_MSG_MAX], msg[PG_SCRAM_MSG_MAX + 64];
	int n;

	if (a->code != PG_AUTH_OK && a->code != PG_AUTH_SASL_CONTINUE && a->code != PG_AUTH_SASL_FINAL)
		l->asked = true;
	switch (a->code) {
	case PG_AUTH_OK:
		if (!l->asked && allowed(l, PG_SERVER_AUTH_TRUST, "the server let nodown in without "
					 "authentication (trust), which server_auth does not allow", why) < 0)
			return -1;
		l->authed = true;
		return 0;
	case PG_AUTH_CLEARTEXT: {
		const char *pw;

		if (allowed(l, PG_SERVER_AUTH_PASSWORD, "the server asked for the password in clear, "
			    "which server_auth does not allow (add password to it to send it)", why) < 0)
			return -1;
		pw = pg_cleartext_response(l->user, why);

		if (!pw || strlen(pw) + 16 > sizeof(msg))
			return -1;
		put(out, msg, pg_build_password(msg, sizeof(msg), pw));
		return 0;
	}
	case PG_AUTH_MD5: {
		char resp[PG_MD5_LEN + 1];

		if (allowed(l, PG_SERVER_AUTH_MD5, "the server asked for md5, which server_auth "
			    "does not allow", why) < 0)
			return -1;
		if (pg_md5_response(l->user, (const uint8_t *)a->data.p, resp, why) < 0)
			return -1;
		put(out, msg, pg_build_password(msg, sizeof(msg), resp));
		return 0;
	}
	case PG_AUTH_SASL:
		if (allowed(l, PG_SERVER_AUTH_SCRAM, "the server asked for SCRAM, which server_auth "
			    "does not allow", why) < 0)
			return -1;
		if (l->scram) {
			*why = "the server asked for SASL twice";
			return -1;
		}
		l->scram = xcalloc(1, sizeof(*l->scram));
		if (pg_scram_client_init(l->scram, l->user, why) < 0)
			return -1;
		n = pg_scram_client_first(l->scram, data);
		put(out, msg, pg_build_sasl_initial(msg, sizeof(msg), "SCRAM-SHA-256", data, (size_t)n));
		return 0;
	case PG_AUTH_SASL_CONTINUE:
		if (!l->scram || (n = pg_scram_client_final(l->scram, a->data.p, a->data.len, data, why)) < 0)
			return -1;
		put(out, msg, pg_build_sasl_response(msg, sizeof(msg), data, (size_t)n));
		return 0;
	case PG_AUTH_SASL_FINAL:
		if (!l->scram || pg_scram_client_verify(l->scram, a->data.p, a->data.len, why) < 0)
			return -1;
		pg_login_free(l);
		return 0;
	}
	*why = "unsupported authentication request";
	return -1;
}

enum pg_login_result pg_login_msg(struct pg_login *l, const char *m, size_t n, struct gbuf *out,
				  const char **why)
{
	struct pg_err err;

	*why = NULL;
	switch (m[0]) {
	case 'R': {
		struct pg_auth a;

		if (pg_read_auth(m, n, &a, &err) < 0) {
			*why = err.reason;
			return PG_LOGIN_FAILED;
		}
		if (a.code == PG_AUTH_OK && l->scram) {
			*why = "the server skipped SCRAM's final message";
			return PG_LOGIN_FAILED;
		}
		if (answer(l, &a, out, why) < 0) {
			if (!*why)
				*why = "authentication failed";
			return PG_LOGIN_FAILED;
		}
		return PG_LOGIN_MORE;
	}
	case 'K':
		if (pg_read_key_data(m, n, &l->pid, &l->key, &err) < 0) {
			*why = err.reason;
			return PG_LOGIN_FAILED;
		}
		return PG_LOGIN_MORE;
	case 'Z':
		if (!l->authed || l->scram) {
			*why = "the server ended the login without completing authentication";
			return PG_LOGIN_FAILED;
		}
		return PG_LOGIN_DONE;
	case 'E':
		*why = pg_describe_notice(m, n, l->error, sizeof(l->error));
		return PG_LOGIN_FAILED;
	default:		/* ParameterStatus (the caller's), notices, NegotiateProtocolVersion */
		return PG_LOGIN_MORE;
	}
}
