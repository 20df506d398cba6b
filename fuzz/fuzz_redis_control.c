/*
 * fuzz_redis_control.c - libFuzzer target for what nodown reads of a
 * redis server's text answers on its control connections (redis/monitor.c:
 * INFO fields, CLIENT LIST entries) and for the session tracker
 * (redis/session.c) driven by arbitrary commands and replies.
 *
 * The input is, in turn: an INFO answer whose fields are looked up; a
 * CLIENT LIST answer, listed whole and blocked only; and a stream of
 * requests, each read by the RESP reader and given to the session tracker
 * as sent (with a sequence number, in MULTI or not, taken from the input)
 * and answered (an error or not), then replayed.
 *
 * Aborts (a bug) when:
 *  - a field found is longer than its buffer allows, or an entry of the
 *    list lacks one of its eight fields, holds a byte that is not
 *    printable ASCII, or is nodown's own or a replication link;
 *  - the blocked-only list is longer than the whole list;
 *  - a replay writes fewer commands than it counts, or says there are
 *    subscriptions when none are kept, or the subscriptions kept exceed
 *    their bound.
 * ASan/UBSan catch the rest.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "redis/monitor.h"
#include "redis/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void info_fields(const char *p, size_t n)
{
	static const char *const keys[] = { "role", "master_host", "master_port", "master_link_status",
					     "slave_repl_offset", "master_repl_offset" };
	struct redis_reply rep = { '$', p, n };
	char out[32];

	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (redis_info_field(&rep, keys[i], out, sizeof(out)) && strlen(out) >= sizeof(out))
			abort();
}

static void check_entry(json_t *e)
{
	static const char *const keys[] = { "id", "addr", "name", "age", "idle", "db", "flags", "cmd" };

	for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
		const char *v = json_string_value(json_object_get(e, keys[k]));

		if (!v)
			abort();
		for (const char *c = v; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				abort();
	}
	if (!strcmp(json_string_value(json_object_get(e, "name")), REDIS_MON_NAME) ||
	    strpbrk(json_string_value(json_object_get(e, "flags")), "SM"))
		abort();
}

static void client_list(const char *p, size_t n)
{
	struct redis_reply rep = { '$', p, n };
	json_t *all = redis_client_list(&rep, false), *blocked = redis_client_list(&rep, true), *e;
	size_t i;

	if (json_array_size(blocked) > json_array_size(all))
		abort();
	json_array_foreach(all, i, e)
		check_entry(e);
	json_decref(all);
	json_decref(blocked);
}

struct out {
	size_t len;
};

static void put(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;

	if (n && !p)
		abort();
	o->len += n;
}

/* Requests from the input: each whole one is "sent" and "answered". */
static void session(const uint8_t *data, size_t size)
{
	static const struct resp_limits lim = { 1 << 16, 64, 1 << 12 };
	struct rsession s;
	struct resp_reader rd;
	uint64_t seq = 0;
	size_t off = 0;
	struct out o = { 0 };
	bool marker;
	int n;

	rsession_init(&s);
	resp_reader_init(&rd, RESP_REQUEST, &lim);
	while (off < size) {
		size_t used;
		const char *why;
		uint8_t flags = data[off];
		enum resp_result r = resp_feed(&rd, (const char *)data + off, size - off, &used, &why);

		if (r != RESP_DONE)
			break;
		if (rsession_is_sub(&rd))
			rsession_capture(&s, (const char *)data + off, used);
		off += used;
		rsession_command(&s, &rd, flags & 1 ? 0 : ++seq, flags & 2);
		if (seq && (flags & 4))
			rsession_reply(&s, seq, flags & 8);
	}
	for (uint64_t k = 1; k <= seq; k++)
		rsession_reply(&s, k, false);
	if (s.subs_len > RSESSION_SUBS_MAX)
		abort();
	n = rsession_replay(&s, put, &o, "tok", &marker);
	if (n < 0 || n > 4 || (marker && s.subs_len == 0) || (!marker && s.subs_len > 0) ||
	    (n > 0 && o.len == 0))
		abort();
	rsession_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);

	memcpy(copy, data, size);
	copy[size] = '\0';
	info_fields(copy, size);
	client_list(copy, size);
	free(copy);
	session(data, size);
	return 0;
}
