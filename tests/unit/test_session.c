/*
 * test_session.c - redis/session.c: what a client set on its server
 * connection, learnt from commands and replies, and its replay.
 *
 * Covers each change (SELECT, CLIENT SETNAME, HELLO with AUTH and
 * SETNAME, AUTH with and without a user, RESET) applied only once its
 * reply comes without an error and in reply order when pipelined; changes
 * that cannot be followed marking the session lost (inside MULTI, in
 * subscribe mode, an argument too long, subscriptions past their bound);
 * subscription commands kept as sent; and the exact bytes and reply count
 * of the replay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis/session.h"

#define C(lit) lit, sizeof(lit) - 1

static const struct resp_limits lim = { 512 << 20, 1 << 20, 64 << 10 };

/* Read one whole command from text into *rd. */
static void read_cmd_n(struct resp_reader *rd, const char *text, size_t n)
{
	size_t used;
	const char *why;

	resp_reader_init(rd, RESP_REQUEST, &lim);
	assert_int_equal(resp_feed(rd, text, n, &used, &why), RESP_DONE);
	assert_int_equal(used, n);
}

static void read_cmd(struct resp_reader *rd, const char *text)
{
	read_cmd_n(rd, text, strlen(text));
}

/* Send text as the seq-th command (0: in subscribe mode). */
static void send_cmd(struct rsession *s, const char *text, uint64_t seq, bool in_multi)
{
	struct resp_reader rd;

	read_cmd(&rd, text);
	rsession_command(s, &rd, seq, in_multi);
}

struct out {
	char buf[4096];
	size_t len;
};

