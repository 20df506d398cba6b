/*
 * auth.h - PostgreSQL password authentication at both ends of the proxy:
 * the auth file of users and secrets, nodown as the server a client logs
 * into, and nodown as the client of a real PostgreSQL server. Methods:
 * SCRAM-SHA-256 (RFC 5802, RFC 7677), md5 and cleartext.
 *
 * Pure functions over the authentication payloads (the SASL data, the md5
 * or cleartext password): framing them in AuthenticationSASL, SASLResponse
 * or PasswordMessage is pg/wire's job, and nothing here touches a socket
 * or a loop. Any thread may call anything here on its own state; a loaded
 * auth file is immutable and shared.
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
#ifndef ND_PG_AUTH_H
#define ND_PG_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"
#include "../core/config.h"

#define PG_AUTH_USER_MAX	63	/* bytes in a user name: NAMEDATALEN - 1 */
#define PG_AUTH_SECRET_MAX	1024	/* bytes in a secret */
#define PG_AUTH_LINE_MAX	4096	/* bytes in an auth file line */

#define PG_MD5_LEN		35	/* "md5" + 32 hex digits */
#define PG_MD5_SALT_LEN		4

#define PG_SCRAM_KEY_LEN	32	/* SHA-256 */
#define PG_SCRAM_SALT_MAX	64	/* bytes of salt accepted (PostgreSQL makes 16) */
#define PG_SCRAM_ITER_DEFAULT	4096	/* PostgreSQL's */
#define PG_SCRAM_ITER_MAX	1000000	/* ~0.3 s of CPU per derivation already */
#define PG_SCRAM_NONCE_MAX	256	/* characters in a client or server nonce part */
#define PG_SCRAM_MSG_MAX	1024	/* bytes in any SCRAM message, NUL included */
#define PG_SCRAM_VERIFIER_MAX	256	/* bytes in a verifier string, NUL included */

/* ---- secrets and the auth file -------------------------------------------- */

enum pg_secret_kind {
	PG_SECRET_PLAIN,	/* the password itself */
	PG_SECRET_MD5,		/* "md5" + hex(md5(password || user)) */
	PG_SECRET_SCRAM,	/* SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> */
};

/* What a SCRAM server stores; the password cannot be derived from it. */
struct pg_scram_keys {
	int iterations;			/* 1..PG_SCRAM_ITER_MAX */
	size_t salt_len;		/* 1..PG_SCRAM_SALT_MAX */
	uint8_t salt[PG_SCRAM_SALT_MAX];
	uint8_t stored_key[PG_SCRAM_KEY_LEN];	/* H(HMAC(SaltedPassword, "Client Key")) */
	uint8_t server_key[PG_SCRAM_KEY_LEN];	/* HMAC(SaltedPassword, "Server Key") */
};

struct pg_user {
	char *name;			/* owned; 1..PG_AUTH_USER_MAX bytes, unique in its file */
	enum pg_secret_kind kind;	/* how the secret was written */
	char *password;			/* owned; PLAIN only, else NULL */
	char md5[PG_MD5_LEN + 1];	/* PLAIN and MD5: "md5" + hex(md5(password || name)); else "" */
	struct pg_scram_keys scram;	/* SCRAM: parsed; PLAIN: derived at load with a random salt */
	int line;			/* where it was defined */
};

struct pg_authfile {
	struct pg_user *users;		/* owned array, sorted by name */
	int nusers;
};

/*
 * Parse auth file text[0, len), PgBouncer's userlist.txt format: one
 * `"user" "secret"` per line, separated by blanks, `""` standing for a
 * quote inside either; blank lines and lines starting (after blanks) with
 * ';' or '#' are skipped; nothing may follow the secret. A secret is an md5
 * hash if it is "md5" and 32 lower-case hex digits (PostgreSQL's rule), a
 * SCRAM verifier if it starts with "SCRAM-SHA-256$" (refused if malformed,
 * where PostgreSQL would take it as a password), else a plain password,
 * for which SCRAM keys are derived here with `iterations` and a random
 * salt: about a millisecond per plain password at 4096, paid once per load
 * rather than at every login (tests and fuzzing pass 1). Empty names and
 * secrets are refused: PostgreSQL never accepts an empty password.
 *
 * On success returns 0 and sets *out (free with pg_authfile_free). On
 * failure returns -EINVAL, appends every problem as "name:line:col: what"
 * to errs and leaves *out NULL. Never prints.
 */
int pg_authfile_parse(const char *name, const char *text, size_t len, int iterations,
		      struct pg_authfile **out, struct errlist *errs) ND_MUST_CHECK;

/* Same from the file at path, with PG_SCRAM_ITER_DEFAULT; -errno (and a
 * message) when it cannot be read. Control thread. */
int pg_authfile_load(const char *path, struct pg_authfile **out, struct errlist *errs) ND_MUST_CHECK;

void pg_authfile_free(struct pg_authfile *af);

/* The entry for user (exact, case-sensitive), or NULL. */
const struct pg_user *pg_authfile_find(const struct pg_authfile *af, const char *user);

/*
 * PostgreSQL's stored form of password for the given salt and iterations,
 * as CREATE ROLE ... PASSWORD writes it under password_encryption =
 * 'scram-sha-256'. Writes a NUL-terminated string to out and returns its
 * length; salt_len and iterations within the bounds above (BUG otherwise).
 */
int pg_scram_verifier(const char *password, const uint8_t *salt, size_t salt_len,
		      int iterations, char out[PG_SCRAM_VERIFIER_MAX]);

/* ---- nodown as the server ------------------------------------------------- */

/* Fresh random salt for AuthenticationMD5Password. */
void pg_md5_salt(uint8_t salt[PG_MD5_SALT_LEN]);

/*
 * Check a client's md5 response ("md5" + 32 hex digits, from
 * PasswordMessage) to salt. Needs a PLAIN or MD5 secret. Returns 0 when it
 * matches (constant-time), else -1 with *why.
 */
int pg_md5_verify(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
		  const char *response, const char **why) ND_MUST_CHECK;

/*
 * Check a cleartext password against any kind of secret (a SCRAM verifier
 * costs a key derivation). Returns 0 when it matches, else -1 with *why.
 */
int pg_password_verify(const struct pg_user *u, const char *password,
		       const char **why) ND_MUST_CHECK;

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

/* The password for AuthenticationCleartextPassword, or NULL with *why when
 * the auth file holds only a hash of it. */
const char *pg_cleartext_response(const struct pg_user *u, const char **why);

/*
 * The response to AuthenticationMD5Password with salt, written to out
 * (NUL-terminated). Needs a PLAIN or MD5 secret. Returns 0, or -1 with *why.
 */
int pg_md5_response(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
		    char out[PG_MD5_LEN + 1], const char **why) ND_MUST_CHECK;

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
