/*
 * resp.c - the incremental RESP reader (resp.h): where a request or a
 * reply ends, whether it is well formed, and a request's first arguments.
 * Parsing only; redis/proxy.c moves the bytes.
 *
 * Owns: struct resp_reader's private state, a byte-at-a-time state
 *       machine; only a bulk string's payload is taken in runs.
 * Invariants:
 *   - the result of a feed depends on the bytes only, never on how they
 *     were cut: every decision is made on one byte with the state left by
 *     the ones before it, and the state holds no pointer into them;
 *   - a type line ("*3", "$5", ":-1") is judged whole at its CR, as
 *     redis-server does, and acted on at the LF that must follow it; any
 *     other byte is judged as it comes;
 *   - aggregates nest at most RESP_MAX_DEPTH deep: left[] is the stack;
 *     an attribute (|) is a level whose end counts as no element.
 * Runs on: any thread; no allocation, no state outside the reader.
 *
 * Where this reader is stricter than redis-server (whose own parser, in
 * networking.c, is what a request must get past): it wants the LF after
 * each CR of a multibulk request (redis-server skips the byte unread), it
 * refuses "*-2" and below (redis-server takes any count <= 0 as empty),
 * it refuses a NUL in an inline command at once (redis-server looks for
 * the end of the line with strchr, so never finds it, and fails with "too
 * big inline request" once 64 KiB have come), and its inline limit is
 * exact (redis-server's is checked per read, so a line may exceed it by
 * up to one read).
 */
#include "resp.h"

#include "../core/common.h"

_Static_assert(RESP_MAX_DEPTH <= 32, "resp_reader.attrs has a bit per level");

enum state {
	S_TYPE,		/* the first byte of a value */
	S_LINE,		/* a type line, up to its CR */
	S_LINE_LF,	/* the LF after it */
	S_BULK,		/* a bulk string's payload */
	S_BULK_CR,	/* the CRLF after it */
	S_BULK_LF,
	S_BLANK,	/* inline: between words */
	S_WORD,		/* inline: in a bare word */
	S_DQ,		/* inline: in "..." */
	S_DQ_ESC,	/* after its \ */
	S_DQ_X,		/* after its \x */
	S_DQ_XH,	/* after its \x and a hex digit */
	S_SQ,		/* inline: in '...' */
	S_SQ_ESC,	/* after its \ */
	S_QUOTE_END,	/* inline: after a closing quote */
};

/* How the line of a type is read. */
enum kind {
	K_UNKNOWN,
	K_SIMPLE,	/* + - , (: any bytes but CR and LF, up to lim.max_inline */
	K_INT,		/* : a signed 64-bit integer */
	K_BOOL,		/* # t or f */
	K_NULL,		/* _ nothing */
	K_BULK,		/* $ ! =: a length, then that many bytes and CRLF */
	K_AGG,		/* * ~ >: a count of elements */
	K_PAIRS,	/* %: a count of pairs of elements */
	K_ATTR,		/* |: the same, belonging to the value after them */
};

struct rule {
	enum kind kind;
	const char *bad;	/* the line does not read */
	const char *big;	/* the line is longer than its limit */
};

#define BULK_RULE { K_BULK, "invalid bulk length", "too big bulk count string" }
#define AGG_RULE(k) { k, "invalid aggregate length", "too big aggregate count string" }
#define SIMPLE_RULE { K_SIMPLE, "newline inside a simple string", "too big simple string" }

static const struct rule rules[256] = {
	['+'] = SIMPLE_RULE,
	['-'] = SIMPLE_RULE,
	[','] = SIMPLE_RULE,
	['('] = SIMPLE_RULE,
	[':'] = { K_INT, "invalid integer", "invalid integer" },
	['#'] = { K_BOOL, "invalid boolean", "invalid boolean" },
	['_'] = { K_NULL, "invalid null", "invalid null" },
	['$'] = BULK_RULE,
	['!'] = BULK_RULE,
	['='] = BULK_RULE,
	['*'] = { K_AGG, "invalid multibulk length", "too big mbulk count string" },
	['~'] = AGG_RULE(K_AGG),
	['>'] = AGG_RULE(K_AGG),
	['%'] = AGG_RULE(K_PAIRS),
	['|'] = AGG_RULE(K_ATTR),
};

/* Step results: the byte was consumed, or it ended the top-level value,
 * or it was refused (r->why says why). */
enum { STEP_MORE, STEP_DONE, STEP_ERROR = -1 };

static const struct rule *rule_of(char type)
{
	return &rules[(unsigned char)type];
}

static int fail(struct resp_reader *r, const char *why)
{
	r->why = why;
	return STEP_ERROR;
}

void resp_reader_init(struct resp_reader *r, enum resp_dir dir, const struct resp_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->lim = *lim;
	r->state = S_TYPE;
}

