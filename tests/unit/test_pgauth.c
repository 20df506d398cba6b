/*
 * test_pgauth.c - pg/authfile.c, password.c and scram.c: auth file, md5, cleartext, SCRAM-SHA-256 as
 * server and as client.
 *
 * Known values, each checked against an independent source:
 * - RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user",
 *   password "pencil", reproduced byte for byte by our client and by our
 *   server (their nonces set through the states' nonce fields); the same
 *   exchange with the "y" channel-binding flag, computed with Python's
 *   hashlib/hmac.
 * - PostgreSQL 15: pg_authid verifiers for CREATE ROLE ... PASSWORD under
 *   password_encryption = 'scram-sha-256' ("pencil", "correct horse battery
 *   staple") and the md5 hash of "secret" for "alice" (also hashlib's).
 * - The md5 challenge response for salt 01 02 03 04, from hashlib.
 *
 * Also: client and server talking to each other over every kind of
 * secret (right password accepted, wrong refused, a server that does not
 * know the password caught by the client); every auth-file error with its
 * file:line:col; malformed SCRAM messages of every kind refused with a
 * reason. Messages are copied to exact-size heap buffers, so a read past
 * the end shows up under SANITIZE=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "pg/authfile.h"
#include "pg/password.h"
#include "pg/scram.h"

#define S(lit) lit, sizeof(lit) - 1
#define NAME "t.txt"

/* RFC 7677, section 3. */
#define RFC_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SERVER_FIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
			 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* "pencil" with the RFC's salt and count, as PostgreSQL stores it (hashlib). */
#define RFC_VERIFIER "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
		     "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

/* From PostgreSQL 15's pg_authid. */
#define PG_PENCIL "SCRAM-SHA-256$4096:CW8Sjx7YG1bgydOGggaKbQ==$" \
		  "NugNlQ5fP+s4n7ulv/fUheVpSRu1YSBP5NvmbsXk+4o=:DCCoLvGOSld0PdyZQ8J7nC3DRHVIYA7YUdS4znQxtzo="
#define PG_HORSE "SCRAM-SHA-256$4096:/FU/9AEcz+Yu1Dp4CogLUg==$" \
		 "kS1V8+cVgZwcLKX3rJP3P+VBuUo188muj0Y5Kz55TLk=:MZGo/6qIqDhibjC6oZfBNvG6UEcOAMRmAl3gzvnt5MQ="
#define PG_ALICE_MD5 "md54a0a68b43b6cd5cf266fa02f196e2371"

/* ---- helpers ---------------------------------------------------------------- */

