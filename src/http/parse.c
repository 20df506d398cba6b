/*
 * parse.c - HTTP/1.x heads: validation and summary, the canonical rewrite
 * for the next hop, and its check by llhttp. Parsing only: http/proxy.c
 * moves the bytes, http/body.c frames bodies.
 *
 * Owns: the decision of whether a head is unambiguous enough to forward,
 *       and the one form in which it is forwarded.
 * Invariants:
 *   - what nodown sends is never the peer's bytes as they came: the head
 *     is re-serialised (CRLF line ends, our HTTP version, one canonical
 *     Content-Length and Transfer-Encoding, origin-form target), so a
 *     quirk a lenient reader accepts here never reaches the next hop;
 *   - every head sent is first read back by llhttp in strict mode, an
 *     independent parser, which must agree on its framing
 *     (http_head_verify): two parsers that disagree are a smuggling
 *     vector, so the request is refused instead.
 * Runs on: any thread; no state outside its arguments.
 *
 * Why a scanner of our own beside llhttp: the proxy needs a summary of the
 * head (Connection tokens, Expect, Upgrade, X-Forwarded-For) and a rewrite
 * that keeps the bytes it does not change, and it accepts a few forms
 * llhttp refuses (bare LF line ends, HTTP/1.2, a repeated identical
 * Content-Length from a backend) because it normalises them away. No
 * header table lives in a connection between reads.
 */
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <llhttp.h>
#include <pthread.h>

/* RFC 9110 5.6.2 tchar */
static const uint8_t tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool http_span_is(const char *p, struct span s, const char *word)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (!word[i] || lower(p[s.off + i]) != word[i])
			return false;
	return word[i] == '\0';
}

