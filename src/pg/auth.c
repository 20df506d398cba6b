/*
 * auth.c - PostgreSQL password authentication: the auth file, md5,
 * cleartext and SCRAM-SHA-256 as server and as client.
 *
 * Owns: parsing and checking every authentication payload, and the
 *       secrets they are checked against.
 * Invariants: every secret comparison is constant-time (CRYPTO_memcmp);
 *             a SCRAM state moves INIT -> FIRST (-> FINAL) -> DONE or to
 *             FAILED, and a step called out of turn is a BUG; nothing is
 *             read outside the (pointer, length) it was given.
 * Runs on: any thread; a struct pg_authfile is read-only once parsed.
 *
 * The crypto is OpenSSL's (digests, HMAC, PBKDF2, RAND_bytes). Base64 is
 * decoded here because OpenSSL's decoder skips whitespace and leaves the
 * padding in its count; ours takes only canonical, padded RFC 4648.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#define AUTHFILE_MAX	(64u << 20)	/* bytes: a bigger auth file is a mistake */
#define PLAIN_SALT_LEN	16		/* salt of the keys derived from a plain password */
#define RAW_NONCE_LEN	18		/* random bytes in our nonces, as PostgreSQL */
#define SCRAM_PREFIX	"SCRAM-SHA-256$"

enum { SCRAM_INIT, SCRAM_FIRST, SCRAM_FINAL, SCRAM_DONE, SCRAM_FAILED };

/* Bytes p[0, len) inside a message. */
struct val {
	const char *p;
	size_t len;
};

/* ---- crypto and encodings ------------------------------------------------- */

static void random_bytes(uint8_t *buf, size_t n)
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

static void sha256(const void *p, size_t n, uint8_t out[PG_SCRAM_KEY_LEN])
{
	digest(EVP_sha256(), p, n, "", 0, out);
}

static void hmac256(const uint8_t *key, size_t keylen, const void *p, size_t n,
		    uint8_t out[PG_SCRAM_KEY_LEN])
{
	BUG_ON(!HMAC(EVP_sha256(), key, (int)keylen, p, n, out, NULL));
}

/* "md5" + hex(md5(a || b)) */
static void md5_string(const void *a, size_t an, const void *b, size_t bn,
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

/* Writes 4 * ceil(n / 3) characters and a NUL; returns their count. */
static int b64_encode(const uint8_t *p, size_t n, char *out)
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

/*
 * Decode v into out[0, cap): padded, canonical (unused bits zero), no
 * whitespace. Returns the length decoded, or -1.
 */
static int b64_decode(struct val v, uint8_t *out, size_t cap)
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

/* RFC 5802: SaltedPassword := Hi(password, salt, i), i.e. PBKDF2-HMAC-SHA-256. */
static void scram_salted(const char *password, const uint8_t *salt, size_t salt_len,
			 int iterations, uint8_t out[PG_SCRAM_KEY_LEN])
{
	BUG_ON(!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
				  iterations, EVP_sha256(), PG_SCRAM_KEY_LEN, out));
}

/* ClientKey, StoredKey and ServerKey from SaltedPassword. */
static void scram_keys(const uint8_t salted[PG_SCRAM_KEY_LEN], uint8_t client_key[PG_SCRAM_KEY_LEN],
		       struct pg_scram_keys *k)
{
	hmac256(salted, PG_SCRAM_KEY_LEN, "Client Key", 10, client_key);
	sha256(client_key, PG_SCRAM_KEY_LEN, k->stored_key);
	hmac256(salted, PG_SCRAM_KEY_LEN, "Server Key", 10, k->server_key);
}

static void scram_derive(const char *password, const uint8_t *salt, size_t salt_len,
			 int iterations, struct pg_scram_keys *k)
{
	uint8_t salted[PG_SCRAM_KEY_LEN], client_key[PG_SCRAM_KEY_LEN];

	BUG_ON(salt_len < 1 || salt_len > PG_SCRAM_SALT_MAX);
	BUG_ON(iterations < 1 || iterations > PG_SCRAM_ITER_MAX);
	k->iterations = iterations;
	k->salt_len = salt_len;
	memcpy(k->salt, salt, salt_len);
	scram_salted(password, salt, salt_len, iterations, salted);
	scram_keys(salted, client_key, k);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
}

