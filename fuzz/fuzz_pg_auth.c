/*
 * fuzz_pg_auth.c - libFuzzer target for pg/authfile.c, pg/password.c and
 * pg/scram.c.
 *
 * The first byte says what the rest is:
 *   '0'  an auth file, loaded with pg_authfile_parse;
 *   '1'  client-first-message '\n' client-final-message, fed to our SCRAM
 *        server for user "user" (RFC 7677's verifier and server nonce, so
 *        the RFC's messages pass and mutations of them go deep);
 *   '2'  server-first-message '\n' server-final-message, fed to our SCRAM
 *        client (RFC 7677's password, name and client nonce).
 * Each message is copied to its own exact-size heap block, so reading past
 * it is a crash. Aborts (a bug) when a result is inconsistent: a parsed
 * file whose table breaks an invariant the lookups rely on, a failure
 * without a reason or a message not in "fuzz.txt:LINE:COL: text" form, a
 * SCRAM message produced that is not printable ASCII of the length
 * returned. ASan's leak check makes any leak on any path a crash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pg/authfile.h"
#include "pg/password.h"
#include "pg/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define RFC_VERIFIER "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
		     "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static void check_messages(const struct errlist *e)
{
	for (int i = 0; i < e->n; i++) {
		const char *m = e->msgs[i];
		int line = 0, col = 0, used = 0;

		BUG_ON(strncmp(m, "fuzz.txt:", 9) != 0);
		BUG_ON(sscanf(m + 9, "%d:%d: %n", &line, &col, &used) != 2);
		BUG_ON(line < 1 || col < 1 || used == 0 || m[9 + used] == '\0');
	}
}

static void check_user(const struct pg_authfile *af, const struct pg_user *u)
{
	static const uint8_t salt[PG_MD5_SALT_LEN] = { 1, 2, 3, 4 };
	char md5[PG_MD5_LEN + 1];
	const char *why = NULL;

	BUG_ON(strlen(u->name) < 1 || strlen(u->name) > PG_AUTH_USER_MAX);
	BUG_ON(pg_authfile_find(af, u->name) != u);
	if (u->kind == PG_SECRET_SCRAM) {
		BUG_ON(u->password || u->md5[0]);
		BUG_ON(u->scram.iterations < 1 || u->scram.iterations > PG_SCRAM_ITER_MAX);
		BUG_ON(u->scram.salt_len < 1 || u->scram.salt_len > PG_SCRAM_SALT_MAX);
		BUG_ON(pg_md5_response(u, salt, md5, &why) != -1 || !why);
		return;
	}
	BUG_ON((u->kind == PG_SECRET_PLAIN) != (u->password != NULL));
	if (u->password) {
		BUG_ON(!*u->password || strlen(u->password) > PG_AUTH_SECRET_MAX);
		BUG_ON(u->scram.iterations != 1 || u->scram.salt_len != 16);
		BUG_ON(pg_password_verify(u, u->password, &why) != 0);
	}
	/* PLAIN and MD5 both have the md5 hash. */
	BUG_ON(strlen(u->md5) != PG_MD5_LEN || strncmp(u->md5, "md5", 3));
	BUG_ON(pg_md5_response(u, salt, md5, &why) != 0);
	BUG_ON(pg_md5_verify(u, salt, md5, &why) != 0);
}

static void fuzz_authfile(const char *text, size_t len)
{
	struct pg_authfile *af = (struct pg_authfile *)1;
	struct errlist e = { 0 };
	int r = pg_authfile_parse("fuzz.txt", text, len, 1, &af, &e);

	if (r == 0) {
		BUG_ON(!af || e.n != 0);
		for (int i = 0; i < af->nusers; i++) {
			BUG_ON(i > 0 && strcmp(af->users[i - 1].name, af->users[i].name) >= 0);
			check_user(af, &af->users[i]);
		}
	} else {
		BUG_ON(r != -EINVAL || af || e.n == 0);
		check_messages(&e);
	}
	pg_authfile_free(af);
	errlist_free(&e);
}

