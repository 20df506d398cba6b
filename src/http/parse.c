/*
 * parse.c - HTTP/1.x framing: head validation and summary, head rewrite,
 * body framing. Parsing only; http/proxy.c moves the bytes.
 *
 * Owns: the decision of where a message starts and ends, and whether its
 *       framing is unambiguous enough to forward.
 * Invariant: a head is forwarded only after both llhttp (strict mode) and
 *            http_scan_head accepted it, so the next hop cannot read its
 *            framing differently from us; bodies are framed by llhttp.
 * Runs on: any thread; no state outside its arguments.
 *
 * Why a scanner beside llhttp: llhttp frames bodies well and rejects most
 * malformed heads, but the proxy also needs a summary of the head (Connection
 * tokens, Expect, Upgrade, X-Forwarded-For) and a rewrite that keeps the
 * bytes it does not change. Re-scanning a head that llhttp accepted is a
 * few hundred bytes in cache and keeps per-connection state small: no
 * header table lives in a connection between reads.
 */
#include "parse.h"

#include <errno.h>
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

long http_head_end(const char *buf, size_t len, size_t from)
{
	const char *p = buf + from, *end = buf + len, *lf;

	/* Every LF must end a CRLF; the head ends at the first CRLFCRLF. Only
	 * LFs are visited, so the cost is per line, not per byte. */
	while ((lf = memchr(p, '\n', (size_t)(end - p)))) {
		size_t i = (size_t)(lf - buf);

		if (i == 0 || buf[i - 1] != '\r')
			return -1;
		if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return (long)(i + 1);
		p = lf + 1;
	}
	return 0;
}

/* ---- header iteration -------------------------------------------------- */

struct hdr {
	struct span name, value, line;	/* line: whole field line without CRLF */
};