/* A positive decimal without leading zeros, at most max. */
static bool parse_count(struct val v, int max, int *out)
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

/* ---- secrets and the auth file -------------------------------------------- */

int pg_scram_verifier(const char *password, const uint8_t *salt, size_t salt_len,
		      int iterations, char out[PG_SCRAM_VERIFIER_MAX])
{
	char salt64[4 * PG_SCRAM_SALT_MAX / 3 + 4], stored64[48], server64[48];
	struct pg_scram_keys k;
	int n;

	scram_derive(password, salt, salt_len, iterations, &k);
	b64_encode(k.salt, k.salt_len, salt64);
	b64_encode(k.stored_key, PG_SCRAM_KEY_LEN, stored64);
	b64_encode(k.server_key, PG_SCRAM_KEY_LEN, server64);
	n = snprintf(out, PG_SCRAM_VERIFIER_MAX, SCRAM_PREFIX "%d:%s$%s:%s", iterations,
		     salt64, stored64, server64);
	BUG_ON(n < 0 || n >= PG_SCRAM_VERIFIER_MAX);
	return n;
}

/* Parse s[0, n), which starts with SCRAM_PREFIX. Returns NULL or what is wrong. */
static const char *parse_verifier(const char *s, size_t n, struct pg_scram_keys *k)
{
	const char *end = s + n, *p = s + strlen(SCRAM_PREFIX);
	const char *colon1 = memchr(p, ':', (size_t)(end - p));
	const char *dollar = colon1 ? memchr(colon1, '$', (size_t)(end - colon1)) : NULL;
	const char *colon2 = dollar ? memchr(dollar, ':', (size_t)(end - dollar)) : NULL;
	struct val iter, salt, stored, server;
	int len;

	if (!colon2)
		return "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
	iter = (struct val){ p, (size_t)(colon1 - p) };
	salt = (struct val){ colon1 + 1, (size_t)(dollar - colon1 - 1) };
	stored = (struct val){ dollar + 1, (size_t)(colon2 - dollar - 1) };
	server = (struct val){ colon2 + 1, (size_t)(end - colon2 - 1) };
	if (!parse_count(iter, PG_SCRAM_ITER_MAX, &k->iterations))
		return "the iteration count is not a number in 1..1000000";
	len = b64_decode(salt, k->salt, PG_SCRAM_SALT_MAX);
	if (len < 1)
		return "the salt is not base64 of 1 to 64 bytes";
	k->salt_len = (size_t)len;
	if (b64_decode(stored, k->stored_key, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN)
		return "the StoredKey is not base64 of 32 bytes";
	if (b64_decode(server, k->server_key, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN)
		return "the ServerKey is not base64 of 32 bytes";
	return NULL;
}

/* PostgreSQL's test for an md5 hash: "md5" and 32 lower-case hex digits. */
static bool is_md5_hash(const char *s, size_t n)
{
	return n == PG_MD5_LEN && !memcmp(s, "md5", 3) &&
	       strspn(s + 3, "0123456789abcdef") == PG_MD5_LEN - 3;
}

/* Fill u from a secret; returns NULL or what is wrong with the secret. */
static const char *user_set_secret(struct pg_user *u, const char *secret, size_t n,
				   int iterations)
{
	uint8_t salt[PLAIN_SALT_LEN];

	if (is_md5_hash(secret, n)) {
		u->kind = PG_SECRET_MD5;
		memcpy(u->md5, secret, PG_MD5_LEN + 1);
		return NULL;
	}
	if (n >= strlen(SCRAM_PREFIX) && !memcmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX))) {
		u->kind = PG_SECRET_SCRAM;
		return parse_verifier(secret, n, &u->scram);
	}
	u->kind = PG_SECRET_PLAIN;
	u->password = xstrndup(secret, n);
	md5_string(secret, n, u->name, strlen(u->name), u->md5);
	random_bytes(salt, sizeof(salt));
	scram_derive(u->password, salt, sizeof(salt), iterations, &u->scram);
	return NULL;
}

