/*
 * authfile.c - the auth file (PgBouncer's userlist.txt) and the secrets in
 * it: parsing and loading the file, looking users up, and turning each
 * secret into what the methods check against (an md5 hash, SCRAM keys).
 *
 * Owns: every struct pg_authfile, and the users and secrets in it.
 * Invariants: a struct pg_authfile is read-only once parsed, its users
 *             sorted by name and unique; the file's text, each secret read
 *             from it and each plain password are wiped (OPENSSL_cleanse)
 *             before their memory goes; a malformed SCRAM verifier is an
 *             error, never taken as a password; nothing is read outside the
 *             (pointer, length) it was given.
 * Runs on: any thread; pg_authfile_load on the control thread.
 */
#include "authfile.h"

#include <errno.h>
#include <stdbool.h>

#include <openssl/crypto.h>
#include <sys/stat.h>

#include "crypto.h"

#define AUTHFILE_MAX	(64u << 20)	/* bytes: a bigger auth file is a mistake */
#define PLAIN_SALT_LEN	16		/* salt of the keys derived from a plain password */
#define SCRAM_PREFIX	"SCRAM-SHA-256$"

/* ---- secrets -------------------------------------------------------------- */

int pg_scram_verifier(const char *password, const uint8_t *salt, size_t salt_len,
		      int iterations, char out[PG_SCRAM_VERIFIER_MAX])
{
	char salt64[4 * PG_SCRAM_SALT_MAX / 3 + 4], stored64[48], server64[48];
	struct pg_scram_keys k;
	int n;

	pg_scram_derive(password, salt, salt_len, iterations, &k);
	pg_b64_encode(k.salt, k.salt_len, salt64);
	pg_b64_encode(k.stored_key, PG_SCRAM_KEY_LEN, stored64);
	pg_b64_encode(k.server_key, PG_SCRAM_KEY_LEN, server64);
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
	if (!pg_parse_count(iter, PG_SCRAM_ITER_MAX, &k->iterations))
		return "the iteration count is not a number in 1..1000000";
	len = pg_b64_decode(salt, k->salt, PG_SCRAM_SALT_MAX);
	if (len < 1)
		return "the salt is not base64 of 1 to 64 bytes";
	k->salt_len = (size_t)len;
	if (pg_b64_decode(stored, k->stored_key, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN)
		return "the StoredKey is not base64 of 32 bytes";
	if (pg_b64_decode(server, k->server_key, PG_SCRAM_KEY_LEN) != PG_SCRAM_KEY_LEN)
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
	pg_md5_string(secret, n, u->name, strlen(u->name), u->md5);
	pg_random_bytes(salt, sizeof(salt));
	pg_scram_derive(u->password, salt, sizeof(salt), iterations, &u->scram);
	return NULL;
}

/* ---- the auth file -------------------------------------------------------- */

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