static char *dup_exact(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

static struct pg_authfile *parse_ok(const char *text)
{
	struct errlist e = { 0 };
	struct pg_authfile *af = NULL;
	int r = pg_authfile_parse(NAME, text, strlen(text), 1, &af, &e);

	for (int i = 0; i < e.n; i++)
		fprintf(stderr, "unexpected: %s\n", e.msgs[i]);
	assert_int_equal(r, 0);
	assert_int_equal(e.n, 0);
	assert_non_null(af);
	errlist_free(&e);
	return af;
}

static const struct pg_user *find(const struct pg_authfile *af, const char *user)
{
	const struct pg_user *u = pg_authfile_find(af, user);

	assert_non_null(u);
	return u;
}

static int server_first(struct pg_scram_server *s, const char *in, size_t n, char *out,
			const char **why)
{
	char *q = dup_exact(in, n);
	int r = pg_scram_server_first(s, q, n, out, why);

	free(q);
	return r;
}

static int server_final(struct pg_scram_server *s, const char *in, size_t n, char *out,
			const char **why)
{
	char *q = dup_exact(in, n);
	int r = pg_scram_server_final(s, q, n, out, why);

	free(q);
	return r;
}

static int client_final(struct pg_scram_client *c, const char *in, size_t n, char *out,
			const char **why)
{
	char *q = dup_exact(in, n);
	int r = pg_scram_client_final(c, q, n, out, why);

	free(q);
	return r;
}

static int client_verify(struct pg_scram_client *c, const char *in, size_t n, const char **why)
{
	char *q = dup_exact(in, n);
	int r = pg_scram_client_verify(c, q, n, why);

	free(q);
	return r;
}

/*
 * A whole SCRAM login: our client with cu's secret against our server with
 * su's. Returns 0 when both sides accept, else -1 with the refusing side's
 * reason.
 */
static int exchange(const struct pg_user *cu, const struct pg_user *su, const char **why)
{
	char m1[PG_SCRAM_MSG_MAX], m2[PG_SCRAM_MSG_MAX], m3[PG_SCRAM_MSG_MAX], m4[PG_SCRAM_MSG_MAX];
	struct pg_scram_client c;
	struct pg_scram_server s;
	int n1, n2, n3, n4;

	if (pg_scram_client_init(&c, cu, why) || pg_scram_server_init(&s, su, why))
		return -1;
	n1 = pg_scram_client_first(&c, m1);
	assert_int_equal(n1, (int)strlen(m1));
	n2 = server_first(&s, m1, (size_t)n1, m2, why);
	assert_true(n2 > 0);
	n3 = client_final(&c, m2, (size_t)n2, m3, why);
	assert_true(n3 > 0);
	n4 = server_final(&s, m3, (size_t)n3, m4, why);
	if (n4 < 0)
		return -1;
	return client_verify(&c, m4, (size_t)n4, why);
}

/* A server for `user` "pencil" (RFC verifier) past a client-first with
 * client nonce "CN", its server nonce "SN". */
static void server_at_final(struct pg_scram_server *s, const struct pg_authfile *af)
{
	char out[PG_SCRAM_MSG_MAX];
	const char *why = NULL;

	assert_int_equal(pg_scram_server_init(s, find(af, "user"), &why), 0);
	strcpy(s->snonce, "SN");
	assert_true(server_first(s, S("n,,n=,r=CN"), out, &why) > 0);
}

/* ---- RFC 7677 ------------------------------------------------------------------ */

static void test_rfc7677_client(void **state)
{
	struct pg_authfile *af = parse_ok("\"user\" \"pencil\"\n");
	char out[PG_SCRAM_MSG_MAX];
	struct pg_scram_client c;
	const char *why = NULL;

	(void)state;
	assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
	strcpy(c.nonce, "rOprNGfwEbeRWgbNEkqO");
	c.name = "user";
	assert_int_equal(pg_scram_client_first(&c, out), strlen(RFC_CLIENT_FIRST));
	assert_string_equal(out, RFC_CLIENT_FIRST);
	assert_int_equal(client_final(&c, S(RFC_SERVER_FIRST), out, &why), strlen(RFC_CLIENT_FINAL));
	assert_string_equal(out, RFC_CLIENT_FINAL);
	assert_int_equal(client_verify(&c, S(RFC_SERVER_FINAL), &why), 0);
	pg_authfile_free(af);
}

static void test_rfc7677_server(void **state)
{
	struct pg_authfile *af = parse_ok("\"user\" \"" RFC_VERIFIER "\"\n");
	char out[PG_SCRAM_MSG_MAX];
	struct pg_scram_server s;
	const char *why = NULL;

	(void)state;
	assert_int_equal(find(af, "user")->kind, PG_SECRET_SCRAM);
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	strcpy(s.snonce, RFC_SNONCE);
	assert_int_equal(server_first(&s, S(RFC_CLIENT_FIRST), out, &why), strlen(RFC_SERVER_FIRST));
	assert_string_equal(out, RFC_SERVER_FIRST);
	assert_int_equal(server_final(&s, S(RFC_CLIENT_FINAL), out, &why), strlen(RFC_SERVER_FINAL));
	assert_string_equal(out, RFC_SERVER_FINAL);
	pg_authfile_free(af);
}

/* The RFC exchange with "y,,": the binding must say "y,," too (c=eSws). */
static void test_channel_binding_y(void **state)
{
	static const char final_y[] = "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
				      "p=FoqiHTtQEDE8lz1CdaEe3tK4mS+iMDTl77SPyDS53DY=";
	struct pg_authfile *af = parse_ok("\"user\" \"" RFC_VERIFIER "\"\n");
	char out[PG_SCRAM_MSG_MAX];
	struct pg_scram_server s;
	const char *why = NULL;

	(void)state;
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	strcpy(s.snonce, RFC_SNONCE);
	assert_true(server_first(&s, S("y,,n=user,r=rOprNGfwEbeRWgbNEkqO"), out, &why) > 0);
	assert_true(server_final(&s, S(final_y), out, &why) > 0);
	assert_string_equal(out, "v=dI4KpiQJwBr1+V+K6U1dA6l6I4I9DUNXWND4pcpRU3U=");

	/* "n,," then c=eSws, and "y,," then c=biws: refused before the proof. */
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	strcpy(s.snonce, RFC_SNONCE);
	assert_true(server_first(&s, S(RFC_CLIENT_FIRST), out, &why) > 0);
	assert_int_equal(server_final(&s, S(final_y), out, &why), -1);
	assert_non_null(strstr(why, "channel binding"));
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	strcpy(s.snonce, RFC_SNONCE);
	assert_true(server_first(&s, S("y,,n=user,r=rOprNGfwEbeRWgbNEkqO"), out, &why) > 0);
	assert_int_equal(server_final(&s, S(RFC_CLIENT_FINAL), out, &why), -1);
	assert_non_null(strstr(why, "channel binding"));
	pg_authfile_free(af);
}

/* ---- PostgreSQL verifiers ------------------------------------------------------ */

static void test_verifier_known(void **state)
{
	static const uint8_t rfc_salt[] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					    0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	static const uint8_t pencil_salt[] = { 0x09, 0x6f, 0x12, 0x8f, 0x1e, 0xd8, 0x1b, 0x56,
					       0xe0, 0xc9, 0xd3, 0x86, 0x82, 0x06, 0x8a, 0x6d };
	static const uint8_t horse_salt[] = { 0xfc, 0x55, 0x3f, 0xf4, 0x01, 0x1c, 0xcf, 0xe6,
					      0x2e, 0xd4, 0x3a, 0x78, 0x0a, 0x88, 0x0b, 0x52 };
	char out[PG_SCRAM_VERIFIER_MAX];

	(void)state;
	assert_int_equal(pg_scram_verifier("pencil", rfc_salt, sizeof(rfc_salt), 4096, out),
			 strlen(RFC_VERIFIER));
	assert_string_equal(out, RFC_VERIFIER);
	pg_scram_verifier("pencil", pencil_salt, sizeof(pencil_salt), 4096, out);
	assert_string_equal(out, PG_PENCIL);
	pg_scram_verifier("correct horse battery staple", horse_salt, sizeof(horse_salt), 4096, out);
	assert_string_equal(out, PG_HORSE);
}

/* Logging in with the password against PostgreSQL's verifier, and the
 * keys derived at load from a plain password against each other. */
static void test_client_server(void **state)
{
	struct pg_authfile *af = parse_ok(
		"\"plain\" \"pencil\"\n"
		"\"pg\" \"" PG_PENCIL "\"\n"
		"\"horse\" \"" PG_HORSE "\"\n"
		"\"wrong\" \"pencil2\"\n"
		"\"md5\" \"" PG_ALICE_MD5 "\"\n");
	const struct pg_user *plain = find(af, "plain"), *pg = find(af, "pg");
	const struct pg_user *wrong = find(af, "wrong"), *horse = find(af, "horse");
	const char *why = NULL;

	(void)state;
	for (int round = 0; round < 3; round++) {	/* fresh nonces each time */
		assert_int_equal(exchange(plain, plain, &why), 0);
		assert_int_equal(exchange(plain, pg, &why), 0);
		assert_int_equal(exchange(wrong, pg, &why), -1);
		assert_string_equal(why, "wrong password (SCRAM proof does not match)");
		assert_int_equal(exchange(wrong, plain, &why), -1);
		assert_string_equal(why, "wrong password (SCRAM proof does not match)");
		assert_int_equal(exchange(plain, horse, &why), -1);
	}
	/* No plain password: no login; an md5 hash cannot serve SCRAM. */
	assert_int_equal(exchange(pg, pg, &why), -1);
	assert_non_null(strstr(why, "needs the plain password"));
	assert_int_equal(exchange(plain, find(af, "md5"), &why), -1);
	assert_non_null(strstr(why, "md5 hash"));
	pg_authfile_free(af);
}

/* A server that does not know the password cannot forge server-final. */
static void test_client_catches_impostor(void **state)
{
	struct pg_authfile *af = parse_ok("\"user\" \"pencil\"\n\"impostor\" \"" PG_PENCIL "\"\n");
	char m1[PG_SCRAM_MSG_MAX], m2[PG_SCRAM_MSG_MAX], m3[PG_SCRAM_MSG_MAX], m4[PG_SCRAM_MSG_MAX];
	struct pg_scram_client c;
	struct pg_scram_server s;
	const char *why = NULL;
	int n;

	(void)state;
	assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
	assert_int_equal(pg_scram_server_init(&s, find(af, "impostor"), &why), 0);
	/* The impostor knows the real salt and StoredKey but not ServerKey. */
	memset(s.keys.server_key, 0x42, sizeof(s.keys.server_key));
	n = pg_scram_client_first(&c, m1);
	n = server_first(&s, m1, (size_t)n, m2, &why);
	n = client_final(&c, m2, (size_t)n, m3, &why);
	n = server_final(&s, m3, (size_t)n, m4, &why);
	assert_true(n > 0);
	assert_int_equal(client_verify(&c, m4, (size_t)n, &why), -1);
	assert_string_equal(why, "server signature does not match: the server does not know the password");
	pg_authfile_free(af);
}

/* ---- md5 and cleartext ------------------------------------------------------------ */

static void test_md5(void **state)
{
	static const uint8_t salt[PG_MD5_SALT_LEN] = { 1, 2, 3, 4 };
	static const char resp[] = "md598a0412b9c31436fc53776e863350083";
	struct pg_authfile *af = parse_ok("\"alice\" \"secret\"\n\"bob\" \"" PG_ALICE_MD5 "\"\n"
					  "\"carol\" \"" PG_PENCIL "\"\n\"alice2\" \"secret\"\n");
	const struct pg_user *alice = find(af, "alice"), *bob = find(af, "bob");
	const struct pg_user *carol = find(af, "carol");
	char out[PG_MD5_LEN + 1];
	const char *why = NULL;
	uint8_t s1[PG_MD5_SALT_LEN], s2[PG_MD5_SALT_LEN];

	(void)state;
	assert_int_equal(alice->kind, PG_SECRET_PLAIN);
	assert_string_equal(alice->md5, PG_ALICE_MD5);
	/* The hash is salted with the user name. */
	assert_string_not_equal(find(af, "alice2")->md5, PG_ALICE_MD5);
	assert_int_equal(bob->kind, PG_SECRET_MD5);
	assert_null(bob->password);

	/* Client side, from the password or from its hash. */
	assert_int_equal(pg_md5_response(alice, salt, out, &why), 0);
	assert_string_equal(out, resp);
	assert_int_equal(pg_md5_response(bob, salt, out, &why), 0);
	assert_string_equal(out, resp);
	assert_int_equal(pg_md5_response(carol, salt, out, &why), -1);
	assert_non_null(strstr(why, "SCRAM verifier"));

	/* Server side. */
	assert_int_equal(pg_md5_verify(alice, salt, resp, &why), 0);
	assert_int_equal(pg_md5_verify(bob, salt, resp, &why), 0);
	assert_int_equal(pg_md5_verify(bob, salt, "md598a0412b9c31436fc53776e863350084", &why), -1);
	assert_string_equal(why, "wrong password (md5 response does not match)");
	assert_int_equal(pg_md5_verify(bob, salt, "md598a0412b9c31436fc53776e86335008", &why), -1);
	assert_int_equal(pg_md5_verify(bob, salt, "", &why), -1);
	assert_int_equal(pg_md5_verify(find(af, "alice2"), salt, resp, &why), -1);
	assert_int_equal(pg_md5_verify(carol, salt, resp, &why), -1);
	assert_non_null(strstr(why, "SCRAM verifier"));

	/* Salts are random. */
	pg_md5_salt(s1);
	pg_md5_salt(s2);
	assert_memory_not_equal(s1, s2, sizeof(s1));
	pg_authfile_free(af);
}

static void test_cleartext(void **state)
{
	struct pg_authfile *af = parse_ok("\"alice\" \"secret\"\n\"bob\" \"" PG_ALICE_MD5 "\"\n"
					  "\"carol\" \"" PG_PENCIL "\"\n");
	struct pg_authfile *af2 = parse_ok("\"alice\" \"" PG_ALICE_MD5 "\"\n");
	const struct pg_user *alice = find(af, "alice"), *bob = find(af, "bob");
	const struct pg_user *carol = find(af, "carol"), *alice_md5 = find(af2, "alice");
	const char *why = NULL;

	(void)state;
	assert_int_equal(pg_password_verify(alice, "secret", &why), 0);
	assert_int_equal(pg_password_verify(alice, "secre", &why), -1);
	assert_string_equal(why, "wrong password");
	assert_int_equal(pg_password_verify(alice, "secret ", &why), -1);
	assert_int_equal(pg_password_verify(alice_md5, "secret", &why), 0);
	assert_int_equal(pg_password_verify(alice_md5, "Secret", &why), -1);
	/* An md5 hash is salted with its user's name: bob's is alice's. */
	assert_int_equal(pg_password_verify(bob, "secret", &why), -1);
	assert_int_equal(pg_password_verify(carol, "pencil", &why), 0);
	assert_int_equal(pg_password_verify(carol, "pencil!", &why), -1);
	assert_int_equal(pg_password_verify(alice, "", &why), -1);
	assert_string_equal(why, "empty password");

	assert_string_equal(pg_cleartext_response(alice, &why), "secret");
	assert_null(pg_cleartext_response(bob, &why));
	assert_non_null(strstr(why, "needs the plain password"));
	assert_null(pg_cleartext_response(carol, &why));
	pg_authfile_free(af);
	pg_authfile_free(af2);
}

/* ---- auth file ---------------------------------------------------------------- */

static void test_authfile_ok(void **state)
{
	static const char text[] =
		"; PgBouncer style comment\n"
		"# shell style comment\n"
		"\n"
		"   \t\n"
		"\"alice\" \"secret\"\n"
		"  \"we\"\"ird\"\t\t\"pa\"\"ss word\"  \r\n"	/* quotes, blanks, CRLF */
		"\"bob\" \"" PG_ALICE_MD5 "\"\n"
		"\"carol\" \"" PG_PENCIL "\"\n"
		"\"dave\" \"md5NOTAHASH\"\n"			/* plain, as PostgreSQL takes it */
		"\"Alice\" \"MD54A0A68B43B6CD5CF266FA02F196E2371\"";	/* no final newline */
	struct pg_authfile *af = parse_ok(text);
	const struct pg_user *u;

	(void)state;
	assert_int_equal(af->nusers, 6);
	u = find(af, "we\"ird");
	assert_int_equal(u->kind, PG_SECRET_PLAIN);
	assert_string_equal(u->password, "pa\"ss word");
	assert_int_equal(u->line, 6);
	assert_int_equal(u->scram.iterations, 1);
	assert_int_equal(u->scram.salt_len, 16);
	assert_int_equal(find(af, "bob")->kind, PG_SECRET_MD5);
	u = find(af, "carol");
	assert_int_equal(u->kind, PG_SECRET_SCRAM);
	assert_int_equal(u->scram.iterations, 4096);
	assert_string_equal(u->md5, "");
	assert_int_equal(find(af, "dave")->kind, PG_SECRET_PLAIN);
	assert_int_equal(find(af, "Alice")->kind, PG_SECRET_PLAIN);
	assert_string_equal(find(af, "alice")->password, "secret");
	assert_null(pg_authfile_find(af, "ALICE"));
	assert_null(pg_authfile_find(af, "we\"\"ird"));
	assert_null(pg_authfile_find(af, ""));
	pg_authfile_free(af);

	af = parse_ok("");
	assert_int_equal(af->nusers, 0);
	assert_null(pg_authfile_find(af, "alice"));
	pg_authfile_free(af);
}

/* Every error, with the place it was found. */
static void test_authfile_errors(void **state)
{
	static const struct {
		const char *text;
		size_t len;		/* 0: strlen(text) */
		const char *msg;
	} cases[] = {
		{ "bob \"x\"", 0, NAME ":1:1: expected a quoted user name, a comment (; or #) or a blank line" },
		{ "\n  'bob' 'x'", 0, NAME ":2:3: expected a quoted user name, a comment (; or #) or a blank line" },
		{ "\"bob", 0, NAME ":1:1: unterminated quote in the user name" },
		{ "\"bob\"\" \"x\"", 0, NAME ":1:9: expected a blank after the user name" },
		{ "\"bob\" \"pw", 0, NAME ":1:7: unterminated quote in the secret for user \"bob\"" },
		{ "\"bob\"", 0, NAME ":1:6: missing secret for user \"bob\"" },
		{ "\"bob\"   \r", 0, NAME ":1:10: missing secret for user \"bob\"" },
		{ "\"bob\" pw", 0, NAME ":1:7: expected the quoted secret for user \"bob\"" },
		{ "\"bob\"\"pw\"", 0, NAME ":1:10: missing secret for user \"bob\"pw\"" },
		{ "\"bob\"x \"pw\"", 0, NAME ":1:6: expected a blank after the user name" },
		{ "\"\" \"pw\"", 0, NAME ":1:1: empty user name" },
		{ "\"bob\" \"\"", 0, NAME ":1:7: empty secret for user \"bob\"" },
		{ "\"bob\" \"pw\" x", 0, NAME ":1:12: unexpected text after the secret" },
		{ "\"bob\" \"pw\" \"third\"", 0, NAME ":1:12: unexpected text after the secret" },
		{ "\"bob\" \"pw\"#", 0, NAME ":1:11: unexpected text after the secret" },
		{ "\"bob\" \"p\0w\"", 11, NAME ":1:9: NUL byte in the line" },
		{ "\"bob\" \"a\"\n\"alice\" \"b\"\n\"bob\" \"c\"\n", 0,
		  NAME ":3:1: duplicate user \"bob\" (first defined on line 1)" },
		{ "\"bob\" \"SCRAM-SHA-256$4096:salt\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": expected "
		  "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" },
		{ "\"bob\" \"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the iteration count is not a number in 1..1000000" },
		{ "\"bob\" \"SCRAM-SHA-256$1000001:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the iteration count is not a number in 1..1000000" },
		{ "\"bob\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the salt is not base64 of 1 to 64 bytes" },
		{ "\"bob\" \"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the salt is not base64 of 1 to 64 bytes" },
		{ "\"bob\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the StoredKey is not base64 of 32 bytes" },
		{ "\"bob\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		  ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= \"", 0,
		  NAME ":1:7: bad SCRAM verifier for user \"bob\": the ServerKey is not base64 of 32 bytes" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		char *text = dup_exact(cases[i].text, len);
		struct pg_authfile *af = (struct pg_authfile *)1;
		struct errlist e = { 0 };

		assert_int_equal(pg_authfile_parse(NAME, text, len, 1, &af, &e), -EINVAL);
		assert_null(af);
		assert_int_equal(e.n, 1);
		assert_string_equal(e.msgs[0], cases[i].msg);
		errlist_free(&e);
		free(text);
	}
}

/* Limits are exact; every error of a file is reported, in one go. */
static void test_authfile_limits(void **state)
{
	char text[PG_AUTH_LINE_MAX + 16], name[PG_AUTH_USER_MAX + 2], secret[PG_AUTH_SECRET_MAX + 2];
	struct pg_authfile *af;
	struct errlist e = { 0 };

	(void)state;
	memset(name, 'u', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(secret, 's', sizeof(secret) - 1);
	secret[sizeof(secret) - 1] = '\0';
	snprintf(text, sizeof(text), "\"%.*s\" \"%.*s\"", PG_AUTH_USER_MAX, name,
		 PG_AUTH_SECRET_MAX, secret);
	af = parse_ok(text);
	assert_int_equal(strlen(af->users[0].name), PG_AUTH_USER_MAX);
	assert_int_equal(strlen(af->users[0].password), PG_AUTH_SECRET_MAX);
	pg_authfile_free(af);

	/* A user thrice: both repeats name the first line. */
	snprintf(text, sizeof(text), "\"b\" \"1\"\n\"a\" \"2\"\n\"b\" \"3\"\n\"b\" \"4\"\n");
	assert_int_equal(pg_authfile_parse(NAME, text, strlen(text), 1, &af, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msgs[0], NAME ":3:1: duplicate user \"b\" (first defined on line 1)");
	assert_string_equal(e.msgs[1], NAME ":4:1: duplicate user \"b\" (first defined on line 1)");
	errlist_free(&e);

	snprintf(text, sizeof(text), "\"%s\" \"x\"\n\"u\" \"%s\"\n", name, secret);
	assert_int_equal(pg_authfile_parse(NAME, text, strlen(text), 1, &af, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msgs[0], NAME ":1:1: user name is longer than 63 bytes");
	assert_string_equal(e.msgs[1], NAME ":2:5: secret for user \"u\" is longer than 1024 bytes");
	errlist_free(&e);

	memset(text, ' ', PG_AUTH_LINE_MAX + 1);
	memcpy(text + PG_AUTH_LINE_MAX + 1, "\n\"a\"", 5);
	assert_int_equal(pg_authfile_parse(NAME, text, strlen(text), 1, &af, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msgs[0], NAME ":1:1: line is longer than 4096 bytes");
	assert_string_equal(e.msgs[1], NAME ":2:4: missing secret for user \"a\"");
	errlist_free(&e);
	memset(text, ' ', PG_AUTH_LINE_MAX);
	text[PG_AUTH_LINE_MAX] = '\0';
	pg_authfile_free(parse_ok(text));
}

static void test_authfile_load(void **state)
{
	char path[] = "/tmp/nodown-pgauth-XXXXXX";
	struct pg_authfile *af;
	struct errlist e = { 0 };
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, S("\"alice\" \"secret\"\n")), 17);
	close(fd);
	assert_int_equal(pg_authfile_load(path, &af, &e), 0);
	assert_int_equal(find(af, "alice")->scram.iterations, PG_SCRAM_ITER_DEFAULT);
	assert_int_equal(pg_password_verify(find(af, "alice"), "secret", &(const char *){ NULL }), 0);
	pg_authfile_free(af);
	unlink(path);

	assert_int_equal(pg_authfile_load(path, &af, &e), -ENOENT);
	assert_null(af);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msgs[0], "cannot open auth file: No such file"));
	errlist_free(&e);

	assert_int_equal(pg_authfile_load("/tmp", &af, &e), -EIO);
	assert_string_equal(e.msgs[0], "/tmp: cannot read auth file");
	errlist_free(&e);
	assert_int_equal(pg_authfile_load("/dev/zero", &af, &e), -EFBIG);
	assert_string_equal(e.msgs[0], "/dev/zero: auth file is larger than 64 MiB");
	errlist_free(&e);
}

/* ---- malformed SCRAM messages ------------------------------------------------- */

struct bad {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	const char *why;	/* a substring of the reason */
};

static void test_server_first_malformed(void **state)
{
	static const struct bad cases[] = {
		{ "", 0, "expected n,, or y,," },
		{ "n", 0, "expected n,, or y,," },
		{ "n,", 0, "expected n,, or y,," },
		{ "x,,n=,r=abc", 0, "expected n,, or y,," },
		{ "n,x,n=,r=abc", 0, "expected n,, or y,," },
		{ "p=tls-server-end-point,,n=,r=abc", 0, "channel binding" },
		{ "p", 0, "channel binding" },
		{ "n,a=bob,n=,r=abc", 0, "authorization identity" },
		{ "n,,m=ext,n=,r=abc", 0, "extension (m=)" },
		{ "n,,", 0, "expected n= and r=" },
		{ "n,,r=abc", 0, "expected n= and r=" },
		{ "n,,n=bob", 0, "expected n= and r=" },
		{ "n,,n=bob,", 0, "expected n= and r=" },
		{ "n,,n=,x=abc", 0, "expected n= and r=" },
		{ "n,,n=,r", 0, "expected n= and r=" },
		{ "n,,n=,r=", 0, "nonce is empty" },
		{ "n,,n=,r=a b", 0, "not printable" },
		{ "n,,n=,r=a\x7f", 0, "not printable" },
		{ "n,,n=,r=\xc3\xa9", 0, "not printable" },
		{ "n,,n=,r=abc,", 0, "malformed attribute" },
		{ "n,,n=,r=abc,1=x", 0, "malformed attribute" },
		{ "n,,n=,r=abc,,", 0, "malformed attribute" },
		{ "n,,n=,r=a\0c", 11, "NUL byte" },
	};
	struct pg_authfile *af = parse_ok("\"user\" \"" RFC_VERIFIER "\"\n");
	char out[PG_SCRAM_MSG_MAX], big[PG_SCRAM_MSG_MAX + 8];
	struct pg_scram_server s;
	const char *why;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
		why = NULL;
		assert_int_equal(server_first(&s, cases[i].in, len, out, &why), -1);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" is not \"%s\"", i, why, cases[i].why);
	}
	/* A nonce of PG_SCRAM_NONCE_MAX is taken, one more is not; so are
	 * ignored extensions, and a message too long is refused. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "n,,n=,r=", 8);
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	assert_true(server_first(&s, big, 8 + PG_SCRAM_NONCE_MAX, out, &why) > 0);
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	assert_int_equal(server_first(&s, big, 9 + PG_SCRAM_NONCE_MAX, out, &why), -1);
	assert_non_null(strstr(why, "too long"));
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	assert_int_equal(server_first(&s, big, PG_SCRAM_MSG_MAX, out, &why), -1);
	assert_string_equal(why, "SCRAM message too long");
	assert_int_equal(pg_scram_server_init(&s, find(af, "user"), &why), 0);
	assert_true(server_first(&s, S("n,,n=ignored=2C,r=abc,x=1,y=,z=a=b"), out, &why) > 0);
	pg_authfile_free(af);
}

static void test_server_final_malformed(void **state)
{
	/* base64 of 32 zero bytes: well formed, wrong */
#define ZERO_PROOF "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	static const struct bad cases[] = {
		{ "", 0, "expected c=" },
		{ "r=CNSN,c=biws,p=" ZERO_PROOF, 0, "expected c=" },
		{ "c=eSws,r=CNSN,p=" ZERO_PROOF, 0, "channel binding" },
		{ "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=CNSN,p=" ZERO_PROOF, 0, "channel binding" },
		{ "c=biws,r=CN,p=" ZERO_PROOF, 0, "nonce" },
		{ "c=biws,r=CNSNX,p=" ZERO_PROOF, 0, "nonce" },
		{ "c=biws,p=" ZERO_PROOF, 0, "nonce" },
		{ "c=biws,r=CNSN", 0, "expected p=" },
		{ "c=biws,r=CNSN,", 0, "expected p=" },
		{ "c=biws,r=CNSN,x=1", 0, "expected p=" },
		{ "c=biws,r=CNSN,p=", 0, "proof (p=) malformed" },
		{ "c=biws,r=CNSN,p=AAAA", 0, "proof (p=) malformed" },
		{ "c=biws,r=CNSN,p=" ZERO_PROOF "AAAA", 0, "proof (p=) malformed" },
		{ "c=biws,r=CNSN,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 0, "proof (p=) malformed" },
		{ "c=biws,r=CNSN,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA A", 0, "proof (p=) malformed" },
		{ "c=biws,r=CNSN,p=" ZERO_PROOF ",x=1", 0, "proof (p=) malformed or not last" },
		{ "c=biws,r=CNSN,p=" ZERO_PROOF "\0", 61, "NUL byte" },
		{ "c=biws,r=CNSN,p=" ZERO_PROOF, 0, "wrong password" },
		{ "c=biws,r=CNSN,x=y,p=" ZERO_PROOF, 0, "wrong password" },
	};
#undef ZERO_PROOF
	struct pg_authfile *af = parse_ok("\"user\" \"" RFC_VERIFIER "\"\n");
	char out[PG_SCRAM_MSG_MAX];
	struct pg_scram_server s;
	const char *why;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		server_at_final(&s, af);
		why = NULL;
		assert_int_equal(server_final(&s, cases[i].in, len, out, &why), -1);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" is not \"%s\"", i, why, cases[i].why);
	}
	pg_authfile_free(af);
}

