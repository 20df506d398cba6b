/*
 * crypto.h - the cryptography and encodings that pg/authfile.c,
 * pg/password.c and pg/scram.c share: random bytes, SHA-256, HMAC, md5
 * hash strings, the SCRAM key derivation of RFC 5802, strict base64 and
 * the decimal counts of SCRAM messages and verifiers.
 *
 * Private to those three files: the rest of nodown uses their headers.
 * A failure of OpenSSL on valid input is a BUG; one to allocate or to
 * produce random bytes is fatal (nd_die).
 */
#ifndef ND_PG_CRYPTO_H
#define ND_PG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authfile.h"

/* Bytes p[0, len) inside a message. */
struct val {
	const char *p;
	size_t len;
};

void pg_random_bytes(uint8_t *buf, size_t n);

void pg_sha256(const void *p, size_t n, uint8_t out[PG_SCRAM_KEY_LEN]);

void pg_hmac256(const uint8_t *key, size_t keylen, const void *p, size_t n,
		uint8_t out[PG_SCRAM_KEY_LEN]);

/* "md5" + hex(md5(a || b)) */
void pg_md5_string(const void *a, size_t an, const void *b, size_t bn,
		   char out[PG_MD5_LEN + 1]);

/* RFC 5802: SaltedPassword := Hi(password, salt, i), i.e. PBKDF2-HMAC-SHA-256. */
void pg_scram_salted(const char *password, const uint8_t *salt, size_t salt_len,
		     int iterations, uint8_t out[PG_SCRAM_KEY_LEN]);

/* ClientKey, StoredKey and ServerKey from SaltedPassword. */
void pg_scram_keys_from(const uint8_t salted[PG_SCRAM_KEY_LEN],
			uint8_t client_key[PG_SCRAM_KEY_LEN], struct pg_scram_keys *k);

/* All of *k from a password, a salt and an iteration count, within the
 * bounds of struct pg_scram_keys (BUG otherwise). */
void pg_scram_derive(const char *password, const uint8_t *salt, size_t salt_len,
		     int iterations, struct pg_scram_keys *k);

/* Writes 4 * ceil(n / 3) characters and a NUL; returns their count. */
int pg_b64_encode(const uint8_t *p, size_t n, char *out);

/*
 * Decode v into out[0, cap): padded, canonical (unused bits zero), no
 * whitespace. Returns the length decoded, or -1.
 */
int pg_b64_decode(struct val v, uint8_t *out, size_t cap);

/* A positive decimal without leading zeros, at most max. */
bool pg_parse_count(struct val v, int max, int *out);

#endif