/* ---- numbers ------------------------------------------------------------- */

/* redis-server's string2ll: an optional '-', then "0" or a digit 1-9 and
 * more digits, within int64_t; no '+', no "-0", no leading zero. */
static bool parse_ll(const char *s, size_t n, int64_t *v)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t u = 0, max = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
	size_t i = neg;

	if (i == n || (s[i] == '0' && n > 1))
		return false;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || u > (max - d) / 10)
			return false;
		u = u * 10 + d;
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

/* The lengths and counts a type line may hold in this direction. */
static void bounds(const struct resp_reader *r, char type, int64_t *min, int64_t *max)
{
	switch (rule_of(type)->kind) {
	case K_BULK:
		*min = type == '$' && r->dir == RESP_REPLY ? -1 : 0;	/* $-1: RESP2 null */
		*max = r->lim.max_bulk;
		return;
	case K_AGG:
		*min = type == '*' ? -1 : 0;		/* *-1: RESP2 null, or an empty command */
		*max = r->lim.max_elements;
		return;
	default:	/* pairs: twice as many elements, which must fit left[] */
		*min = 0;
		*max = r->lim.max_elements < INT64_MAX / 2 ? r->lim.max_elements : INT64_MAX / 2;
		return;
	}
}

/* ---- values ending -------------------------------------------------------- */

/* Reset what describes the top-level value, as its first byte arrives. */
static void start_value(struct resp_reader *r)
{
	r->started = true;
	r->type = 0;
	r->argc = 0;
	r->nkept = 0;
	r->arg_index = 0;
	r->inline_len = 0;
}

/* A value was read whole; it is an element of the levels open, which may
 * end with it. An attribute's end is no element of the level around it. */
static int value_done(struct resp_reader *r)
{
	r->state = S_TYPE;
	while (r->depth > 0) {
		int d = r->depth - 1;
		bool attr = r->attrs & (1u << d);

		if (--r->left[d] > 0)
			return STEP_MORE;
		r->depth = d;
		r->attrs &= ~(1u << d);
		if (attr)
			return STEP_MORE;
	}
	r->started = false;
	return STEP_DONE;
}

static void push(struct resp_reader *r, int64_t elements, bool attr)
{
	BUG_ON(r->depth >= RESP_MAX_DEPTH);
	r->left[r->depth] = elements;
	if (attr)
		r->attrs |= 1u << r->depth;
	r->depth++;
	r->state = S_TYPE;
}

/* ---- arguments kept -------------------------------------------------------- */

static struct resp_arg *kept(struct resp_reader *r)
{
	return r->arg_index < RESP_ARGS_KEPT ? &r->argv[r->arg_index] : NULL;
}

static void arg_put(struct resp_reader *r, char c)
{
	struct resp_arg *a = kept(r);

	if (!a)
		return;
	if (a->len < RESP_ARG_CAP)
		a->p[a->len] = c;
	a->len++;
}

static void arg_done(struct resp_reader *r)
{
	if (kept(r))
		r->nkept++;
	r->arg_index++;
}

/* ---- inline commands --------------------------------------------------------- */

static bool is_blank(char c)	/* isspace() in the C locale */
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static char unescape(char c)
{
	switch (c) {
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'b': return '\b';
	case 'a': return '\a';
	default: return c;
	}
}

static void word_start(struct resp_reader *r)
{
	struct resp_arg *a = kept(r);

	if (a)
		a->len = 0;
	r->state = S_WORD;
}

static int word_end(struct resp_reader *r, char c)
{
	arg_done(r);
	r->argc++;
	if (c != '\n') {
		r->state = S_BLANK;
		return STEP_MORE;
	}
	r->state = S_TYPE;
	r->started = false;
	return STEP_DONE;
}

/*
 * One byte of an inline command, LF ending it, as sdssplitargs splits the
 * line: words are separated by blanks (a bare word ends at a space, tab or
 * CR; blanks between words are any isspace()); "..." takes \n \r \t \b \a
 * \xHH and \<any> escapes, '...' only \'; a closing quote must be followed
 * by a blank or the end. A CR before the LF needs no case of its own: it
 * ends a bare word, follows a closing quote, or is inside quotes, which
 * the LF refuses anyway.
 */