struct afparse {
	const char *file;
	struct errlist *errs;
	int iterations;
	int line;
	const char *start;		/* of the line, for columns */
	struct pg_user *users;		/* growing array */
	int n, cap;
};

#define AF_ERR(ap, at, ...) \
	errlist_add((ap)->errs, (ap)->file, (ap)->line, (int)((at) - (ap)->start) + 1, __VA_ARGS__)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/*
 * Read the field whose opening quote is at *pp, "" standing for a quote,
 * into out[0, cap) with a NUL. Moves *pp past the closing quote and returns
 * the field's length; -1 when the line ends first; -2 when it has more than
 * cap - 1 bytes.
 */
static int read_quoted(const char **pp, const char *end, char *out, size_t cap)
{
	const char *p = *pp + 1;
	size_t n = 0;
	bool fits = true;

	for (;; p++) {
		if (p == end)
			return -1;
		if (*p == '"') {
			if (p + 1 == end || p[1] != '"')
				break;
			p++;
		}
		if (n + 1 < cap)
			out[n++] = *p;
		else
			fits = false;
	}
	out[n] = '\0';
	*pp = p + 1;
	return fits ? (int)n : -2;
}

static void add_user(struct afparse *ap, const char *name, const char *secret, size_t n,
		     const char *at)
{
	struct pg_user *u;
	const char *bad;

	if (ap->n == ap->cap) {
		ap->cap = ap->cap ? 2 * ap->cap : 16;
		ap->users = xrealloc(ap->users, (size_t)ap->cap * sizeof(*ap->users));
	}
	u = &ap->users[ap->n++];
	*u = (struct pg_user){ .name = xstrdup(name), .line = ap->line };
	bad = user_set_secret(u, secret, n, ap->iterations);
	if (bad)
		AF_ERR(ap, at, "bad SCRAM verifier for user \"%s\": %s", name, bad);
}

/* One line, p[0, end) without its newline. */
static void parse_line(struct afparse *ap, const char *p, const char *end)
{
	char name[PG_AUTH_USER_MAX + 1], secret[PG_AUTH_SECRET_MAX + 1];
	const char *nul = memchr(p, '\0', (size_t)(end - p)), *q;
	int len;

	ap->start = p;
	if (end - p > PG_AUTH_LINE_MAX) {
		AF_ERR(ap, p, "line is longer than %d bytes", PG_AUTH_LINE_MAX);
		return;
	}
	if (nul) {
		AF_ERR(ap, nul, "NUL byte in the line");
		return;
	}
	p = skip_blanks(p, end);
	if (p == end || *p == ';' || *p == '#')
		return;
	if (*p != '"') {
		AF_ERR(ap, p, "expected a quoted user name, a comment (; or #) or a blank line");
		return;
	}
	q = p;
	len = read_quoted(&p, end, name, sizeof(name));
	if (len == -1)
		AF_ERR(ap, q, "unterminated quote in the user name");
	else if (len == -2)
		AF_ERR(ap, q, "user name is longer than %d bytes", PG_AUTH_USER_MAX);
	else if (len == 0)
		AF_ERR(ap, q, "empty user name");
	if (len < 1)
		return;
	if (p < end && !is_blank(*p)) {
		AF_ERR(ap, p, "expected a blank after the user name");
		return;
	}
	p = skip_blanks(p, end);
	if (p == end || *p != '"') {
		AF_ERR(ap, p, p == end ? "missing secret for user \"%s\"" :
			      "expected the quoted secret for user \"%s\"", name);
		return;
	}
	q = p;
	len = read_quoted(&p, end, secret, sizeof(secret));
	if (len == -1)
		AF_ERR(ap, q, "unterminated quote in the secret for user \"%s\"", name);
	else if (len == -2)
		AF_ERR(ap, q, "secret for user \"%s\" is longer than %d bytes", name, PG_AUTH_SECRET_MAX);
	else if (len == 0)
		AF_ERR(ap, q, "empty secret for user \"%s\"", name);
	else if (skip_blanks(p, end) != end)
		AF_ERR(ap, skip_blanks(p, end), "unexpected text after the secret");
	else
		add_user(ap, name, secret, (size_t)len, q);
	OPENSSL_cleanse(secret, sizeof(secret));
}

