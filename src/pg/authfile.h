/*
 * authfile.h - the auth file of users and secrets (PgBouncer's
 * userlist.txt) that nodown checks clients against and logs into servers
 * with, and the secrets it holds: a plain password, an md5 hash or a
 * SCRAM-SHA-256 verifier.
 *
 * A loaded auth file is immutable and shared: any thread may read it. The
 * methods that use its secrets are in pg/password.h (md5, cleartext) and
 * pg/scram.h (SCRAM-SHA-256).
 */
#ifndef ND_PG_AUTHFILE_H
#define ND_PG_AUTHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"
#include "../core/config.h"

#define PG_AUTH_USER_MAX	63	/* bytes in a user name: NAMEDATALEN - 1 */
#define PG_AUTH_SECRET_MAX	1024	/* bytes in a secret */
#define PG_AUTH_LINE_MAX	4096	/* bytes in an auth file line */

#define PG_MD5_LEN		35	/* "md5" + 32 hex digits */

#define PG_SCRAM_KEY_LEN	32	/* SHA-256 */
#define PG_SCRAM_SALT_MAX	64	/* bytes of salt accepted (PostgreSQL makes 16) */
#define PG_SCRAM_ITER_DEFAULT	4096	/* PostgreSQL's */
#define PG_SCRAM_ITER_MAX	1000000	/* ~0.3 s of CPU per derivation already */
#define PG_SCRAM_VERIFIER_MAX	256	/* bytes in a verifier string, NUL included */

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

#endif
