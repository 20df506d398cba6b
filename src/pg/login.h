/*
 * login.h - logging into a PostgreSQL server as a user of the auth file:
 * the client side of startup and authentication, as a state machine fed
 * one server message at a time. Used by worker server connections
 * (pg/pool.c) and by the control thread's monitor connections.
 */
#ifndef ND_PG_LOGIN_H
#define ND_PG_LOGIN_H

#include "authfile.h"
#include "config.h"
#include "wire.h"

struct gbuf;
struct pg_scram_client;

enum pg_login_result {
	PG_LOGIN_MORE,		/* keep feeding messages */
	PG_LOGIN_DONE,		/* ReadyForQuery: logged in */
	PG_LOGIN_FAILED,	/* *why says why */
};

struct pg_login {
	const struct pg_user *user;	/* borrowed from the auth file */
	unsigned allowed;		/* enum pg_server_auth: what the server may ask for */
	bool asked;			/* the server asked for a password or SCRAM */
	bool authed;			/* AuthenticationOk came */
	struct pg_scram_client *scram;	/* owned, during SCRAM */
	int32_t pid;			/* BackendKeyData */
	uint32_t key;
	char error[256];		/* the server's ErrorResponse, for *why */
};

/* The StartupMessage for user/database, appended to out. allowed: the
 * enum pg_server_auth methods the server may use (anything else fails the
 * login rather than give the secret away, or believe a server that did not
 * prove it knows it). */
void pg_login_start(struct pg_login *l, const struct pg_user *user, const char *database,
		    unsigned allowed, struct gbuf *out);

/*
 * One server message m[0, n) (framed): answers go to out. ParameterStatus
 * messages are left to the caller (it sees every message anyway).
 */
enum pg_login_result pg_login_msg(struct pg_login *l, const char *m, size_t n, struct gbuf *out,
				  const char **why);

void pg_login_free(struct pg_login *l);

#endif
