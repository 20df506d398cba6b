/*
 * password.c - md5 and cleartext passwords: checking a client's
 * PasswordMessage as the server, answering a server's request as client.
 *
 * Owns: nothing; the secrets are the auth file's (pg/authfile.c).
 * Invariants: every secret comparison is constant-time (CRYPTO_memcmp),
 *             and a plain password is hashed before it is compared, so
 *             that its length does not show either.
 * Runs on: any thread.
 */
#include "password.h"

#include <stdbool.h>

#include <openssl/crypto.h>

#include "crypto.h"

/* The md5 response to salt from a user's "md5..." string; -1 for a SCRAM secret. */
static int md5_expected(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
			char out[PG_MD5_LEN + 1])
{
	if (u->kind == PG_SECRET_SCRAM)
		return -1;
	pg_md5_string(u->md5 + 3, PG_MD5_LEN - 3, salt, PG_MD5_SALT_LEN, out);
	return 0;
}

/* ---- nodown as the server ------------------------------------------------- */

void pg_md5_salt(uint8_t salt[PG_MD5_SALT_LEN])
{
	pg_random_bytes(salt, PG_MD5_SALT_LEN);
}

int pg_md5_verify(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
		  const char *response, const char **why)
{
	char want[PG_MD5_LEN + 1];

	if (md5_expected(u, salt, want)) {
		*why = "the auth file holds a SCRAM verifier for this user, which cannot "
		       "check an md5 response";
		return -1;
	}
	if (strlen(response) != PG_MD5_LEN || CRYPTO_memcmp(want, response, PG_MD5_LEN)) {
		*why = "wrong password (md5 response does not match)";
		return -1;
	}
	return 0;
}

int pg_password_verify(const struct pg_user *u, const char *password, const char **why)
{
	uint8_t a[PG_SCRAM_KEY_LEN], b[PG_SCRAM_KEY_LEN];
	char md5[PG_MD5_LEN + 1];
	struct pg_scram_keys k;
	bool ok;

	if (!*password) {
		*why = "empty password";
		return -1;
	}
	switch (u->kind) {
	case PG_SECRET_PLAIN:	/* hashed first so that the length does not show */
		pg_sha256(password, strlen(password), a);
		pg_sha256(u->password, strlen(u->password), b);
		ok = !CRYPTO_memcmp(a, b, sizeof(a));
		break;
	case PG_SECRET_MD5:
		pg_md5_string(password, strlen(password), u->name, strlen(u->name), md5);
		ok = !CRYPTO_memcmp(md5, u->md5, PG_MD5_LEN);
		break;
	default:
		pg_scram_derive(password, u->scram.salt, u->scram.salt_len,
				u->scram.iterations, &k);
		ok = !CRYPTO_memcmp(k.server_key, u->scram.server_key, PG_SCRAM_KEY_LEN);
		break;
	}
	if (!ok)
		*why = "wrong password";
	return ok ? 0 : -1;
}

/* ---- nodown as the client of a PostgreSQL server -------------------------- */

const char *pg_cleartext_response(const struct pg_user *u, const char **why)
{
	if (!u->password)
		*why = "the auth file holds only a hash of this user's password; a server "
		       "asking for a cleartext password needs the plain password there";
	return u->password;
}

int pg_md5_response(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
		    char out[PG_MD5_LEN + 1], const char **why)
{
	if (md5_expected(u, salt, out)) {
		*why = "the auth file holds only a SCRAM verifier for this user; a server "
		       "asking for md5 needs the plain password or its md5 hash there";
		return -1;
	}
	return 0;
}