static void test_client_final_malformed(void **state)
{
	static const struct bad cases[] = {
		{ "", 0, "nonce (r=) missing" },
		{ "m=x,r=CNx,s=QUJD,i=1", 0, "extension (m=)" },
		{ "s=QUJD,r=CNx,i=1", 0, "nonce (r=) missing" },
		{ "r=XYx,s=QUJD,i=1", 0, "not extending ours" },
		{ "r=C,s=QUJD,i=1", 0, "not extending ours" },
		{ "r=CN,s=QUJD,i=1", 0, "not extending ours" },
		{ "r=CN x,s=QUJD,i=1", 0, "not printable" },
		{ "r=CNx,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=QUJD=,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=QUJ,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=QU=D,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=QUJ\n,i=1", 0, "salt (s=)" },
		{ "r=CNx,s=QUJD", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=0", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=-1", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=+1", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=01", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=1x", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=1000001", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=99999999999999999999999", 0, "iteration count (i=)" },
		{ "r=CNx,s=QUJD,i=1,", 0, "malformed attribute" },
		{ "r=CNx,s=QUJD,i=1,=", 0, "malformed attribute" },
		{ "r=CNx,s=QUJD,i=1\0", 17, "NUL byte" },
	};
	struct pg_authfile *af = parse_ok("\"user\" \"pencil\"\n");
	char out[PG_SCRAM_MSG_MAX], big[PG_SCRAM_MSG_MAX];
	struct pg_scram_client c;
	const char *why;
	int n;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
		strcpy(c.nonce, "CN");
		pg_scram_client_first(&c, out);
		why = NULL;
		assert_int_equal(client_final(&c, cases[i].in, len, out, &why), -1);
		if (!strstr(why, cases[i].why))
			fail_msg("case %zu: \"%s\" is not \"%s\"", i, why, cases[i].why);
	}
	/* Extensions are ignored; the bound on iterations is the caller's. */
	assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
	strcpy(c.nonce, "CN");
	pg_scram_client_first(&c, out);
	assert_true(client_final(&c, S("r=CNx,s=QUJD,i=1,x=y"), out, &why) > 0);
	assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
	c.max_iterations = 10;
	strcpy(c.nonce, "CN");
	pg_scram_client_first(&c, out);
	assert_int_equal(client_final(&c, S("r=CNx,s=QUJD,i=11"), out, &why), -1);

	/* A server nonce that leaves no room for the proof. */
	n = snprintf(big, sizeof(big), "r=CN%0*d,s=QUJD,i=1", 1000, 0);
	assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
	strcpy(c.nonce, "CN");
	pg_scram_client_first(&c, out);
	assert_int_equal(client_final(&c, big, (size_t)n, out, &why), -1);
	assert_string_equal(why, "server nonce (r=) too long");
	pg_authfile_free(af);
}