static int inline_byte(struct resp_reader *r, char c)
{
	int h;

	if (c == '\n' && r->state >= S_DQ && r->state <= S_SQ_ESC)	/* in quotes */
		return fail(r, "unbalanced quotes in request");
	switch (r->state) {
	case S_BLANK:
		if (c == '\n') {
			r->state = S_TYPE;
			r->started = false;
			return STEP_DONE;
		}
		if (is_blank(c))
			return STEP_MORE;
		word_start(r);
		return inline_byte(r, c);
	case S_WORD:
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			return word_end(r, c);
		if (c == '"' || c == '\'')
			r->state = c == '"' ? S_DQ : S_SQ;
		else
			arg_put(r, c);
		return STEP_MORE;
	case S_DQ:
		if (c == '\\' || c == '"')
			r->state = c == '"' ? S_QUOTE_END : S_DQ_ESC;
		else
			arg_put(r, c);
		return STEP_MORE;
	case S_DQ_ESC:
		if (c == 'x') {
			r->state = S_DQ_X;
			return STEP_MORE;
		}
		arg_put(r, unescape(c));
		r->state = S_DQ;
		return STEP_MORE;
	case S_DQ_X:
		if (nd_hexval((unsigned char)c) >= 0) {
			r->hex = (unsigned char)c;
			r->state = S_DQ_XH;
			return STEP_MORE;
		}
		arg_put(r, 'x');		/* \x without two digits is x */
		r->state = S_DQ;
		return inline_byte(r, c);
	case S_DQ_XH:
		h = nd_hexval((unsigned char)c);
		r->state = S_DQ;
		if (h >= 0) {
			arg_put(r, (char)(nd_hexval((unsigned char)r->hex) * 16 + h));
			return STEP_MORE;
		}
		arg_put(r, 'x');
		arg_put(r, (char)r->hex);
		return inline_byte(r, c);
	case S_SQ:
		if (c == '\\' || c == '\'')
			r->state = c == '\'' ? S_QUOTE_END : S_SQ_ESC;
		else
			arg_put(r, c);
		return STEP_MORE;
	case S_SQ_ESC:
		r->state = S_SQ;
		if (c == '\'') {
			arg_put(r, c);
			return STEP_MORE;
		}
		arg_put(r, '\\');
		return inline_byte(r, c);
	default:	/* S_QUOTE_END */
		if (!is_blank(c))
			return fail(r, "unbalanced quotes in request");
		return word_end(r, c);
	}
}

/* The limits of an inline command, then its byte. The line may hold
 * lim.max_inline bytes, and a CR more before its LF. */
static int inline_next(struct resp_reader *r, char c)
{
	if (c != '\n') {
		if (r->inline_len > r->lim.max_inline ||
		    (r->inline_len == r->lim.max_inline && c != '\r'))
			return fail(r, "too big inline request");
		r->inline_len++;
	}
	if (c == '\0')
		return fail(r, "NUL byte in inline request");
	return inline_byte(r, c);
}

/* ---- type lines ---------------------------------------------------------- */

static int type_byte(struct resp_reader *r, char c)
{
	if (r->dir == RESP_REQUEST) {
		if (r->depth == 0) {
			start_value(r);
			r->type = c == '*' ? '*' : 'i';
			if (c != '*') {
				r->state = S_BLANK;
				return inline_next(r, c);
			}
		} else if (c != '$') {
			return fail(r, "expected '$', got something else");
		}
	} else {
		if (rule_of(c)->kind == K_UNKNOWN)
			return fail(r, "unknown reply type");
		if (!r->started)
			start_value(r);
		if (r->depth == 0 && c != '|')
			r->type = c;
	}
	r->cur = c;
	r->line_len = 0;
	r->state = S_LINE;
	return STEP_MORE;
}

static int line_byte(struct resp_reader *r, char c)
{
	const struct rule *ru = rule_of(r->cur);

	if (c == '\n')
		return fail(r, ru->bad);
	if (ru->kind == K_SIMPLE) {
		if (r->line_len >= r->lim.max_inline)
			return fail(r, ru->big);
		r->line_len++;
		return STEP_MORE;
	}
	if (c == '?' && r->line_len == 0 && r->dir == RESP_REPLY && ru->kind >= K_BULK)	/* $? *? %? */
		return fail(r, "streamed values are not supported");
	if (r->line_len == RESP_LINE_MAX)
		return fail(r, ru->big);
	r->line[r->line_len++] = c;
	return STEP_MORE;
}

/* The CR of a type line: does the line read? Its number goes to r->count. */
static int line_end(struct resp_reader *r)
{
	const struct rule *ru = rule_of(r->cur);
	int64_t min, max, v = 0;

	switch (ru->kind) {
	case K_SIMPLE:
		break;
	case K_INT:
		if (!parse_ll(r->line, r->line_len, &v))
			return fail(r, ru->bad);
		break;
	case K_BOOL:
		if (r->line_len != 1 || (r->line[0] != 't' && r->line[0] != 'f'))
			return fail(r, ru->bad);
		break;
	case K_NULL:
		if (r->line_len != 0)
			return fail(r, ru->bad);
		break;
	default:
		bounds(r, r->cur, &min, &max);
		if (!parse_ll(r->line, r->line_len, &v) || v < min || v > max)
			return fail(r, ru->bad);
		if (ru->kind != K_BULK && v > 0 && r->dir == RESP_REPLY && r->depth == RESP_MAX_DEPTH)
			return fail(r, "too deeply nested");
		break;
	}
	r->count = v;
	r->state = S_LINE_LF;
	return STEP_MORE;
}

