/*
 * scram.c - SCRAM-SHA-256 (RFC 5802, RFC 7677): the exchange as the server
 * (and its mock for users with no usable secret) and as the client.
 *
 * Owns: the exchange states (struct pg_scram_server, pg_scram_client) and
 *       the process's secret behind the mock keys.
 * Invariants: every secret comparison is constant-time (CRYPTO_memcmp);
 *             a SCRAM state moves INIT -> FIRST (-> FINAL) -> DONE or to
 *             FAILED, and a step called out of turn is a BUG; nothing is
 *             read outside the (pointer, length) it was given; the client's
 *             copy of the password is wiped once the proof is made.
 * Runs on: any thread, each state on one; the mock secret is made once.
 */
#include "scram.h"

#include <pthread.h>
#include <stdbool.h>

#include <openssl/crypto.h>

#include "crypto.h"

#define RAW_NONCE_LEN	18		/* random bytes in our nonces, as PostgreSQL */

enum { SCRAM_INIT, SCRAM_FIRST, SCRAM_FINAL, SCRAM_DONE, SCRAM_FAILED };

/* ---- SCRAM messages -------------------------------------------------------- */

/* A message being read attribute by attribute ("a=value,b=value"). */
struct msg {
	const char *p, *end;
	bool more;		/* at the start or after a ',': an attribute must follow */
};

/* Refuse what no step takes: NUL bytes, and PG_SCRAM_MSG_MAX bytes or more. */
static int msg_check(const char *in, size_t n, const char **why)
{
	if (n >= PG_SCRAM_MSG_MAX) {
		*why = "SCRAM message too long";
		return -1;
	}
	if (memchr(in, '\0', n)) {
		*why = "NUL byte in SCRAM message";
		return -1;
	}
	return 0;
}

static struct msg msg_of(const char *p, size_t n)
{
	return (struct msg){ p, p + n, true };
}

/* Read the next attribute: a letter, '=', and a value up to the next ','
 * (consumed) or the end. False if there is none or it is malformed. */
static bool msg_next(struct msg *m, char *attr, struct val *v)
{
	const char *p = m->p, *comma;

	if (!m->more || m->end - p < 2 || p[1] != '=' ||
	    !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
		return false;
	comma = memchr(p + 2, ',', (size_t)(m->end - p - 2));
	*attr = p[0];
	*v = (struct val){ p + 2, (size_t)((comma ? comma : m->end) - p - 2) };
	m->more = comma != NULL;
	m->p = comma ? comma + 1 : m->end;
	return true;
}

/* Read the next attribute, which must be attr. */
static bool msg_want(struct msg *m, char attr, struct val *v)
{
	char a;

	return msg_next(m, &a, v) && a == attr;
}

/* Skip the optional extensions that may end a message. */
static bool msg_skip_rest(struct msg *m)
{
	struct val v;
	char a;

	while (m->more)
		if (!msg_next(m, &a, &v))
			return false;
	return true;
}

static bool val_is(struct val v, const char *s)
{
	return v.len == strlen(s) && !memcmp(v.p, s, v.len);
}

/* RFC 5802 printable: %x21-2B / %x2D-7E. */
static bool val_printable(struct val v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.p[i] < 0x21 || v.p[i] > 0x7e || v.p[i] == ',')
			return false;
	return true;
}

static void random_nonce(char out[PG_SCRAM_NONCE_MAX + 1])
{
	uint8_t raw[RAW_NONCE_LEN];

	pg_random_bytes(raw, sizeof(raw));
	pg_b64_encode(raw, sizeof(raw), out);
}

static void auth_add(char *auth, size_t *len, const char *p, size_t n)
{
	BUG_ON(*len + n > 3 * PG_SCRAM_MSG_MAX);
	memcpy(auth + *len, p, n);
	*len += n;
}

/* ---- SCRAM server ---------------------------------------------------------- */

/* A secret of this process, for mock SCRAM keys. */
static uint8_t mock_secret[32];

static void mock_secret_once(void)
{
	pg_random_bytes(mock_secret, sizeof(mock_secret));
}