static void test_client_verify_malformed(void **state)
{
	static const struct bad cases[] = {
		{ "", 0, "expected v= or e=" },
		{ "x=1", 0, "expected v= or e=" },
		{ "v", 0, "expected v= or e=" },
		{ "v=", 0, "malformed server-final-message" },
		{ "v=abc", 0, "malformed server-final-message" },
		{ "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0, "does not match" },
		{ "e=invalid-proof", 0, "server refused the SCRAM login: invalid-proof" },
		{ "e=other-error,x=1", 0, "server refused the SCRAM login: other-error" },
		{ "e=bad\x01\xff", 0, "server refused the SCRAM login: bad??" },
		{ "e=", 0, "server refused the SCRAM login: " },
	};
	struct pg_authfile *af = parse_ok("\"user\" \"pencil\"\n");
	char out[PG_SCRAM_MSG_MAX], good[PG_SCRAM_MSG_MAX];
	struct pg_scram_client c;
	const char *why;

	(void)state;
	for (size_t i = 0; i <= ARRAY_LEN(cases) + 1; i++) {
		assert_int_equal(pg_scram_client_init(&c, find(af, "user"), &why), 0);
		strcpy(c.nonce, "rOprNGfwEbeRWgbNEkqO");
		c.name = "user";
		pg_scram_client_first(&c, out);
		assert_true(client_final(&c, S(RFC_SERVER_FIRST), out, &why) > 0);
		why = NULL;
		if (i == ARRAY_LEN(cases)) {		/* the right one, with an extension */
			snprintf(good, sizeof(good), "%s,x=y", RFC_SERVER_FINAL);
			assert_int_equal(client_verify(&c, good, strlen(good), &why), 0);
		} else if (i == ARRAY_LEN(cases) + 1) {	/* the right one, cut */
			assert_int_equal(client_verify(&c, S(RFC_SERVER_FINAL) - 1, &why), -1);
		} else {
			assert_int_equal(client_verify(&c, cases[i].in, strlen(cases[i].in), &why), -1);
			if (!strstr(why, cases[i].why))
				fail_msg("case %zu: \"%s\" is not \"%s\"", i, why, cases[i].why);
		}
	}
	pg_authfile_free(af);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_rfc7677_server),
		cmocka_unit_test(test_channel_binding_y),
		cmocka_unit_test(test_verifier_known),
		cmocka_unit_test(test_client_server),
		cmocka_unit_test(test_client_catches_impostor),
		cmocka_unit_test(test_md5),
		cmocka_unit_test(test_cleartext),
		cmocka_unit_test(test_authfile_ok),
		cmocka_unit_test(test_authfile_errors),
		cmocka_unit_test(test_authfile_limits),
		cmocka_unit_test(test_authfile_load),
		cmocka_unit_test(test_server_first_malformed),
		cmocka_unit_test(test_server_final_malformed),
		cmocka_unit_test(test_client_final_malformed),
		cmocka_unit_test(test_client_verify_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
