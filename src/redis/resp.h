/*
 * resp.h - an incremental reader of RESP (the Redis protocol, RESP2 and
 * RESP3) that never needs a whole value in memory: it is fed bytes as
 * they arrive, says how many of them it has consumed, and stops at the
 * end of each top-level value. A proxy relays the consumed bytes at once,
 * so a 512 MB bulk string passes through a 16 KiB buffer.
 *
 * Two directions, two grammars:
 *   - RESP_REQUEST (client -> server): what redis-server accepts: an array
 *     of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), or an inline
 *     command (a line of words split as redis-server's sdssplitargs does,
 *     "double" and 'single' quotes included, ending in LF or CRLF). An
 *     empty line, "*0" and "*-1" are values with argc 0: redis-server
 *     skips them, and so should the caller. Arguments up to
 *     RESP_ARG_CAP bytes of the first RESP_ARGS_KEPT are kept (the
 *     command's name and first arguments: SELECT 1, CLIENT SETNAME x,
 *     HELLO 3), so that the proxy can see what a command does.
 *   - RESP_REPLY (server -> client): every RESP2 and RESP3 type: + - : $ *
 *     and _ , # ! = ( % ~ > |. An attribute (|) belongs to the value after
 *     it and does not end a top-level value; a push (>) is a top-level
 *     value of its own (s->type says which it was). Streamed strings and
 *     aggregates ($? *?) are refused: no Redis server sends them.
 *
 * Invariants: resp_feed consumes only bytes it has judged or holds in
 * its own state (a type line is judged whole at its CR, as redis-server
 * does; any other byte as it comes); a malformed input is reported there,
 * with a short reason fit for a client's "-ERR Protocol error: <reason>";
 * limits are the caller's (struct resp_limits), and nothing grows with
 * the input: the reader keeps no pointer into what it is fed.
 */
#ifndef ND_REDIS_RESP_H
#define ND_REDIS_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_DEPTH 32	/* nesting of aggregates in a reply */
#define RESP_LINE_MAX 64	/* a type line ("*1048576", ":-123", "$512000000") */
#define RESP_ARGS_KEPT 7	/* arguments of a request kept for the proxy (HELLO 3 AUTH u p SETNAME n) */
#define RESP_ARG_CAP 128	/* bytes kept of each (AUTH passwords among them) */

enum resp_dir { RESP_REQUEST, RESP_REPLY };

struct resp_limits {
	int64_t max_bulk;	/* longest bulk string ($), e.g. 512 MB (proto-max-bulk-len) */
	int64_t max_elements;	/* most elements of one aggregate, e.g. 1048576 */
	size_t max_inline;	/* longest inline command / simple line, e.g. 64 KiB */
};

/* One kept argument: its first RESP_ARG_CAP bytes and its real length. */
struct resp_arg {
	char p[RESP_ARG_CAP];
	size_t len;		/* may exceed RESP_ARG_CAP; p holds the start */
};

struct resp_reader {
	/* settings (resp_reader_init) */
	enum resp_dir dir;
	struct resp_limits lim;

	/* the top-level value being read, or the last one ended */
	char type;		/* its first byte ('*', '$', '>', ...; 'i' for inline) */
	int64_t argc;		/* request: its number of arguments (inline: so far);
				 * reply: the elements of a top-level aggregate */
	struct resp_arg argv[RESP_ARGS_KEPT];	/* request: the first ones */
	int nkept;		/* argv[0, nkept) are whole arguments */

	/* private state (resp.c) */
	int state;			/* what the next byte is */
	const char *why;		/* set once an error was reported */
	char cur;			/* type byte of the line being read */
	int depth;			/* aggregates open */
	uint32_t attrs;			/* bit d: level d is an attribute (|) */
	int64_t left[RESP_MAX_DEPTH];	/* elements still to read at each level */
	int64_t count;			/* the number a type line holds, from its CR to its LF */
	int64_t bulk_left;		/* payload bytes still to read (the CRLF after: state) */
	int64_t arg_index;		/* request: which argument is being read */
	char line[RESP_LINE_MAX];	/* a type line being read (not a simple line: counted only) */
	size_t line_len;
	size_t inline_len;		/* bytes of an inline command so far */
	unsigned char hex;		/* inline: the first digit of a "\xHH" */
	bool started;			/* a top-level value has begun */
};

enum resp_result {
	RESP_MORE,		/* every byte given was consumed; the value goes on */
	RESP_DONE,		/* one top-level value ended at *used */
	RESP_ERROR,		/* malformed at *used: *why says how */
};

void resp_reader_init(struct resp_reader *r, enum resp_dir dir, const struct resp_limits *lim);

/*
 * Read p[0, n): consumes bytes up to the end of the current top-level
 * value and stops there (RESP_DONE), or consumes all n (RESP_MORE), or
 * stops at the first invalid byte (RESP_ERROR, *why set to a static
 * string). *used is the bytes consumed in every case. After RESP_DONE the
 * next call starts a new value (r->type, argc, argv describe the one that
 * ended until then). After RESP_ERROR every feed is refused again (used
 * 0, the same *why): the connection cannot be read any further.
 */
enum resp_result resp_feed(struct resp_reader *r, const char *p, size_t n, size_t *used,
			   const char **why);

/* Has a value begun and not yet ended? (a proxy stopping at command
 * boundaries waits for false) */
static inline bool resp_in_value(const struct resp_reader *r)
{
	return r->started;
}

/* Does kept argument i equal s, ignoring ASCII case? (false if not kept
 * or longer than RESP_ARG_CAP) */
bool resp_arg_is(const struct resp_reader *r, int i, const char *s);

/* Write the command argv[0, argc) (NUL-terminated strings) as a RESP
 * array of bulk strings, through put(ctx, bytes). */
void resp_write_command(void (*put)(void *ctx, const char *p, size_t n), void *ctx, int argc,
			const char *const *argv);

/* Does argument a equal s, ignoring ASCII case? */
bool resp_arg_is_str(const struct resp_arg *a, const char *s);

#endif