void pg_scram_server_mock(struct pg_scram_server *s, const char *user)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint8_t h[PG_SCRAM_KEY_LEN];
	char label[PG_AUTH_USER_MAX + 16];
	int n;

	pthread_once(&once, mock_secret_once);
	memset(s, 0, sizeof(*s));
	/* The same salt every time for a name, as a real user's would be; keys
	 * no password matches. */
	n = snprintf(label, sizeof(label), "salt:%s", user);
	pg_hmac256(mock_secret, sizeof(mock_secret), label, (size_t)n, h);
	s->keys.iterations = PG_SCRAM_ITER_DEFAULT;
	s->keys.salt_len = 16;
	memcpy(s->keys.salt, h, 16);
	n = snprintf(label, sizeof(label), "keys:%s", user);
	pg_hmac256(mock_secret, sizeof(mock_secret), label, (size_t)n, s->keys.stored_key);
	pg_hmac256(mock_secret, sizeof(mock_secret), s->keys.stored_key, PG_SCRAM_KEY_LEN,
		s->keys.server_key);
	random_nonce(s->snonce);
}

int pg_scram_server_init(struct pg_scram_server *s, const struct pg_user *u, const char **why)
{
	memset(s, 0, sizeof(*s));
	if (u->kind == PG_SECRET_MD5) {
		s->step = SCRAM_FAILED;
		*why = "the auth file holds an md5 hash for this user, which cannot run "
		       "SCRAM; give the plain password or a SCRAM verifier";
		return -1;
	}
	s->keys = u->scram;
	random_nonce(s->snonce);
	return 0;
}

/* Read the gs2 header and client-first-message-bare; *bare is set to the latter. */
static int read_client_first(struct pg_scram_server *s, const char *in, size_t n,
			     struct val *bare, struct val *cnonce, const char **why)
{
	struct msg m;
	struct val v;

	if (msg_check(in, n, why))
		return -1;
	if (n && in[0] == 'p') {
		*why = "client requires channel binding (SCRAM-SHA-256-PLUS), which is not offered";
		return -1;
	}
	if (n < 3 || (in[0] != 'n' && in[0] != 'y') || in[1] != ',' || in[2] != ',') {
		*why = n >= 3 && in[2] == 'a' ? "client sent an authorization identity (a=), "
						"which is not supported" :
		       "malformed client-first-message: expected n,, or y,,";
		return -1;
	}
	s->cbind = in[0];
	*bare = (struct val){ in + 3, n - 3 };
	m = msg_of(bare->p, bare->len);
	if (bare->len >= 2 && !memcmp(bare->p, "m=", 2)) {
		*why = "client requires a SCRAM extension (m=), which is not supported";
		return -1;
	}
	if (!msg_want(&m, 'n', &v) || !msg_want(&m, 'r', cnonce)) {
		*why = "malformed client-first-message: expected n= and r=";
		return -1;
	}
	if (!cnonce->len || cnonce->len > PG_SCRAM_NONCE_MAX || !val_printable(*cnonce)) {
		*why = "client nonce is empty, too long or not printable";
		return -1;
	}
	if (!msg_skip_rest(&m)) {
		*why = "malformed attribute in client-first-message";
		return -1;
	}
	return 0;
}

int pg_scram_server_first(struct pg_scram_server *s, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why)
{
	char salt64[4 * PG_SCRAM_SALT_MAX / 3 + 4];
	struct val bare, cnonce;
	int len;

	BUG_ON(s->step != SCRAM_INIT);
	s->step = SCRAM_FAILED;
	if (read_client_first(s, in, n, &bare, &cnonce, why))
		return -1;
	len = snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)cnonce.len, cnonce.p, s->snonce);
	BUG_ON(len < 0 || (size_t)len >= sizeof(s->nonce));
	pg_b64_encode(s->keys.salt, s->keys.salt_len, salt64);
	len = snprintf(out, PG_SCRAM_MSG_MAX, "r=%s,s=%s,i=%d", s->nonce, salt64, s->keys.iterations);
	BUG_ON(len < 0 || len >= PG_SCRAM_MSG_MAX);
	auth_add(s->auth, &s->auth_len, bare.p, bare.len);
	auth_add(s->auth, &s->auth_len, ",", 1);
	auth_add(s->auth, &s->auth_len, out, (size_t)len);
	s->step = SCRAM_FIRST;
	return len;
}

/* Read client-final-message: check binding and nonce, take the proof and
 * add the message without it to the AuthMessage. */