/* Value bytes: HTAB, SP, VCHAR, obs-text. */
static inline bool value_ok(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Read the field line at *pos in p[0, n). Returns 1 with *h set, 0 at the
 * blank line ending the head, -1 with *why set when the line is invalid.
 */
static int hdr_next(const char *p, size_t n, size_t *pos, struct hdr *h, const char **why)
{
	size_t i = *pos, start = i, v, e;

	if (i + 2 <= n && p[i] == '\r' && p[i + 1] == '\n') {
		*pos = i + 2;
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
	while (i < n && p[i] != '\r') {
		if (!value_ok((unsigned char)p[i])) {
			*why = p[i] == '\n' ? "bare LF in a header" : "invalid character in a header value";
			return -1;
		}
		i++;
	}
	if (i + 1 >= n || p[i + 1] != '\n') {
		*why = "bare CR in a header";
		return -1;
	}
	e = i;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	h->value = (struct span){ (uint32_t)v, (uint32_t)(e - v) };
	h->line = (struct span){ (uint32_t)start, (uint32_t)(i - start) };
	*pos = i + 2;
	return 1;
}

/*
 * hdr_next for a head http_scan_head already accepted: no validation, just
 * memchr to the colon and the CR, which is several times cheaper per byte.
 * Returns 1 with *h set, 0 at the blank line.
 */
static int hdr_next_valid(const char *p, size_t n, size_t *pos, struct hdr *h)
{
	size_t i = *pos, v, e;
	const char *colon, *cr;

	if (p[i] == '\r')
		return 0;
	colon = memchr(p + i, ':', n - i);
	cr = memchr(colon, '\r', n - (size_t)(colon - p));
	h->name = (struct span){ (uint32_t)i, (uint32_t)(colon - p - (long)i) };
	v = (size_t)(colon - p) + 1;
	e = (size_t)(cr - p);
	while (v < e && (p[v] == ' ' || p[v] == '\t'))
		v++;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	h->value = (struct span){ (uint32_t)v, (uint32_t)(e - v) };
	h->line = (struct span){ (uint32_t)i, (uint32_t)(cr - p - (long)i) };
	*pos = (size_t)(cr - p) + 2;
	return 1;
}

/* Next comma-separated element of value span *s; false when none left. */
static bool list_next(const char *p, struct span *s, struct span *tok)
{
	uint32_t i = s->off, end = s->off + s->len, a, b;

	for (;;) {
		while (i < end && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		if (i >= end)
			return false;
		a = i;
		while (i < end && p[i] != ',')
			i++;
		b = i;
		while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
			b--;
		s->len = end - i;
		s->off = i;
		*tok = (struct span){ a, b - a };
		return true;
	}
}

/* ---- head scan ----------------------------------------------------------- */

static int scan_version(const char *p, size_t i, size_t n, struct http_head *h)
{
	if (i + 8 > n || memcmp(p + i, "HTTP/", 5) || p[i + 5] < '0' || p[i + 5] > '9' ||
	    p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9')
		return -1;
	h->major = p[i + 5] - '0';
	h->minor = p[i + 7] - '0';
	return 0;
}

/* Request line; returns offset after its CRLF, 0 if invalid. */
static size_t scan_request_line(const char *p, size_t n, struct http_head *h, int *status,
				const char **why)
{
	size_t i = 0, t;

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
	if (i > t && i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') {
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
	if (scan_version(p, i, n, h) < 0 || i + 10 > n || p[i + 8] != '\r' || p[i + 9] != '\n') {
		*why = "invalid HTTP version in the request line";
		return 0;
	}
	if (h->major != 1 || h->minor > 1) {
		*status = 505;
		*why = "only HTTP/1.0 and HTTP/1.1 are supported";
		return 0;
	}
	if (http_span_is(p, h->method, "connect")) {
		*status = 501;
		*why = "CONNECT is not supported by a reverse proxy";
		return 0;
	}
	return i + 10;
}

/* Status line; returns offset after its CRLF, 0 if invalid. */
static size_t scan_status_line(const char *p, size_t n, struct http_head *h, const char **why)
{
	size_t i;

	*why = "invalid status line";
	if (scan_version(p, 0, n, h) < 0 || h->major != 1 || h->minor > 1 || n < 12 || p[8] != ' ')
		return 0;
	for (i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 100)
		return 0;
	i = 12;
	if (p[i] == ' ') {
		i++;
		while (i < n && p[i] != '\r') {
			if (!value_ok((unsigned char)p[i]))
				return 0;
			i++;
		}
	}
	if (i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n')
		return 0;
	return i + 2;
}

static int scan_content_length(const char *p, struct hdr *f, struct http_head *h, const char **why)
{
	uint64_t v = 0;

	if (h->has_cl) {
		*why = "repeated Content-Length";
		return -1;
	}
	if (f->value.len == 0 || f->value.len > 18) {
		*why = "invalid Content-Length";
		return -1;
	}
	for (uint32_t i = 0; i < f->value.len; i++) {
		char c = p[f->value.off + i];

		if (c < '0' || c > '9') {
			*why = "invalid Content-Length";
			return -1;
		}
		v = v * 10 + (uint64_t)(c - '0');
	}
	h->has_cl = true;
	h->cl = v;
	return 0;
}

static int scan_transfer_encoding(const char *p, struct hdr *f, struct http_head *h,
				  int *nchunked, const char **why)
{
	struct span s = f->value, t;

	h->has_te = true;
	while (list_next(p, &s, &t)) {
		bool ch = http_span_is(p, t, "chunked");	/* no parameters, nothing after */

		*nchunked += ch;
		h->chunked = ch;
	}
	if (*nchunked > 1) {
		*why = "chunked given twice in Transfer-Encoding";
		return -1;
	}
	return 0;
}

static int scan_connection(const char *p, struct hdr *f, struct http_head *h, const char **why)
{
	struct span s = f->value, t;

	while (list_next(p, &s, &t)) {
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

	while (list_next(p, &s, &t)) {
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
		      const char **why)
{
	switch (lower(p[f->name.off])) {
	case 'c':
		if (http_span_is(p, f->name, "content-length"))
			return scan_content_length(p, f, h, why);
		if (http_span_is(p, f->name, "connection"))
			return scan_connection(p, f, h, why);
		break;
	case 't':
		if (http_span_is(p, f->name, "transfer-encoding"))
			return scan_transfer_encoding(p, f, h, nchunked, why);
		break;
	case 'h':
		if (http_span_is(p, f->name, "host")) {
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
	if (h->has_te && !h->chunked) {
		*why = "Transfer-Encoding whose final coding is not chunked";
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
		if (scan_field(p, &f, h, &nchunked, why) < 0)
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

long http_rewrite_head(const char *p, const struct http_head *h,
		       const struct http_rewrite *rw, char *out, size_t cap)
{
	struct out o = { out, cap, 0, false };
	const size_t first = (size_t)((const char *)memchr(p, '\n', h->len) - p) + 1;
	size_t pos = first;
	struct hdr f;
	bool first_xff = true;

	if (rw->version11 && !h->request) {
		/* RFC 9110 6.2: an intermediary sends its own HTTP version. */
		out_put(&o, "HTTP/1.1", 8);
		out_put(&o, p + 8, pos - 8);
	} else {
		out_put(&o, p, pos);
	}
	while (hdr_next_valid(p, h->len, &pos, &f) == 1) {
		if (is_hop_by_hop(p, h, f.name, rw))
			continue;
		if (rw->forwarded_for && http_span_is(p, f.name, "x-forwarded-for"))
			continue;
		if (rw->forwarded_proto && http_span_is(p, f.name, "x-forwarded-proto"))
			continue;
		out_put(&o, p + f.line.off, f.line.len);
		out_put(&o, "\r\n", 2);
	}
	if (rw->forwarded_for) {
		out_str(&o, "X-Forwarded-For: ");
		pos = h->has_xff ? first : h->len - 2;	/* no second pass without one */
		while (hdr_next_valid(p, h->len, &pos, &f) == 1) {
			if (!http_span_is(p, f.name, "x-forwarded-for") || f.value.len == 0)
				continue;
			if (!first_xff)
				out_str(&o, ", ");
			out_put(&o, p + f.value.off, f.value.len);
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

/* ---- body framing with llhttp ------------------------------------------- */

static int on_headers_complete(llhttp_t *ll)
{
	struct http_body *b = container_of(ll, struct http_body, ll);

	return b->skip_body ? 1 : 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_body *b = container_of(ll, struct http_body, ll);

	ND_UNUSED(at);
	b->bytes += len;
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct http_body *b = container_of(ll, struct http_body, ll);

	b->complete = true;
	b->upgrade = ll->upgrade;
	return HPE_PAUSED;
}

static llhttp_settings_t body_settings;

static void settings_once(void)
{
	llhttp_settings_init(&body_settings);
	body_settings.on_headers_complete = on_headers_complete;
	body_settings.on_body = on_body;
	body_settings.on_message_complete = on_message_complete;
}

void http_body_init(struct http_body *b, bool request)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	bool skip = b->skip_body;

	pthread_once(&once, settings_once);
	llhttp_init(&b->ll, request ? HTTP_REQUEST : HTTP_RESPONSE, &body_settings);
	b->bytes = 0;
	b->complete = b->upgrade = false;
	b->kind = HTTP_BODY_NONE;
	b->prev = 0;
	b->skip_body = skip && !request;
}

int http_body_start(struct http_body *b, const char *p, size_t n, const char **why)
{
	llhttp_errno_t e = llhttp_execute(&b->ll, p, n);

	if (e == HPE_OK || e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		if (b->complete && llhttp_get_error_pos(&b->ll) != p + n) {
			*why = "bytes after the end of the head";
			return -1;
		}
		if (b->ll.type == HTTP_REQUEST && !b->complete &&
		    !(b->ll.flags & (F_CHUNKED | F_CONTENT_LENGTH))) {
			*why = "a request body must be framed by Content-Length or chunked";
			return -1;
		}
		b->kind = http_body_kind(b);
		return 0;
	}
	*why = llhttp_get_error_reason(&b->ll);
	if (!*why)
		*why = llhttp_errno_name(e);
	return -1;
}

enum http_body_kind http_body_kind(const struct http_body *b)
{
	if (b->complete)
		return HTTP_BODY_NONE;
	if (b->kind != HTTP_BODY_NONE)
		return b->kind;
	if (b->ll.flags & F_CHUNKED)
		return HTTP_BODY_CHUNKED;
	if (b->ll.flags & F_CONTENT_LENGTH)
		return HTTP_BODY_LENGTH;
	return HTTP_BODY_EOF;
}

int http_body_feed(struct http_body *b, const char *p, size_t n, size_t *used, const char **why)
{
	llhttp_errno_t e;

	*used = 0;
	if (b->complete || n == 0)
		return 0;
	e = llhttp_execute(&b->ll, p, n);
	if (e == HPE_OK) {
		*used = n;
		b->prev = p[n - 1];
		return 0;
	}
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		size_t u = (size_t)(llhttp_get_error_pos(&b->ll) - p);
		char c1 = u >= 2 ? p[u - 2] : b->prev;

		/* llhttp takes a bare LF as the blank line ending a chunked
		 * message; a peer that does not would read on. */
		if (b->kind == HTTP_BODY_CHUNKED && u > 0 && (c1 != '\r' || p[u - 1] != '\n')) {
			*used = 0;
			*why = "a bare LF ends the chunked body";
			return -1;
		}
		*used = u;
		return 0;
	}
	*why = llhttp_get_error_reason(&b->ll);
	if (!*why)
		*why = llhttp_errno_name(e);
	return -1;
}

int http_body_eof(struct http_body *b)
{
	if (!b->complete)
		(void)llhttp_finish(&b->ll);
	return b->complete ? 0 : -1;
}
