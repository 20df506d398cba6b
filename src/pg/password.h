/*
 * password.h - PostgreSQL's password methods, md5 and cleartext, at both
 * ends of the proxy: nodown checking a client's PasswordMessage against
 * the auth file, and nodown answering a server that asks for a password.
 * SCRAM-SHA-256 is in pg/scram.h.
 *
 * Pure functions over the password payloads: framing them in
 * PasswordMessage is pg/wire's job, and nothing here touches a socket or a
 * loop. Any thread may call anything here.
 *
 * Every "why" is a short reason for the log, never for the client: a
 * client that fails gets PostgreSQL's usual "password authentication
 * failed" and nothing more.
 */
#ifndef ND_PG_PASSWORD_H
#define ND_PG_PASSWORD_H

#include <stdint.h>

#include "../core/common.h"
#include "authfile.h"

#define PG_MD5_SALT_LEN		4

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

#endif