static void put(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;

	assert_true(o->len + n < sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static int replay(const struct rsession *s, struct out *o, bool *marker)
{
	memset(o, 0, sizeof(*o));
	return rsession_replay(s, put, o, "tok-1", marker);
}

static void test_nothing_set_replays_nothing(void **state)
{
	struct rsession s;
	struct out o;
	bool marker = true;

	(void)state;
	rsession_init(&s);
	send_cmd(&s, "GET k\r\n", 1, false);
	rsession_reply(&s, 1, false);
	assert_int_equal(replay(&s, &o, &marker), 0);
	assert_int_equal(o.len, 0);
	assert_false(marker);
	assert_null(s.lost);
	rsession_free(&s);
}

static void test_changes_apply_on_success_in_order(void **state)
{
	struct rsession s;
	struct out o;
	bool marker;

	(void)state;
	rsession_init(&s);
	send_cmd(&s, "SELECT 3\r\n", 1, false);
	send_cmd(&s, "SELECT 99\r\n", 2, false);	/* refused by the server */
	send_cmd(&s, "client setname app-1\r\n", 3, false);
	send_cmd(&s, "HELLO 3\r\n", 4, false);
	assert_string_equal(s.db, "");			/* no reply yet */
	rsession_reply(&s, 1, false);
	assert_string_equal(s.db, "3");
	rsession_reply(&s, 2, true);
	assert_string_equal(s.db, "3");
	rsession_reply(&s, 3, false);
	rsession_reply(&s, 4, false);
	assert_string_equal(s.name, "app-1");
	assert_int_equal(s.proto, 3);
	assert_int_equal(replay(&s, &o, &marker), 3);
	assert_string_equal(o.buf, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
				   "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
				   "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$5\r\napp-1\r\n");
	assert_false(marker);
	rsession_free(&s);
}

static void test_auth_and_hello_options(void **state)
{
	struct rsession s;
	struct out o;
	bool marker;

	(void)state;
	rsession_init(&s);
	send_cmd(&s, "AUTH secret\r\n", 1, false);
	rsession_reply(&s, 1, false);
	assert_true(s.auth);
	assert_string_equal(s.user, "default");
	assert_string_equal(s.pass, "secret");
	send_cmd(&s, "*7\r\n$5\r\nHELLO\r\n$1\r\n2\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$2\r\npw\r\n"
		     "$7\r\nSETNAME\r\n$1\r\nn\r\n", 2, false);
	rsession_reply(&s, 2, false);
	assert_string_equal(s.user, "bob");
	assert_string_equal(s.pass, "pw");
	assert_string_equal(s.name, "n");
	assert_int_equal(s.proto, 2);
	assert_int_equal(replay(&s, &o, &marker), 3);
	assert_memory_equal(o.buf, "*3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$2\r\npw\r\n", 31);
	rsession_free(&s);
}

static void test_reset_clears_everything(void **state)
{
	struct rsession s;
	struct out o;
	bool marker;

	(void)state;
	rsession_init(&s);
	send_cmd(&s, "SELECT 2\r\n", 1, false);
	rsession_capture(&s, "SUBSCRIBE a\r\n", 13);
	send_cmd(&s, "RESET\r\n", 2, false);
	rsession_capture(&s, "SUBSCRIBE b\r\n", 13);	/* sent after RESET, before its reply */
	rsession_reply(&s, 1, false);
	rsession_reply(&s, 2, false);
	assert_int_equal(replay(&s, &o, &marker), 0);
	assert_true(marker);
	assert_string_equal(o.buf, "SUBSCRIBE b\r\n*2\r\n$4\r\nPING\r\n$5\r\ntok-1\r\n");
	/* two RESETs in flight: each drops what was captured before it */
	send_cmd(&s, "RESET\r\n", 3, false);
	rsession_capture(&s, "SUBSCRIBE c\r\n", 13);
	send_cmd(&s, "RESET\r\n", 4, false);
	rsession_capture(&s, "SUBSCRIBE d\r\n", 13);
	rsession_reply(&s, 3, false);
	assert_int_equal(s.subs_len, 26);
	rsession_reply(&s, 4, false);
	assert_int_equal(s.subs_len, 13);
	assert_memory_equal(s.subs, "SUBSCRIBE d\r\n", 13);
	rsession_free(&s);
}

static void test_subscriptions_are_replayed_as_sent(void **state)
{
	struct rsession s;
	struct out o;
	struct resp_reader rd;
	bool marker;

	(void)state;
	rsession_init(&s);
	read_cmd(&rd, "psubscribe ev.*\r\n");
	assert_true(rsession_is_sub(&rd));
	read_cmd(&rd, "SUNSUBSCRIBE\r\n");
	assert_true(rsession_is_sub(&rd));
	read_cmd(&rd, "PUBLISH a b\r\n");
	assert_false(rsession_is_sub(&rd));
	rsession_capture(&s, "SUBSCRIBE a b\r\n", 15);
	rsession_capture(&s, "UNSUBSCRIBE b\r\n", 15);
	assert_int_equal(replay(&s, &o, &marker), 0);
	assert_true(marker);
	assert_string_equal(o.buf, "SUBSCRIBE a b\r\nUNSUBSCRIBE b\r\n*2\r\n$4\r\nPING\r\n$5\r\ntok-1\r\n");
	rsession_free(&s);
}

static void test_what_cannot_be_followed_is_lost(void **state)
{
	static const struct {
		const char *cmd;
		size_t len;
		uint64_t seq;
		bool in_multi;
	} cases[] = {
		{ C("SELECT 1\r\n"), 1, true },		/* queued in a MULTI */
		{ C("SELECT 1\r\n"), 0, false },		/* RESP3 subscribe mode: replies not matched */
		{ C("MONITOR\r\n"), 0, false },		/* its replies are not restored */
		{ C("CLIENT TRACKING on\r\n"), 1, false },
		{ C("client reply off\r\n"), 1, false },
		{ C("SUBSCRIBE a\r\n"), 0, true },		/* queued: may be discarded */
		{ C("*2\r\n$4\r\nAUTH\r\n$3\r\na\0b\r\n"), 1, false },	/* a NUL cannot be replayed */
		{ C("*8\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n$7\r\nSETNAME\r\n$1\r\nn\r\n$1\r\nx\r\n"),
		  1, false },				/* more arguments than kept */
	};
	struct rsession s;
	char big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp_reader rd;

		rsession_init(&s);
		read_cmd_n(&rd, cases[i].cmd, cases[i].len);
		rsession_command(&s, &rd, cases[i].seq, cases[i].in_multi);
		assert_non_null(s.lost);
		rsession_free(&s);
	}
	/* an argument longer than what is kept */
	rsession_init(&s);
	memset(big, 'n', sizeof(big));
	snprintf(big, sizeof(big), "CLIENT SETNAME %0200d\r\n", 7);
	send_cmd(&s, big, 1, false);
	assert_non_null(s.lost);
	rsession_free(&s);
	/* commands that change nothing are never lost */
	rsession_init(&s);
	send_cmd(&s, "GET k\r\n", 1, true);
	send_cmd(&s, "PING\r\n", 0, false);
	assert_null(s.lost);
	rsession_free(&s);
}

static void test_subscriptions_are_bounded(void **state)
{
	struct rsession s;
	char chunk[4096];

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	rsession_init(&s);
	for (size_t n = 0; n < RSESSION_SUBS_MAX / sizeof(chunk); n++)
		rsession_capture(&s, chunk, sizeof(chunk));
	assert_null(s.lost);
	rsession_capture(&s, chunk, 1);
	assert_non_null(s.lost);
	assert_int_equal(s.subs_len, RSESSION_SUBS_MAX);
	rsession_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_set_replays_nothing),
		cmocka_unit_test(test_changes_apply_on_success_in_order),
		cmocka_unit_test(test_auth_and_hello_options),
		cmocka_unit_test(test_reset_clears_everything),
		cmocka_unit_test(test_subscriptions_are_replayed_as_sent),
		cmocka_unit_test(test_what_cannot_be_followed_is_lost),
		cmocka_unit_test(test_subscriptions_are_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