static int user_cmp(const void *a, const void *b)
{
	const struct pg_user *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->line - y->line;
}

static void users_free(struct pg_user *users, int n)
{
	for (int i = 0; i < n; i++) {
		free(users[i].name);
		if (users[i].password)
			OPENSSL_cleanse(users[i].password, strlen(users[i].password));
		free(users[i].password);
	}
	free(users);
}

int pg_authfile_parse(const char *name, const char *text, size_t len, int iterations,
		      struct pg_authfile **out, struct errlist *errs)
{
	struct afparse ap = { .file = name, .errs = errs, .iterations = iterations };
	const char *p = text, *end = text + len;
	int nerr = errs->n;

	BUG_ON(iterations < 1 || iterations > PG_SCRAM_ITER_MAX);
	*out = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		ap.line++;
		parse_line(&ap, p, nl ? nl : end);
		p = nl ? nl + 1 : end;
	}
	if (ap.n)
		qsort(ap.users, (size_t)ap.n, sizeof(*ap.users), user_cmp);
	for (int i = 1, first = 0; i < ap.n; i++) {	/* equal names sit together, first line first */
		if (strcmp(ap.users[i].name, ap.users[first].name))
			first = i;
		else
			errlist_add(errs, name, ap.users[i].line, 1,
				    "duplicate user \"%s\" (first defined on line %d)",
				    ap.users[i].name, ap.users[first].line);
	}
	if (errs->n > nerr) {
		users_free(ap.users, ap.n);
		return -EINVAL;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->users = ap.users;
	(*out)->nusers = ap.n;
	return 0;
}

/* The file holds passwords: any access by others, or writes by the group,
 * refuse it (PgBouncer's packaging installs userlist.txt 0640 at most). */
static bool authfile_mode_refused(const char *path, int fd, struct errlist *errs)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & (S_IRWXO | S_IWGRP)))
		return false;
	errlist_add(errs, path, 0, 0, "auth file holds passwords but can be %s (mode %04o); make it "
		    "private: chmod 0600 %s (0640 to share it with a group)",
		    st.st_mode & S_IRWXO ? "read or written by any user" : "written by its group",
		    (unsigned)(st.st_mode & 07777), path);
	return true;
}

int pg_authfile_load(const char *path, struct pg_authfile **out, struct errlist *errs)
{
	FILE *f = fopen(path, "rb");
	size_t len = 0, cap = 0, room, got;
	char *buf = NULL;
	int r;

	*out = NULL;
	if (!f) {
		r = -errno;
		errlist_add(errs, path, 0, 0, "cannot open auth file: %s", strerror(errno));
		return r;
	}
	if (authfile_mode_refused(path, fileno(f), errs)) {
		fclose(f);
		return -EPERM;
	}
	do {	/* one byte past the limit at most, to see it crossed */
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = xrealloc(buf, cap);
		}
		room = cap - len;
		if (room > AUTHFILE_MAX + 1 - len)
			room = AUTHFILE_MAX + 1 - len;
		got = fread(buf + len, 1, room, f);
		len += got;
	} while (got && len <= AUTHFILE_MAX);
	if (ferror(f)) {
		r = -EIO;
		errlist_add(errs, path, 0, 0, "cannot read auth file");
	} else if (len > AUTHFILE_MAX) {
		r = -EFBIG;
		errlist_add(errs, path, 0, 0, "auth file is larger than %u MiB", AUTHFILE_MAX >> 20);
	} else {
		r = pg_authfile_parse(path, buf, len, PG_SCRAM_ITER_DEFAULT, out, errs);
	}
	fclose(f);
	OPENSSL_cleanse(buf, cap);
	free(buf);
	return r;
}

void pg_authfile_free(struct pg_authfile *af)
{
	if (!af)
		return;
	users_free(af->users, af->nusers);
	free(af);
}

static int user_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pg_user *)elem)->name);
}

const struct pg_user *pg_authfile_find(const struct pg_authfile *af, const char *user)
{
	if (!af->nusers)
		return NULL;
	return bsearch(user, af->users, (size_t)af->nusers, sizeof(*af->users), user_key_cmp);
}

/* ---- md5 and cleartext ---------------------------------------------------- */