/* A message we produced: printable ASCII (RFC 5802 allows nothing else in
 * ours), of the length returned. */
static void check_out(const char *out, int n)
{
	BUG_ON(n < 0 || n >= PG_SCRAM_MSG_MAX || strlen(out) != (size_t)n);
	for (int i = 0; i < n; i++)
		BUG_ON(out[i] < 0x21 || out[i] > 0x7e);
}

/* The part of p[0, n) up to the first '\n' in *a, the rest after it in *b
 * (NULL if there is no '\n'); each in an exact-size heap block. */
static void split(const char *p, size_t n, char **a, size_t *an, char **b, size_t *bn)
{
	const char *nl = memchr(p, '\n', n);

	*an = nl ? (size_t)(nl - p) : n;
	*a = xmalloc(*an);
	memcpy(*a, p, *an);
	*b = NULL;
	*bn = 0;
	if (nl) {
		*bn = n - *an - 1;
		*b = xmalloc(*bn);
		memcpy(*b, nl + 1, *bn);
	}
}

static void fuzz_server(const struct pg_user *u, const char *p, size_t n)
{
	char out[PG_SCRAM_MSG_MAX], *m1, *m2;
	struct pg_scram_server s;
	const char *why = NULL;
	size_t n1, n2;
	int r;

	split(p, n, &m1, &n1, &m2, &n2);
	BUG_ON(pg_scram_server_init(&s, u, &why) != 0);
	strcpy(s.snonce, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	r = pg_scram_server_first(&s, m1, n1, out, &why);
	BUG_ON(r < 0 && !why);
	if (r >= 0) {
		check_out(out, r);
		if (m2) {
			why = NULL;
			r = pg_scram_server_final(&s, m2, n2, out, &why);
			BUG_ON(r < 0 && !why);
			if (r >= 0) {
				check_out(out, r);
				BUG_ON(r != 46 || strncmp(out, "v=", 2));
			}
		}
	}
	free(m1);
	free(m2);
}

static void fuzz_client(const struct pg_user *u, const char *p, size_t n)
{
	char out[PG_SCRAM_MSG_MAX], *m1, *m2;
	struct pg_scram_client c;
	const char *why = NULL;
	size_t n1, n2;
	int r;

	split(p, n, &m1, &n1, &m2, &n2);
	BUG_ON(pg_scram_client_init(&c, u, &why) != 0);
	strcpy(c.nonce, "rOprNGfwEbeRWgbNEkqO");
	c.name = "user";
	c.max_iterations = 8192;	/* a run stays in milliseconds */
	check_out(out, pg_scram_client_first(&c, out));
	r = pg_scram_client_final(&c, m1, n1, out, &why);
	BUG_ON(r < 0 && !why);
	if (r >= 0) {
		check_out(out, r);
		BUG_ON(strncmp(out, "c=biws,r=rOprNGfwEbeRWgbNEkqO", 29));
		if (m2) {
			why = NULL;
			r = pg_scram_client_verify(&c, m2, n2, &why);
			BUG_ON(r != 0 && (r != -1 || !why));
		}
	}
	free(m1);
	free(m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char users[] = "\"user\" \"" RFC_VERIFIER "\"\n\"pencil\" \"pencil\"\n";
	static struct pg_authfile *af;
	const char *p = (const char *)data + 1;
	struct errlist e = { 0 };

	if (!af)	/* once; kept for the whole run */
		BUG_ON(pg_authfile_parse("users", users, strlen(users), 1, &af, &e) != 0);
	if (size < 1)
		return 0;
	switch (data[0]) {
	case '0':
		fuzz_authfile(p, size - 1);
		break;
	case '1':
		fuzz_server(pg_authfile_find(af, "user"), p, size - 1);
		break;
	case '2':
		fuzz_client(pg_authfile_find(af, "pencil"), p, size - 1);
		break;
	}
	return 0;
}
