/*
 * crypto.c - the cryptography and encodings of PostgreSQL authentication,
 * shared by pg/authfile.c, pg/password.c and pg/scram.c.
 *
 * Owns: no state and no secret: callers own every buffer.
 * Invariants: the intermediate keys of a derivation (SaltedPassword,
 *             ClientKey) are wiped before pg_scram_derive returns; nothing
 *             is read outside the (pointer, length) it was given. Secrets
 *             are compared by the callers, always constant-time
 *             (CRYPTO_memcmp).
 * Runs on: any thread.
 *
 * The crypto is OpenSSL's (digests, HMAC, PBKDF2, RAND_bytes). Base64 is
 * decoded here because OpenSSL's decoder skips whitespace and leaves the
 * padding in its count; ours takes only canonical, padded RFC 4648.
 */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* ---- digests and randomness ----------------------------------------------- */

void pg_random_bytes(uint8_t *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1)
		nd_die("OpenSSL could not produce %zu random bytes", n);
}

/* out = md(a || b) */
static void digest(const EVP_MD *md, const void *a, size_t an, const void *b, size_t bn,
		   uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		nd_die("out of memory for a digest");
	BUG_ON(!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, a, an) ||
	       !EVP_DigestUpdate(ctx, b, bn) || !EVP_DigestFinal_ex(ctx, out, NULL));
	EVP_MD_CTX_free(ctx);
}

void pg_sha256(const void *p, size_t n, uint8_t out[PG_SCRAM_KEY_LEN])
{
	digest(EVP_sha256(), p, n, "", 0, out);
}

void pg_hmac256(const uint8_t *key, size_t keylen, const void *p, size_t n,
		uint8_t out[PG_SCRAM_KEY_LEN])
{
	BUG_ON(!HMAC(EVP_sha256(), key, (int)keylen, p, n, out, NULL));
}

void pg_md5_string(const void *a, size_t an, const void *b, size_t bn,
		   char out[PG_MD5_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[16];

	digest(EVP_md5(), a, an, b, bn, h);
	memcpy(out, "md5", 3);
	for (int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[h[i] >> 4];
		out[4 + 2 * i] = hex[h[i] & 15];
	}
	out[PG_MD5_LEN] = '\0';
}

/* ---- SCRAM keys (RFC 5802) ------------------------------------------------ */

void pg_scram_salted(const char *password, const uint8_t *salt, size_t salt_len,
		     int iterations, uint8_t out[PG_SCRAM_KEY_LEN])
{
	BUG_ON(!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
				  iterations, EVP_sha256(), PG_SCRAM_KEY_LEN, out));
}

void pg_scram_keys_from(const uint8_t salted[PG_SCRAM_KEY_LEN],
			uint8_t client_key[PG_SCRAM_KEY_LEN], struct pg_scram_keys *k)
{
	pg_hmac256(salted, PG_SCRAM_KEY_LEN, "Client Key", 10, client_key);
	pg_sha256(client_key, PG_SCRAM_KEY_LEN, k->stored_key);
	pg_hmac256(salted, PG_SCRAM_KEY_LEN, "Server Key", 10, k->server_key);
}

void pg_scram_derive(const char *password, const uint8_t *salt, size_t salt_len,
		     int iterations, struct pg_scram_keys *k)
{
	uint8_t salted[PG_SCRAM_KEY_LEN], client_key[PG_SCRAM_KEY_LEN];

	BUG_ON(salt_len < 1 || salt_len > PG_SCRAM_SALT_MAX);
	BUG_ON(iterations < 1 || iterations > PG_SCRAM_ITER_MAX);
	k->iterations = iterations;
	k->salt_len = salt_len;
	memcpy(k->salt, salt, salt_len);
	pg_scram_salted(password, salt, salt_len, iterations, salted);
	pg_scram_keys_from(salted, client_key, k);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
}

/* ---- encodings ------------------------------------------------------------ */

int pg_b64_encode(const uint8_t *p, size_t n, char *out)
{
	return EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

static int b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int pg_b64_decode(struct val v, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (v.len % 4)
		return -1;
	for (size_t i = 0; i < v.len; i += 4) {
		const char *q = v.p + i;
		int pad = 0, bytes;
		uint32_t w = 0;

		if (i + 4 == v.len && q[3] == '=')
			pad = q[2] == '=' ? 2 : 1;
		for (int k = 0; k < 4; k++) {
			int d = k < 4 - pad ? b64_digit(q[k]) : 0;

			if (d < 0)
				return -1;
			w = w << 6 | (uint32_t)d;
		}
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		bytes = 3 - pad;
		if (n + (size_t)bytes > cap)
			return -1;
		out[n++] = (uint8_t)(w >> 16);
		if (bytes > 1)
			out[n++] = (uint8_t)(w >> 8);
		if (bytes > 2)
			out[n++] = (uint8_t)w;
	}
	return (int)n;
}

bool pg_parse_count(struct val v, int max, int *out)
{
	long x = 0;

	if (v.len == 0 || v.p[0] == '0')
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		x = x * 10 + (v.p[i] - '0');
		if (x > max)
			return false;
	}
	*out = (int)x;
	return true;
}