void pg_md5_salt(uint8_t salt[PG_MD5_SALT_LEN])
{
	random_bytes(salt, PG_MD5_SALT_LEN);
}

/* The md5 response to salt from a user's "md5..." string; -1 for a SCRAM secret. */
static int md5_expected(const struct pg_user *u, const uint8_t salt[PG_MD5_SALT_LEN],
			char out[PG_MD5_LEN + 1])
{
	if (u->kind == PG_SECRET_SCRAM)
		return -1;
	md5_string(u->md5 + 3, PG_MD5_LEN - 3, salt, PG_MD5_SALT_LEN, out);
	return 0;
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
		sha256(password, strlen(password), a);
		sha256(u->password, strlen(u->password), b);
		ok = !CRYPTO_memcmp(a, b, sizeof(a));
		break;
	case PG_SECRET_MD5:
		md5_string(password, strlen(password), u->name, strlen(u->name), md5);
		ok = !CRYPTO_memcmp(md5, u->md5, PG_MD5_LEN);
		break;
	default:
		scram_derive(password, u->scram.salt, u->scram.salt_len, u->scram.iterations, &k);
		ok = !CRYPTO_memcmp(k.server_key, u->scram.server_key, PG_SCRAM_KEY_LEN);
		break;
	}
	if (!ok)
		*why = "wrong password";
	return ok ? 0 : -1;
}

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

	random_bytes(raw, sizeof(raw));
	b64_encode(raw, sizeof(raw), out);
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
	random_bytes(mock_secret, sizeof(mock_secret));
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
	hmac256(mock_secret, sizeof(mock_secret), label, (size_t)n, h);
	s->keys.iterations = PG_SCRAM_ITER_DEFAULT;
	s->keys.salt_len = 16;
	memcpy(s->keys.salt, h, 16);
	n = snprintf(label, sizeof(label), "keys:%s", user);
	hmac256(mock_secret, sizeof(mock_secret), label, (size_t)n, s->keys.stored_key);
	hmac256(mock_secret, sizeof(mock_secret), s->keys.stored_key, PG_SCRAM_KEY_LEN,
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
	b64_encode(s->keys.salt, s->keys.salt_len, salt64);
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
	if (m.more || b64_decode(v, proof, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN) {
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
	hmac256(s->keys.stored_key, PG_SCRAM_KEY_LEN, s->auth, s->auth_len, sig);
	for (int i = 0; i < PG_SCRAM_KEY_LEN; i++)
		proof[i] ^= sig[i];
	sha256(proof, PG_SCRAM_KEY_LEN, stored);
	if (CRYPTO_memcmp(stored, s->keys.stored_key, PG_SCRAM_KEY_LEN)) {
		*why = "wrong password (SCRAM proof does not match)";
		return -1;
	}
	hmac256(s->keys.server_key, PG_SCRAM_KEY_LEN, s->auth, s->auth_len, sig);
	memcpy(out, "v=", 2);
	s->step = SCRAM_DONE;
	return 2 + b64_encode(sig, PG_SCRAM_KEY_LEN, out + 2);
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
	if (!msg_want(&m, 's', &v) || (*salt_len = b64_decode(v, salt, PG_SCRAM_SALT_MAX)) < 1) {
		*why = "server salt (s=) missing or not base64 of 1 to 64 bytes";
		return -1;
	}
	if (!msg_want(&m, 'i', &v) || !parse_count(v, c->max_iterations, iterations)) {
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
		scram_salted(c->password, salt, (size_t)salt_len, iterations, salted);
		scram_keys(salted, proof, &k);
		hmac256(k.stored_key, PG_SCRAM_KEY_LEN, c->auth, c->auth_len, sig);
		for (int i = 0; i < PG_SCRAM_KEY_LEN; i++)
			proof[i] ^= sig[i];
		hmac256(k.server_key, PG_SCRAM_KEY_LEN, c->auth, c->auth_len, c->server_signature);
		memcpy(out + len, ",p=", 3);
		len += 3 + b64_encode(proof, PG_SCRAM_KEY_LEN, out + len + 3);
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
	if (b64_decode(v, sig, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN || !msg_skip_rest(&m)) {
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