size_t http_head_end(const char *buf, size_t len, size_t from)
{
	const char *p = buf + from, *end = buf + len, *lf;

	/* The head ends at the first empty line: an LF right after an LF, or
	 * after CR LF. Only LFs are visited, so the cost is per line. The
	 * request line is never empty (leading empty lines are skipped by
	 * the proxy), so an LF at offset 0 or 1 does not end a head. */
	while ((lf = memchr(p, '\n', (size_t)(end - p)))) {
		size_t i = (size_t)(lf - buf);

		if (i >= 1 && buf[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
			return i + 1;
		p = lf + 1;
	}
	return 0;
}

/* ---- header iteration -------------------------------------------------- */

struct hdr {
	struct span name, value, line;	/* line: whole field line without its line end */
};

/* Value bytes: HTAB, SP, VCHAR, obs-text. */
static inline bool value_ok(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* At p[i] (i < n) a line ends: CRLF or LF. Returns the bytes of the line
 * end, 0 if p[i] is neither (a bare CR is not a line end). */
static inline size_t line_end_at(const char *p, size_t n, size_t i)
{
	if (p[i] == '\n')
		return 1;
	if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
		return 2;
	return 0;
}

/*
 * Read the field line at *pos in p[0, n). Returns 1 with *h set, 0 at the
 * empty line ending the head, -1 with *why set when the line is invalid.
 */
static int hdr_next(const char *p, size_t n, size_t *pos, struct hdr *h, const char **why)
{
	size_t i = *pos, start = i, v, e, le;

	if (i < n && (le = line_end_at(p, n, i))) {
		*pos = i + le;
		return 0;
	}
	if (i < n && (p[i] == ' ' || p[i] == '\t')) {
		*why = "obsolete line folding (a header line starting with whitespace)";
		return -1;
	}
	while (i < n && tchar[(unsigned char)p[i]])
		i++;
	if (i == start || i >= n || p[i] != ':') {
		*why = (i < n && (p[i] == ' ' || p[i] == '\t')) ?
		       "whitespace between a header name and its colon" : "invalid header name";
		return -1;
	}
	h->name = (struct span){ (uint32_t)start, (uint32_t)(i - start) };
	i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	v = i;
	while (i < n && p[i] != '\r' && p[i] != '\n') {
		if (!value_ok((unsigned char)p[i])) {
			*why = "invalid character in a header value";
			return -1;
		}
		i++;
	}
	if (i >= n || !(le = line_end_at(p, n, i))) {
		*why = "bare CR in a header";
		return -1;
	}
	e = i;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	h->value = (struct span){ (uint32_t)v, (uint32_t)(e - v) };
	h->line = (struct span){ (uint32_t)start, (uint32_t)(i - start) };
	*pos = i + le;
	return 1;
}

/*
 * hdr_next for a head http_scan_head already accepted: no validation, just
 * memchr to the colon and the LF, which is several times cheaper per byte.
 * Returns 1 with *h set, 0 at the empty line.
 */
static int hdr_next_valid(const char *p, size_t n, size_t *pos, struct hdr *h)
{
	size_t i = *pos, v, e, end;
	const char *colon, *lf;

	if (p[i] == '\r' || p[i] == '\n')
		return 0;
	colon = memchr(p + i, ':', n - i);
	lf = memchr(colon, '\n', n - (size_t)(colon - p));
	end = (size_t)(lf - p);
	*pos = end + 1;
	if (p[end - 1] == '\r')
		end--;
	h->name = (struct span){ (uint32_t)i, (uint32_t)(colon - p - (long)i) };
	v = (size_t)(colon - p) + 1;
	e = end;
	while (v < e && (p[v] == ' ' || p[v] == '\t'))
		v++;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	h->value = (struct span){ (uint32_t)v, (uint32_t)(e - v) };
	h->line = (struct span){ (uint32_t)i, (uint32_t)(end - i) };
	return 1;
}

/* Next element of the comma-separated list in *s (an empty element is
 * returned as an empty token, so callers can refuse it); false at the end. */
static bool list_next(const char *p, struct span *s, struct span *tok)
{
	uint32_t i = s->off, end = s->off + s->len, a, b;

	if (s->len == 0 && s->off == UINT32_MAX)
		return false;
	while (i < end && (p[i] == ' ' || p[i] == '\t'))
		i++;
	a = i;
	while (i < end && p[i] != ',')
		i++;
	b = i;
	while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
		b--;
	*tok = (struct span){ a, b - a };
	if (i < end) {		/* a comma: another element follows */
		s->off = i + 1;
		s->len = end - i - 1;
	} else {
		s->off = UINT32_MAX;	/* done after this one */
		s->len = 0;
	}
	return true;
}

/* The same, skipping empty elements (RFC 9110 5.6.1 asks recipients to
 * ignore them). */
static bool list_next_token(const char *p, struct span *s, struct span *tok)
{
	while (list_next(p, s, tok))
		if (tok->len)
			return true;
	return false;
}

/* ---- head scan ----------------------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT at p[i]; major and minor as sent. */
static int scan_version(const char *p, size_t i, size_t n, int *major, int *minor)
{
	if (i + 8 > n || memcmp(p + i, "HTTP/", 5) || p[i + 5] < '0' || p[i + 5] > '9' ||
	    p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9')
		return -1;
	*major = p[i + 5] - '0';
	*minor = p[i + 7] - '0';
	return 0;
}

static bool prefix_is(const char *p, size_t off, size_t len, const char *word)
{
	return len >= strlen(word) && http_span_is(p, (struct span){ (uint32_t)off,
						    (uint32_t)strlen(word) }, word);
}

/*
 * The request target t of h (RFC 9112 3.2): origin-form, absolute-form
 * with scheme http or https (authority and path noted for the rewrite), or
 * asterisk-form with OPTIONS. Anything else (authority-form outside
 * CONNECT, a relative path, another scheme, userinfo) is refused.
 */
static int scan_target(const char *p, struct span t, struct http_head *h, const char **why)
{
	size_t i, a, end = t.off + t.len;

	if (p[t.off] == '/')
		return 0;
	if (t.len == 1 && p[t.off] == '*') {
		if (http_span_is(p, h->method, "options"))
			return 0;
		*why = "the asterisk-form target '*' is only for OPTIONS";
		return -1;
	}
	if (prefix_is(p, t.off, t.len, "http://"))
		a = t.off + 7;
	else if (prefix_is(p, t.off, t.len, "https://"))
		a = t.off + 8;
	else {
		*why = "invalid request target (expected /path or http://host/path)";
		return -1;
	}
	for (i = a; i < end && p[i] != '/' && p[i] != '?'; i++) {
		if (p[i] == '@') {
			*why = "user information in an absolute-form request target";
			return -1;
		}
	}
	if (i == a) {
		*why = "absolute-form request target without a host";
		return -1;
	}
	h->absolute = true;
	h->authority = (struct span){ (uint32_t)a, (uint32_t)(i - a) };
	h->path = (struct span){ (uint32_t)i, (uint32_t)(end - i) };
	return 0;
}

/* Request line; returns offset after its line end, 0 if invalid. */
static size_t scan_request_line(const char *p, size_t n, struct http_head *h, int *status,
				const char **why)
{
	size_t i = 0, t, le;

	while (i < n && tchar[(unsigned char)p[i]])
		i++;
	if (i == 0 || i >= n || p[i] != ' ') {
		*why = "invalid method";
		return 0;
	}
	h->method = (struct span){ 0, (uint32_t)i };
	t = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
		i++;
	if (i > t && i < n && line_end_at(p, n, i)) {
		*status = 505;
		*why = "HTTP/0.9 requests (no version) are not supported";
		return 0;
	}
	if (i == t || i >= n || p[i] != ' ') {
		*why = "invalid request target";
		return 0;
	}
	h->target = (struct span){ (uint32_t)t, (uint32_t)(i - t) };
	i++;
	if (scan_version(p, i, n, &h->major, &h->minor) < 0 || i + 8 >= n ||
	    !(le = line_end_at(p, n, i + 8))) {
		*why = "invalid HTTP version in the request line";
		return 0;
	}
	if (h->major != 1) {
		*status = 505;
		*why = "only HTTP/1.x is supported";
		return 0;
	}
	if (h->minor > 1)	/* RFC 9110 2.5: a higher minor is read as the highest we know */
		h->minor = 1;
	if (http_span_is(p, h->method, "connect")) {
		*status = 501;
		*why = "CONNECT is not supported by a reverse proxy";
		return 0;
	}
	if (scan_target(p, h->target, h, why) < 0)
		return 0;
	return i + 8 + le;
}

/* Status line; returns offset after its line end, 0 if invalid. */
static size_t scan_status_line(const char *p, size_t n, struct http_head *h, const char **why)
{
	size_t i, r, le;

	*why = "invalid status line";
	if (scan_version(p, 0, n, &h->major, &h->minor) < 0 || h->major != 1 || n < 13 || p[8] != ' ')
		return 0;
	if (h->minor > 1)
		h->minor = 1;
	for (i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 100)
		return 0;
	i = r = 12;
	if (p[i] == ' ') {
		r = ++i;
		while (i < n && p[i] != '\r' && p[i] != '\n') {
			if (!value_ok((unsigned char)p[i]))
				return 0;
			i++;
		}
	}
	if (i >= n || !(le = line_end_at(p, n, i)))
		return 0;
	h->reason = (struct span){ (uint32_t)r, (uint32_t)(i - r) };
	return i + le;
}

/* A decimal number: digits only, leading zeros allowed, at most 18
 * significant digits (no overflow). */
static int parse_decimal(const char *p, struct span s, uint64_t *out)
{
	uint64_t v = 0;
	int sig = 0;

	if (s.len == 0)
		return -1;
	for (uint32_t i = 0; i < s.len; i++) {
		char c = p[s.off + i];

		if (c < '0' || c > '9')
			return -1;
		if (sig || c != '0')
			sig++;
		if (sig > 18)
			return -1;
		v = v * 10 + (uint64_t)(c - '0');
	}
	*out = v;
	return 0;
}

static int scan_content_length(const char *p, struct hdr *f, struct http_head *h, const char **why)
{
	struct span s = f->value, t;
	uint64_t v;

	if (h->request) {
		/* A request may say it once, as one number: anything else is how
		 * two readers end up with two body lengths. */
		if (h->has_cl) {
			*why = "repeated Content-Length";
			return -1;
		}
		if (parse_decimal(p, f->value, &v) < 0) {
			*why = "invalid Content-Length";
			return -1;
		}
		h->has_cl = true;
		h->cl = v;
		return 0;
	}
	/* From a backend, RFC 9110 8.6: identical values repeated (in one
	 * list or several fields) are read as one; it is sent on once. */
	if (!list_next_token(p, &s, &t)) {
		*why = "invalid Content-Length";
		return -1;
	}
	do {
		if (parse_decimal(p, t, &v) < 0 || (h->has_cl && v != h->cl)) {
			*why = "invalid or conflicting Content-Length";
			return -1;
		}
		h->has_cl = true;
		h->cl = v;
	} while (list_next_token(p, &s, &t));
	return 0;
}

/*
 * Transfer-Encoding. A request's must be exactly one field saying
 * "chunked": nodown frames nothing else, and a list with other codings or
 * empty elements is read differently by different servers (501 for a
 * coding we do not do, 400 for a malformed or repeated field). A
 * response's may list other codings before chunked; they are the
 * backend's business and pass on.
 */
static int scan_transfer_encoding(const char *p, struct hdr *f, struct http_head *h,
				  int *nchunked, int *status, const char **why)
{
	struct span s = f->value, t;
	bool other = false, empty = false;

	if (h->request && h->has_te) {
		*why = "repeated Transfer-Encoding";
		return -1;
	}
	h->has_te = true;
	while (list_next(p, &s, &t)) {
		bool ch;

		if (t.len == 0) {
			empty = true;
			continue;
		}
		ch = http_span_is(p, t, "chunked");	/* no parameters */
		if (!ch && h->chunked) {
			*why = "a transfer coding after chunked";
			return -1;
		}
		*nchunked += ch;
		h->chunked = ch;
		other |= !ch;
	}
	if (*nchunked > 1) {
		*why = "chunked given twice in Transfer-Encoding";
		return -1;
	}
	if (!h->request)
		return 0;
	if (empty) {
		*why = "an empty element in Transfer-Encoding";
		return -1;
	}
	if (other) {
		*status = 501;
		*why = "a transfer coding other than chunked (not implemented)";
		return -1;
	}
	return 0;
}

static int scan_connection(const char *p, struct hdr *f, struct http_head *h, const char **why)
{
	struct span s = f->value, t;

	while (list_next_token(p, &s, &t)) {
		if (http_span_is(p, t, "close"))
			h->conn_close = true;
		else if (http_span_is(p, t, "keep-alive"))
			h->conn_keepalive = true;
		else if (http_span_is(p, t, "upgrade"))
			h->conn_upgrade = true;
		else if (h->nconn_tokens < HTTP_MAX_CONN_TOKENS)
			h->conn_tokens[h->nconn_tokens++] = t;
		else {
			*why = "too many Connection options";
			return -1;
		}
	}
	return 0;
}

/* Keep-Alive: timeout=5, max=100 (RFC 2068 19.7.1.1): note the timeout. */
static void scan_keep_alive(const char *p, struct hdr *f, struct http_head *h)
{
	struct span s = f->value, t;

	while (list_next_token(p, &s, &t)) {
		int v = 0;
		uint32_t i;

		if (t.len < 9 || !http_span_is(p, (struct span){ t.off, 8 }, "timeout="))
			continue;
		for (i = 8; i < t.len && i < 14 && p[t.off + i] >= '0' && p[t.off + i] <= '9'; i++)
			v = v * 10 + (p[t.off + i] - '0');
		if (i > 8 && i == t.len)
			h->ka_timeout = v;
	}
}

static int scan_field(const char *p, struct hdr *f, struct http_head *h, int *nchunked,
		      int *status, const char **why)
{
	if (memchr(p + f->name.off, '_', f->name.len))
		h->underscore = true;
	switch (lower(p[f->name.off])) {
	case 'c':
		if (http_span_is(p, f->name, "content-length"))
			return scan_content_length(p, f, h, why);
		if (http_span_is(p, f->name, "connection"))
			return scan_connection(p, f, h, why);
		break;
	case 't':
		if (http_span_is(p, f->name, "transfer-encoding"))
			return scan_transfer_encoding(p, f, h, nchunked, status, why);
		break;
	case 'h':
		if (h->request && http_span_is(p, f->name, "host")) {
			if (h->has_host) {
				*why = "repeated Host";
				return -1;
			}
			h->has_host = true;
		}
		break;
	case 'k':
		if (http_span_is(p, f->name, "keep-alive"))
			scan_keep_alive(p, f, h);
		break;
	case 'x':
		if (http_span_is(p, f->name, "x-forwarded-for"))
			h->has_xff = true;
		break;
	case 'u':
		if (http_span_is(p, f->name, "upgrade"))
			h->has_upgrade = true;
		break;
	case 'e':
		if (http_span_is(p, f->name, "expect") && http_span_is(p, f->value, "100-continue"))
			h->expect_continue = true;
		break;
	}
	return 0;
}

/* Refuse framing that two parsers could read two ways (RFC 9112 6.1, 6.3). */
static int check_framing(struct http_head *h, const char **why)
{
	if (h->has_te && h->has_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (!h->request)
		return 0;
	if (h->has_te && h->minor == 0) {
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return -1;
	}
	if (h->minor == 1 && !h->has_host) {
		*why = "HTTP/1.1 request without Host";
		return -1;
	}
	return 0;
}

int http_scan_head(const char *p, size_t n, bool request, struct http_head *h, const char **why)
{
	int status = request ? 400 : 502, nchunked = 0, r;
	size_t pos;
	struct hdr f;

	memset(h, 0, sizeof(*h));
	h->ka_timeout = -1;
	h->request = request;
	h->len = n;
	if (memchr(p, '\0', n)) {
		*why = "NUL byte in the head";
		return status;
	}
	pos = request ? scan_request_line(p, n, h, &status, why) : scan_status_line(p, n, h, why);
	if (pos == 0)
		return status;
	while ((r = hdr_next(p, n, &pos, &f, why)) == 1)
		if (scan_field(p, &f, h, &nchunked, &status, why) < 0)
			return status;
	if (r < 0)
		return status;
	if (pos != n) {
		*why = "bytes after the end of the head";
		return status;
	}
	if (check_framing(h, why) < 0)
		return status;
	return 0;
}

/* ---- head rewrite -------------------------------------------------------- */

struct out {
	char *p;
	size_t cap, len;
	bool overflow;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void out_span(struct out *o, const char *p, struct span s)
{
	out_put(o, p + s.off, s.len);
}

static bool is_hop_by_hop(const char *p, const struct http_head *h, struct span name,
			  const struct http_rewrite *rw)
{
	if (http_span_is(p, name, "connection") || http_span_is(p, name, "keep-alive") ||
	    http_span_is(p, name, "proxy-connection") || http_span_is(p, name, "te"))
		return true;
	if (http_span_is(p, name, "upgrade"))
		return !rw->keep_upgrade;
	if (http_span_is(p, name, "content-length") || http_span_is(p, name, "transfer-encoding") ||
	    http_span_is(p, name, "host"))
		return false;	/* framing is never dropped, whatever Connection says */
	for (int i = 0; i < h->nconn_tokens; i++) {
		struct span t = h->conn_tokens[i];

		uint32_t k;

		if (t.len != name.len)
			continue;
		for (k = 0; k < t.len; k++)
			if (lower(p[t.off + k]) != lower(p[name.off + k]))
				break;
		if (k == t.len)
			return true;
	}
	return false;
}

static void out_start_line(struct out *o, const char *p, const struct http_head *h)
{
	if (h->request) {
		out_span(o, p, h->method);
		out_put(o, " ", 1);
		if (!h->absolute)
			out_span(o, p, h->target);
		else if (h->path.len == 0)
			out_put(o, "/", 1);
		else {
			if (p[h->path.off] == '?')
				out_put(o, "/", 1);
			out_span(o, p, h->path);
		}
		out_str(o, h->minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
		return;
	}
	/* RFC 9110 6.2: an intermediary sends its own HTTP version. */
	out_put(o, "HTTP/1.1 ", 9);
	out_put(o, p + 9, 3);
	out_put(o, " ", 1);
	out_span(o, p, h->reason);
	out_put(o, "\r\n", 2);
}

/* Every coding of every Transfer-Encoding field of the head, in order,
 * as one field. */
static void out_transfer_encoding(struct out *o, const char *p, const struct http_head *h,
				  size_t first)
{
	size_t pos = first;
	struct hdr f;
	bool any = false;

	out_str(o, "Transfer-Encoding: ");
	while (hdr_next_valid(p, h->len, &pos, &f) == 1) {
		struct span s = f.value, t;

		if (!http_span_is(p, f.name, "transfer-encoding"))
			continue;
		while (list_next_token(p, &s, &t)) {
			if (any)
				out_put(o, ", ", 2);
			out_span(o, p, t);
			any = true;
		}
	}
	out_put(o, "\r\n", 2);
}

long http_rewrite_head(const char *p, const struct http_head *h,
		       const struct http_rewrite *rw, char *out, size_t cap)
{
	struct out o = { out, cap, 0, false };
	const size_t first = (size_t)((const char *)memchr(p, '\n', h->len) - p) + 1;
	size_t pos = first;
	struct hdr f;
	bool first_xff = true, cl_done = false, te_done = false;
	char num[24];

	out_start_line(&o, p, h);
	while (hdr_next_valid(p, h->len, &pos, &f) == 1) {
		if (is_hop_by_hop(p, h, f.name, rw))
			continue;
		if (rw->drop_underscore && memchr(p + f.name.off, '_', f.name.len))
			continue;
		if (h->absolute && http_span_is(p, f.name, "host"))
			continue;	/* replaced by the target's authority, below */
		if (http_span_is(p, f.name, "content-length")) {
			if (!cl_done) {
				snprintf(num, sizeof(num), "%" PRIu64, h->cl);
				out_str(&o, "Content-Length: ");
				out_str(&o, num);
				out_put(&o, "\r\n", 2);
				cl_done = true;
			}
			continue;
		}
		if (http_span_is(p, f.name, "transfer-encoding")) {
			if (!te_done)
				out_transfer_encoding(&o, p, h, first);
			te_done = true;
			continue;
		}
		if (rw->forwarded_for && http_span_is(p, f.name, "x-forwarded-for"))
			continue;
		if (rw->forwarded_proto && http_span_is(p, f.name, "x-forwarded-proto"))
			continue;
		out_span(&o, p, f.line);
		out_put(&o, "\r\n", 2);
	}
	if (h->absolute) {
		out_str(&o, "Host: ");
		out_span(&o, p, h->authority);
		out_put(&o, "\r\n", 2);
	}
	if (rw->forwarded_for) {
		out_str(&o, "X-Forwarded-For: ");
		pos = h->has_xff ? first : h->len;	/* no second pass without one */
		while (pos < h->len && hdr_next_valid(p, h->len, &pos, &f) == 1) {
			if (!http_span_is(p, f.name, "x-forwarded-for") || f.value.len == 0)
				continue;
			if (!first_xff)
				out_str(&o, ", ");
			out_span(&o, p, f.value);
			first_xff = false;
		}
		if (!first_xff)
			out_str(&o, ", ");
		out_str(&o, rw->forwarded_for);
		out_str(&o, "\r\n");
	}
	if (rw->forwarded_proto) {
		out_str(&o, "X-Forwarded-Proto: ");
		out_str(&o, rw->forwarded_proto);
		out_str(&o, "\r\n");
	}
	if (rw->via) {
		out_str(&o, "Via: ");
		out_str(&o, rw->via);
		out_str(&o, "\r\n");
	}
	if (rw->connection) {
		out_str(&o, "Connection: ");
		out_str(&o, rw->connection);
		out_str(&o, "\r\n");
	}
	out_put(&o, "\r\n", 2);
	return o.overflow ? -1 : (long)o.len;
}

/* ---- the check by llhttp --------------------------------------------------- */

struct verify {
	llhttp_t ll;
	bool skip_body;
	bool done;		/* headers complete */
	uint64_t flags;
	uint64_t content_length;
};

static int verify_headers_complete(llhttp_t *ll)
{
	struct verify *v = container_of(ll, struct verify, ll);

	v->done = true;
	v->flags = ll->flags;
	v->content_length = ll->content_length;
	return v->skip_body ? 1 : 0;
}

static llhttp_settings_t verify_settings;

static void settings_once(void)
{
	llhttp_settings_init(&verify_settings);
	verify_settings.on_headers_complete = verify_headers_complete;
}

int http_head_verify(const char *p, size_t n, const struct http_head *h, bool skip_body,
		     const char **why)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct verify v = { .skip_body = skip_body };
	llhttp_errno_t e;

	pthread_once(&once, settings_once);
	llhttp_init(&v.ll, h->request ? HTTP_REQUEST : HTTP_RESPONSE, &verify_settings);
	e = llhttp_execute(&v.ll, p, n);
	if (e != HPE_OK && e != HPE_PAUSED_UPGRADE) {
		*why = llhttp_get_error_reason(&v.ll);
		if (!*why)
			*why = llhttp_errno_name(e);
		return -1;
	}
	if (!v.done) {
		*why = "llhttp did not see the end of the head";
		return -1;
	}
	if (!!(v.flags & F_CONTENT_LENGTH) != h->has_cl ||
	    (h->has_cl && v.content_length != h->cl) ||
	    !!(v.flags & F_CHUNKED) != h->chunked) {
		*why = "llhttp reads the framing of the head differently";
		return -2;
	}
	return 0;
}