static int read_client_final(struct pg_scram_server *s, const char *in, size_t n,
			     uint8_t proof[PG_SCRAM_KEY_LEN], const char **why)
{
	struct msg m;
	struct val v;
	char a;

	if (msg_check(in, n, why))
		return -1;
	m = msg_of(in, n);
	if (!msg_want(&m, 'c', &v)) {
		*why = "malformed client-final-message: expected c=";
		return -1;
	}
	if (!val_is(v, s->cbind == 'y' ? "eSws" : "biws")) {
		*why = "channel binding (c=) does not match the client-first-message";
		return -1;
	}
	if (!msg_want(&m, 'r', &v) || !val_is(v, s->nonce)) {
		*why = "nonce (r=) missing or not the one agreed";
		return -1;
	}
	do {
		if (!msg_next(&m, &a, &v)) {
			*why = "malformed client-final-message: expected p=";
			return -1;
		}
	} while (a != 'p');
	if (m.more || pg_b64_decode(v, proof, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN) {
		*why = "proof (p=) malformed or not last in client-final-message";
		return -1;
	}
	auth_add(s->auth, &s->auth_len, ",", 1);
	auth_add(s->auth, &s->auth_len, in, (size_t)(v.p - 3 - in));	/* up to ",p=" */
	return 0;
}

int pg_scram_server_final(struct pg_scram_server *s, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why)
{
	uint8_t proof[PG_SCRAM_KEY_LEN], sig[PG_SCRAM_KEY_LEN], stored[PG_SCRAM_KEY_LEN];

	BUG_ON(s->step != SCRAM_FIRST);
	s->step = SCRAM_FAILED;
	if (read_client_final(s, in, n, proof, why))
		return -1;
	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must be StoredKey. */
	pg_hmac256(s->keys.stored_key, PG_SCRAM_KEY_LEN, s->auth, s->auth_len, sig);
	for (int i = 0; i < PG_SCRAM_KEY_LEN; i++)
		proof[i] ^= sig[i];
	pg_sha256(proof, PG_SCRAM_KEY_LEN, stored);
	if (CRYPTO_memcmp(stored, s->keys.stored_key, PG_SCRAM_KEY_LEN)) {
		*why = "wrong password (SCRAM proof does not match)";
		return -1;
	}
	pg_hmac256(s->keys.server_key, PG_SCRAM_KEY_LEN, s->auth, s->auth_len, sig);
	memcpy(out, "v=", 2);
	s->step = SCRAM_DONE;
	return 2 + pg_b64_encode(sig, PG_SCRAM_KEY_LEN, out + 2);
}

/* ---- SCRAM client ---------------------------------------------------------- */

int pg_scram_client_init(struct pg_scram_client *c, const struct pg_user *u, const char **why)
{
	memset(c, 0, sizeof(*c));
	if (!u->password) {
		c->step = SCRAM_FAILED;
		*why = "the auth file holds only a hash of this user's password; logging "
		       "into a server that asks for SCRAM needs the plain password there "
		       "(or trust on the server)";
		return -1;
	}
	BUG_ON(strlen(u->password) > PG_AUTH_SECRET_MAX);
	memcpy(c->password, u->password, strlen(u->password) + 1);
	random_nonce(c->nonce);
	c->name = "";
	c->max_iterations = PG_SCRAM_ITER_MAX;
	return 0;
}

int pg_scram_client_first(struct pg_scram_client *c, char out[PG_SCRAM_MSG_MAX])
{
	int len;

	BUG_ON(c->step != SCRAM_INIT);
	len = snprintf(out, PG_SCRAM_MSG_MAX, "n,,n=%s,r=%s", c->name, c->nonce);
	BUG_ON(len < 0 || len >= PG_SCRAM_MSG_MAX);
	auth_add(c->auth, &c->auth_len, out + 3, (size_t)len - 3);
	c->step = SCRAM_FIRST;
	return len;
}

/*
 * Read server-first-message (nonce, salt, iteration count), write the
 * client-final-message without its proof to out and add both messages to
 * the AuthMessage. Returns the length written, or -1 with *why.
 */
static int read_server_first(struct pg_scram_client *c, const char *in, size_t n,
			     char out[PG_SCRAM_MSG_MAX], uint8_t salt[PG_SCRAM_SALT_MAX],
			     int *salt_len, int *iterations, const char **why)
{
	size_t ours = strlen(c->nonce);
	struct val nonce, v;
	struct msg m;
	int len;

	if (msg_check(in, n, why))
		return -1;
	m = msg_of(in, n);
	if (n >= 2 && !memcmp(in, "m=", 2)) {
		*why = "server requires a SCRAM extension (m=), which is not supported";
		return -1;
	}
	if (!msg_want(&m, 'r', &nonce) || nonce.len <= ours || memcmp(nonce.p, c->nonce, ours) ||
	    !val_printable(nonce)) {
		*why = "server nonce (r=) missing, not printable or not extending ours";
		return -1;
	}
	if (!msg_want(&m, 's', &v) || (*salt_len = pg_b64_decode(v, salt, PG_SCRAM_SALT_MAX)) < 1) {
		*why = "server salt (s=) missing or not base64 of 1 to 64 bytes";
		return -1;
	}
	if (!msg_want(&m, 'i', &v) || !pg_parse_count(v, c->max_iterations, iterations)) {
		*why = "server iteration count (i=) missing or out of range";
		return -1;
	}
	if (!msg_skip_rest(&m)) {
		*why = "malformed attribute in server-first-message";
		return -1;
	}
	len = snprintf(out, PG_SCRAM_MSG_MAX, "c=biws,r=%.*s", (int)nonce.len, nonce.p);
	if (len < 0 || len + 3 + 44 >= PG_SCRAM_MSG_MAX) {	/* ",p=" and the proof */
		*why = "server nonce (r=) too long";
		return -1;
	}
	auth_add(c->auth, &c->auth_len, ",", 1);
	auth_add(c->auth, &c->auth_len, in, n);
	auth_add(c->auth, &c->auth_len, ",", 1);
	auth_add(c->auth, &c->auth_len, out, (size_t)len);
	return len;
}

int pg_scram_client_final(struct pg_scram_client *c, const char *in, size_t n,
			  char out[PG_SCRAM_MSG_MAX], const char **why)
{
	uint8_t salt[PG_SCRAM_SALT_MAX], salted[PG_SCRAM_KEY_LEN], proof[PG_SCRAM_KEY_LEN];
	uint8_t sig[PG_SCRAM_KEY_LEN];
	struct pg_scram_keys k;
	int salt_len, iterations, len;

	BUG_ON(c->step != SCRAM_FIRST);
	c->step = SCRAM_FAILED;
	len = read_server_first(c, in, n, out, salt, &salt_len, &iterations, why);
	if (len >= 0) {
		/* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) */
		pg_scram_salted(c->password, salt, (size_t)salt_len, iterations, salted);
		pg_scram_keys_from(salted, proof, &k);
		pg_hmac256(k.stored_key, PG_SCRAM_KEY_LEN, c->auth, c->auth_len, sig);
		for (int i = 0; i < PG_SCRAM_KEY_LEN; i++)
			proof[i] ^= sig[i];
		pg_hmac256(k.server_key, PG_SCRAM_KEY_LEN, c->auth, c->auth_len,
			   c->server_signature);
		memcpy(out + len, ",p=", 3);
		len += 3 + pg_b64_encode(proof, PG_SCRAM_KEY_LEN, out + len + 3);
		OPENSSL_cleanse(salted, sizeof(salted));
		OPENSSL_cleanse(&k, sizeof(k));
		c->step = SCRAM_FINAL;
	}
	OPENSSL_cleanse(c->password, sizeof(c->password));
	return len;
}

int pg_scram_client_verify(struct pg_scram_client *c, const char *in, size_t n, const char **why)
{
	uint8_t sig[PG_SCRAM_KEY_LEN];
	struct msg m;
	struct val v;
	char a;

	BUG_ON(c->step != SCRAM_FINAL);
	c->step = SCRAM_FAILED;
	if (msg_check(in, n, why))
		return -1;
	m = msg_of(in, n);
	if (!msg_next(&m, &a, &v) || (a != 'e' && a != 'v')) {
		*why = "malformed server-final-message: expected v= or e=";
		return -1;
	}
	if (a == 'e') {
		size_t off = (size_t)snprintf(c->error, sizeof(c->error), "server refused the SCRAM login: ");

		for (size_t i = 0; i < v.len && off + 1 < sizeof(c->error); i++)
			c->error[off++] = v.p[i] >= 0x20 && v.p[i] <= 0x7e ? v.p[i] : '?';
		c->error[off] = '\0';
		*why = c->error;
		return -1;
	}
	if (pg_b64_decode(v, sig, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN || !msg_skip_rest(&m)) {
		*why = "malformed server-final-message";
		return -1;
	}
	if (CRYPTO_memcmp(sig, c->server_signature, PG_SCRAM_KEY_LEN)) {
		*why = "server signature does not match: the server does not know the password";
		return -1;
	}
	c->step = SCRAM_DONE;
	return 0;
}
