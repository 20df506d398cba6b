/*
 * scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677) at both ends of the proxy:
 * nodown as the server a client logs into (with a mock exchange for users
 * it has no usable secret for), and nodown as the client of a real
 * PostgreSQL server. The keys it checks against come from the auth file
 * (pg/authfile.h).
 *
 * Pure functions over the SASL data: framing it in AuthenticationSASL,
 * SASLResponse and the rest is pg/wire's job, and nothing here touches a
 * socket or a loop. Any thread may call anything here on its own state.
 *
 * Every "why" is a short reason for the log, never for the client: a
 * client that fails gets PostgreSQL's usual "password authentication
 * failed" and nothing more.
 *
 * Not done:
 * - SASLprep (RFC 4013). Passwords are used as the bytes written. PostgreSQL
 *   SASLpreps a password that is valid UTF-8 and uses the raw bytes
 *   otherwise, so ASCII passwords (and UTF-8 already in normal form without
 *   mapped characters) give the same keys on both sides; a password that
 *   SASLprep would change (a non-breaking space, a soft hyphen, a non-NFKC
 *   form) does not match a verifier PostgreSQL built from it.
 * - SCRAM-SHA-256-PLUS (channel binding): there is no TLS yet. A client
 *   asking for it ("p=") is refused; "y" (the client could bind but thinks
 *   we cannot) is accepted, which is right only while PLUS is not offered.
 * - SCRAM pass-through (logging into a server with the ClientKey a client
 *   proved, as PgBouncer can) is not offered.
 */
#ifndef ND_PG_SCRAM_H
#define ND_PG_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"
#include "authfile.h"

#define PG_SCRAM_NONCE_MAX	256	/* characters in a client or server nonce part */
#define PG_SCRAM_MSG_MAX	1024	/* bytes in any SCRAM message, NUL included */

/* ---- nodown as the server ------------------------------------------------- */

/*
 * One SCRAM-SHA-256 exchange with a client. Mechanism offered:
 * "SCRAM-SHA-256" only. Steps, each at most once and in order (a BUG
 * otherwise; after a failure the exchange is over):
 *   pg_scram_server_init   for the startup packet's user (the name in the
 *                          client-first-message is ignored, as PostgreSQL does)
 *   pg_scram_server_first  SASLInitialResponse data -> AuthenticationSASLContinue
 *   pg_scram_server_final  SASLResponse data -> AuthenticationSASLFinal
 * Messages are taken as (pointer, length) and refused if they hold a NUL.
 */
struct pg_scram_server {
	char snonce[PG_SCRAM_NONCE_MAX + 1];	/* our nonce part: random from init;
						 * a test may set its own (printable, no ',') */
	struct pg_scram_keys keys;		/* copied: a reload may free the file mid-exchange */
	int step;				/* private */
	char cbind;				/* 'n' or 'y', from the gs2 header */
	char nonce[2 * PG_SCRAM_NONCE_MAX + 1];	/* client nonce + snonce */
	size_t auth_len;
	char auth[3 * PG_SCRAM_MSG_MAX];	/* the AuthMessage, built as messages pass */
};

/* Start an exchange for u: needs a PLAIN or SCRAM secret; -1 with *why for MD5. */
int pg_scram_server_init(struct pg_scram_server *s, const struct pg_user *u,
			 const char **why) ND_MUST_CHECK;

/*
 * Start a mock exchange for a user with no usable secret (unknown, or an
 * md5 hash where SCRAM is asked for), as PostgreSQL does: it looks like a
 * real one (a salt stable per name, the usual iteration count) and always
 * fails at the client's proof, so a client cannot tell which names exist.
 */
void pg_scram_server_mock(struct pg_scram_server *s, const char *user);

/*
 * Read the client-first-message in[0, n) and write the server-first-message
 * to out. Refused: a channel-binding flag other than n or y (p= included),
 * an authorization identity (a=), a mandatory extension (m=), a missing or
 * empty nonce, a nonce not printable or longer than PG_SCRAM_NONCE_MAX,
 * malformed attributes. Returns the length written, or -1 with *why.
 */
int pg_scram_server_first(struct pg_scram_server *s, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why) ND_MUST_CHECK;

/*
 * Read the client-final-message in[0, n), check its channel binding
 * (c=biws after "n,,", c=eSws after "y,,"), nonce and proof, and write the
 * server-final-message ("v=" + ServerSignature) to out. Returns its length
 * when the client proved it knows the password, else -1 with *why.
 */
int pg_scram_server_final(struct pg_scram_server *s, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why) ND_MUST_CHECK;

/* ---- nodown as the client of a PostgreSQL server -------------------------- */

/*
 * One SCRAM-SHA-256 login into a server, mechanism "SCRAM-SHA-256". Steps,
 * each at most once and in order (a BUG otherwise):
 *   pg_scram_client_init    needs the PLAIN password (a verifier cannot log in)
 *   pg_scram_client_first   -> SASLInitialResponse data
 *   pg_scram_client_final   AuthenticationSASLContinue data -> SASLResponse data
 *   pg_scram_client_verify  AuthenticationSASLFinal data
 * The login succeeded only if pg_scram_client_verify returned 0: that
 * proves the server knows the password too.
 */
struct pg_scram_client {
	char nonce[PG_SCRAM_NONCE_MAX + 1];	/* ours: random from init; a test may set
						 * its own (printable, no ',') */
	const char *name;			/* the n= value: "" from init, as libpq sends
						 * (the server ignores it); a test may set a
						 * SASL name (no ',' or '=') */
	int max_iterations;			/* refuse a server asking for more:
						 * PG_SCRAM_ITER_MAX from init */
	int step;				/* private */
	char password[PG_AUTH_SECRET_MAX + 1];	/* copied; wiped by pg_scram_client_final */
	uint8_t server_signature[PG_SCRAM_KEY_LEN];	/* what server-final must carry */
	char error[128];			/* the server's e=, for *why */
	size_t auth_len;
	char auth[3 * PG_SCRAM_MSG_MAX];	/* the AuthMessage, built as messages pass */
};

/* Start a login as u; -1 with *why when the auth file has no plain password. */
int pg_scram_client_init(struct pg_scram_client *c, const struct pg_user *u,
			 const char **why) ND_MUST_CHECK;

/* Write the client-first-message ("n,,n=,r=<nonce>") to out; returns its length. */
int pg_scram_client_first(struct pg_scram_client *c, char out[PG_SCRAM_MSG_MAX]);

/*
 * Read the server-first-message in[0, n) and write the client-final-message
 * with our proof to out. Refused: a nonce that does not extend ours, a
 * salt that is not base64 of 1..PG_SCRAM_SALT_MAX bytes, iterations
 * outside 1..max_iterations, a mandatory extension, malformed attributes.
 * Returns the length written, or -1 with *why.
 */
int pg_scram_client_final(struct pg_scram_client *c, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why) ND_MUST_CHECK;

/*
 * Read the server-final-message in[0, n): 0 when its v= signature is the
 * one only a server knowing the password can make; -1 with *why when it is
 * not, or when the server sent e= (*why then quotes it, and points into c).
 */
int pg_scram_client_verify(struct pg_scram_client *c, const char *in, size_t n,
			   const char **why) ND_MUST_CHECK;

#endif