/* The LF of a type line: what it announced begins (or is already whole). */
static int line_done(struct resp_reader *r)
{
	const struct rule *ru = rule_of(r->cur);
	int64_t n = r->count;

	switch (ru->kind) {
	case K_BULK:
		if (n < 0)
			return value_done(r);		/* $-1 */
		if (r->dir == RESP_REQUEST && kept(r))
			kept(r)->len = (size_t)n;
		r->bulk_left = n;
		r->state = n > 0 ? S_BULK : S_BULK_CR;
		return STEP_MORE;
	case K_AGG:
	case K_PAIRS:
	case K_ATTR:
		if (r->dir == RESP_REQUEST || (r->depth == 0 && ru->kind != K_ATTR))
			r->argc = n > 0 ? n : 0;
		if (n <= 0 && ru->kind == K_ATTR) {
			r->state = S_TYPE;		/* |0: no element, and no value */
			return STEP_MORE;
		}
		if (n <= 0)
			return value_done(r);		/* *0, *-1 */
		push(r, ru->kind == K_AGG ? n : 2 * n, ru->kind == K_ATTR);
		return STEP_MORE;
	default:
		return value_done(r);
	}
}

/* A bulk string's payload, as much of p[0, n) as belongs to it. */
static size_t bulk_data(struct resp_reader *r, const char *p, size_t n)
{
	size_t k = (uint64_t)r->bulk_left < n ? (size_t)r->bulk_left : n;
	struct resp_arg *a = r->dir == RESP_REQUEST ? kept(r) : NULL;

	if (a) {
		size_t off = a->len - (size_t)r->bulk_left;

		if (off < RESP_ARG_CAP)
			memcpy(a->p + off, p, k < RESP_ARG_CAP - off ? k : RESP_ARG_CAP - off);
	}
	r->bulk_left -= (int64_t)k;
	if (r->bulk_left == 0)
		r->state = S_BULK_CR;
	return k;
}

static int bulk_end(struct resp_reader *r, char c)
{
	if (c != (r->state == S_BULK_CR ? '\r' : '\n'))
		return fail(r, "expected CRLF after bulk string");
	if (r->state == S_BULK_CR) {
		r->state = S_BULK_LF;
		return STEP_MORE;
	}
	if (r->dir == RESP_REQUEST)
		arg_done(r);
	return value_done(r);
}

/* ---- the reader ----------------------------------------------------------- */

static int step(struct resp_reader *r, char c)
{
	switch (r->state) {
	case S_TYPE:
		return type_byte(r, c);
	case S_LINE:
		return c == '\r' ? line_end(r) : line_byte(r, c);
	case S_LINE_LF:
		if (c != '\n')
			return fail(r, "expected LF after CR");
		return line_done(r);
	case S_BULK_CR:
	case S_BULK_LF:
		return bulk_end(r, c);
	default:
		return inline_next(r, c);
	}
}

enum resp_result resp_feed(struct resp_reader *r, const char *p, size_t n, size_t *used,
			   const char **why)
{
	size_t i = 0;

	if (r->why) {
		*used = 0;
		*why = r->why;
		return RESP_ERROR;
	}
	while (i < n) {
		int res;

		if (r->state == S_BULK) {
			i += bulk_data(r, p + i, n - i);
			continue;
		}
		res = step(r, p[i]);
		if (res == STEP_ERROR) {
			*used = i;
			*why = r->why;
			return RESP_ERROR;
		}
		i++;
		if (res == STEP_DONE) {
			*used = i;
			return RESP_DONE;
		}
	}
	*used = n;
	return RESP_MORE;
}

bool resp_arg_is(const struct resp_reader *r, int i, const char *s)
{
	return i >= 0 && i < r->nkept && resp_arg_is_str(&r->argv[i], s);
}

bool resp_arg_is_str(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);

	if (a->len != n || n > RESP_ARG_CAP)
		return false;
	for (size_t k = 0; k < n; k++) {
		char x = a->p[k], y = s[k];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

void resp_write_command(void (*put)(void *ctx, const char *p, size_t n), void *ctx, int argc,
			const char *const *argv)
{
	char head[32];

	put(ctx, head, (size_t)snprintf(head, sizeof(head), "*%d\r\n", argc));
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		put(ctx, head, (size_t)snprintf(head, sizeof(head), "$%zu\r\n", n));
		put(ctx, argv[i], n);
		put(ctx, "\r\n", 2);
	}
}
