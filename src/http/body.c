/*
 * body.c - HTTP/1.x body framing: Content-Length, chunked (decoded in
 * place and re-encoded), and bodies delimited by the connection closing.
 *
 * Owns: the decision of where a body ends, and the form a chunked body
 *       takes toward the next hop.
 * Invariants:
 *   - the decoder moves payload toward the start of the buffer it reads,
 *     never past a byte it has not read yet, so decoding in place is safe;
 *   - what is sent on is canonical: "%x\r\n" DATA "\r\n" per decoded run,
 *     "0\r\n" trailers "\r\n" at the end, trailers without framing or
 *     routing fields and without obs-fold. Chunk boundaries may differ
 *     from the peer's (RFC 9112 7.1 lets an intermediary re-chunk).
 *   - requests are read strictly (RFC 9112 7.1 grammar, CRLF line ends);
 *     a backend's framing leniently (LF line ends, spaces after a chunk
 *     size), since it is re-serialised anyway and a 502 helps nobody.
 * Runs on: any thread; no state outside its arguments.
 *
 * Why not llhttp: llhttp 8 passes chunked bodies through unchanged and
 * refuses some valid extensions (BWS around ';' and '='); a proxy that
 * re-chunks must decode anyway, and a small state machine is easier to
 * prove and fuzz than a generated parser driven through callbacks.
 */
#include "body.h"

#include <stdio.h>
#include <strings.h>

#define MAX_CHUNK_LINE 4096	/* chunk size and extensions */
#define MAX_SIZE_DIGITS 15	/* significant hex digits: < 2^60 */

enum cstate {
	CS_SIZE0,	/* first hex digit of a chunk size */
	CS_SIZE,	/* more hex digits */
	CS_SIZE_WS,	/* whitespace after the size */
	CS_EXT_PRE,	/* after ';', before an extension name */
	CS_EXT_NAME,
	CS_EXT_NAME_WS,	/* whitespace after a name */
	CS_EXT_VAL_PRE,	/* after '=' */
	CS_EXT_VAL,	/* token value */
	CS_EXT_QVAL,	/* quoted-string value */
	CS_EXT_QESC,	/* after a backslash in one */
	CS_EXT_QEND,	/* after its closing quote */
	CS_EXT_VAL_WS,	/* whitespace after a value */
	CS_SIZE_LF,	/* CR seen at the end of the size line */
	CS_DATA,
	CS_DATA_CR,	/* CRLF after the data */
	CS_DATA_LF,
	CS_TRAILER0,	/* start of the trailer section, nothing stored */
	CS_TRAILER0_LF,	/* CR of an empty trailer section seen */
	CS_TRAILER,	/* a trailer line, stored in b->trailer */
	CS_END,		/* complete; the last chunk is still to be encoded */
	CS_DONE,	/* complete and encoded */
};

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

void http_body_free(struct http_body *b)
{
	free(b->trailer);
	b->trailer = NULL;
	b->tlen = 0;
}

void http_body_begin(struct http_body *b, enum http_body_kind kind, uint64_t length,
		     bool lenient, uint32_t max_trailer)
{
	http_body_free(b);
	memset(b, 0, sizeof(*b));
	if (kind == HTTP_BODY_LENGTH && length == 0)
		kind = HTTP_BODY_NONE;
	b->kind = (uint8_t)kind;
	b->left = length;
	b->lenient = lenient;
	b->max_trailer = max_trailer;
	b->st = CS_SIZE0;
	b->complete = kind == HTTP_BODY_NONE;
}

/* ---- the trailer section ----------------------------------------------- */

/* Fields a trailer section may not carry on: framing, routing and
 * connection management belong to the head (RFC 9110 6.5.1). */
static bool trailer_forbidden(const char *name, size_t n)
{
	static const char *const names[] = {
		"content-length", "transfer-encoding", "host", "connection", "keep-alive",
		"te", "trailer", "upgrade", "proxy-connection",
	};

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && !strncasecmp(name, names[i], n))
			return true;
	return false;
}

/*
 * A trailer line is complete in b->trailer[start, b->tlen) (its line end
 * not stored): replace it with its canonical form, fold it into the field
 * before it (obs-fold becomes one space, RFC 9112 5.2), or drop it.
 */
static int trailer_line(struct http_body *b, uint32_t start, const char **why)
{
	char *t = b->trailer;
	uint32_t n = b->tlen - start, i = 0, v, e, need;

	for (uint32_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)t[start + k];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why = "invalid character in a chunked trailer";
			return -1;
		}
	}
	if (is_ws((unsigned char)t[start])) {		/* obs-fold */
		if (b->tdropped) {
			b->tlen = start;
			return 0;
		}
		if (start == 3) {
			*why = "a chunked trailer section starting with whitespace";
			return -1;
		}
		while (i < n && is_ws((unsigned char)t[start + i]))
			i++;
		e = n;
		while (e > i && is_ws((unsigned char)t[start + e - 1]))
			e--;
		/* start - 2: over the CRLF that ended the field before */
		t[start - 2] = ' ';
		memmove(t + start - 1, t + start + i, e - i);
		b->tlen = start - 1 + (e - i);
		memcpy(t + b->tlen, "\r\n", 2);
		b->tlen += 2;
		return 0;
	}
	while (i < n && is_tchar((unsigned char)t[start + i]))
		i++;
	if (i == 0 || i >= n || t[start + i] != ':') {
		*why = "invalid field in a chunked trailer";
		return -1;
	}
	b->tdropped = trailer_forbidden(t + start, i);
	if (b->tdropped) {
		b->tlen = start;
		return 0;
	}
	v = i + 1;
	while (v < n && is_ws((unsigned char)t[start + v]))
		v++;
	e = n;
	while (e > v && is_ws((unsigned char)t[start + e - 1]))
		e--;
	need = i + 2 + (e - v) + 2;
	if (start + need > b->max_trailer + 3) {
		*why = "the chunked trailer section is too large";
		return -1;
	}
	memmove(t + start + i + 2, t + start + v, e - v);
	t[start + i + 1] = ' ';
	memcpy(t + start + need - 2, "\r\n", 2);
	b->tlen = start + need;
	return 0;
}

/* Store one byte of a trailer line. */
static int trailer_put(struct http_body *b, char c, const char **why)
{
	if (!b->trailer) {
		b->trailer = xmalloc((size_t)b->max_trailer + 8);
		memcpy(b->trailer, "0\r\n", 3);
		b->tlen = 3;
	}
	if (b->tlen >= b->max_trailer + 3) {
		*why = "the chunked trailer section is too large";
		return -1;
	}
	b->trailer[b->tlen++] = c;
	return 0;
}

/* ---- chunked -------------------------------------------------------------- */

/* The size line ended: a chunk of data follows, or the trailer section. */
static void size_line_done(struct http_body *b)
{
	b->linelen = 0;
	if (b->size == 0) {
		b->st = CS_TRAILER0;
	} else {
		b->left = b->size;
		b->st = CS_DATA;
	}
}

/* c ends a size line (CR or LF) in a state where that is allowed. */
static int size_line_end(struct http_body *b, unsigned char c, const char **why)
{
	if (c == '\r') {
		b->st = CS_SIZE_LF;
		return 0;
	}
	if (b->lenient) {
		size_line_done(b);
		return 0;
	}
	*why = "a bare LF in chunked framing (CRLF is required)";
	return -1;
}

/* One byte of a chunk-size line (RFC 9112 7.1, 7.1.1). */
static int size_byte(struct http_body *b, unsigned char c, const char **why)
{
	bool eol = c == '\r' || c == '\n';
	int h;

	if (++b->linelen > MAX_CHUNK_LINE) {
		*why = "a chunk-size line is too long";
		return -1;
	}
	switch (b->st) {
	case CS_SIZE0:
		if ((h = nd_hexval(c)) < 0)
			break;
		b->size = (uint64_t)h;
		b->digits = h ? 1 : 0;
		b->st = CS_SIZE;
		return 0;
	case CS_SIZE:
		if ((h = nd_hexval(c)) >= 0) {
			if ((b->size || h) && ++b->digits > MAX_SIZE_DIGITS) {
				*why = "a chunk size is too large";
				return -1;
			}
			b->size = b->size * 16 + (uint64_t)h;
			return 0;
		}
		if (c == ';')
			b->st = CS_EXT_PRE;
		else if (is_ws(c))
			b->st = CS_SIZE_WS;
		else if (eol)
			return size_line_end(b, c, why);
		else
			break;
		return 0;
	case CS_SIZE_WS:
	case CS_EXT_NAME_WS:
	case CS_EXT_VAL_WS:
		if (is_ws(c))
			return 0;
		if (c == ';') {
			b->st = CS_EXT_PRE;
			return 0;
		}
		if (c == '=' && b->st == CS_EXT_NAME_WS) {
			b->st = CS_EXT_VAL_PRE;
			return 0;
		}
		if (eol && b->lenient)
			return size_line_end(b, c, why);
		*why = eol ? "whitespace at the end of a chunk-size line" :
			     "invalid character in a chunk extension";
		return -1;
	case CS_EXT_PRE:
		if (is_ws(c))
			return 0;
		if (!is_tchar(c))
			break;
		b->st = CS_EXT_NAME;
		return 0;
	case CS_EXT_NAME:
	case CS_EXT_VAL:
	case CS_EXT_QEND:
		if (is_tchar(c) && b->st != CS_EXT_QEND)
			return 0;
		if (c == '=' && b->st == CS_EXT_NAME)
			b->st = CS_EXT_VAL_PRE;
		else if (c == ';')
			b->st = CS_EXT_PRE;
		else if (is_ws(c))
			b->st = b->st == CS_EXT_NAME ? CS_EXT_NAME_WS : CS_EXT_VAL_WS;
		else if (eol)
			return size_line_end(b, c, why);
		else
			break;
		return 0;
	case CS_EXT_VAL_PRE:
		if (is_ws(c))
			return 0;
		if (c == '"')
			b->st = CS_EXT_QVAL;
		else if (is_tchar(c))
			b->st = CS_EXT_VAL;
		else
			break;
		return 0;
	case CS_EXT_QVAL:
		if (c == '"')
			b->st = CS_EXT_QEND;
		else if (c == '\\')
			b->st = CS_EXT_QESC;
		else if (c != '\t' && (c < 0x20 || c == 0x7f))
			break;
		return 0;
	case CS_EXT_QESC:
		if (c != '\t' && (c < 0x20 || c == 0x7f))
			break;
		b->st = CS_EXT_QVAL;
		return 0;
	case CS_SIZE_LF:
		if (c != '\n') {
			*why = "a bare CR in chunked framing";
			return -1;
		}
		size_line_done(b);
		return 0;
	}
	*why = b->st == CS_SIZE0 || b->st == CS_SIZE ? "invalid chunk size" :
						      "invalid chunk extension";
	return -1;
}

/* The empty line ending the trailer section: the message is complete. */
static int trailer_end(struct http_body *b)
{
	if (b->trailer) {
		memcpy(b->trailer + b->tlen, "\r\n", 2);
		b->tlen += 2;
	}
	b->st = CS_END;
	return 0;
}

/* One byte of the trailer section (RFC 9112 7.1.2). */
static int trailer_byte(struct http_body *b, char c, const char **why)
{
	uint32_t start;

	switch (b->st) {
	case CS_TRAILER0:
		if (c == '\r') {
			b->st = CS_TRAILER0_LF;
			return 0;
		}
		if (c == '\n' && !b->lenient) {
			*why = "a bare LF in chunked framing (CRLF is required)";
			return -1;
		}
		if (c == '\n')
			return trailer_end(b);
		b->st = CS_TRAILER;
		b->tstart = b->tlen > 0 ? b->tlen : 3;
		return trailer_put(b, c, why);
	case CS_TRAILER0_LF:
		if (c != '\n') {
			*why = "a bare CR in chunked framing";
			return -1;
		}
		return trailer_end(b);
	default:	/* CS_TRAILER */
		if (c != '\n')
			return trailer_put(b, c, why);
		start = b->tstart;
		if (b->tlen > start && b->trailer[b->tlen - 1] == '\r')
			b->tlen--;
		else if (!b->lenient) {
			*why = "a bare LF in chunked framing (CRLF is required)";
			return -1;
		}
		if (memchr(b->trailer + start, '\r', b->tlen - start)) {
			*why = "a bare CR in a chunked trailer";
			return -1;
		}
		if (trailer_line(b, start, why) < 0)
			return -1;
		b->st = CS_TRAILER0;
		return 0;
	}
}

static int decode_chunked(struct http_body *b, char *p, size_t n, size_t *consumed,
			  size_t *data, const char **why)
{
	size_t r = 0, w = 0;

	while (r < n && b->st < CS_END) {
		unsigned char c = (unsigned char)p[r];

		switch (b->st) {
		case CS_DATA: {
			size_t k = n - r < b->left ? n - r : (size_t)b->left;

			if (w != r)
				memmove(p + w, p + r, k);
			w += k;
			r += k;
			b->left -= k;
			b->bytes += k;
			if (b->left == 0)
				b->st = CS_DATA_CR;
			continue;
		}
		case CS_DATA_CR:
			if (c == '\r')
				b->st = CS_DATA_LF;
			else if (c == '\n' && b->lenient)
				b->st = CS_SIZE0;
			else {
				*why = "chunk data not followed by CRLF";
				return -1;
			}
			b->linelen = 0;
			break;
		case CS_DATA_LF:
			if (c != '\n') {
				*why = "chunk data not followed by CRLF";
				return -1;
			}
			b->st = CS_SIZE0;
			break;
		case CS_TRAILER0:
		case CS_TRAILER0_LF:
		case CS_TRAILER:
			if (trailer_byte(b, (char)c, why) < 0)
				return -1;
			break;
		default:
			if (size_byte(b, c, why) < 0)
				return -1;
			break;
		}
		r++;
	}
	*consumed = r;
	*data = w;
	b->complete = b->st >= CS_END;
	return 0;
}

int http_body_decode(struct http_body *b, char *p, size_t n, size_t *consumed, size_t *data,
		     const char **why)
{
	size_t k;

	*consumed = *data = 0;
	if (b->complete || n == 0)
		return 0;
	switch (b->kind) {
	case HTTP_BODY_LENGTH:
		k = n < b->left ? n : (size_t)b->left;
		b->left -= k;
		b->bytes += k;
		b->complete = b->left == 0;
		*consumed = *data = k;
		return 0;
	case HTTP_BODY_EOF:
		b->bytes += n;
		*consumed = *data = n;
		return 0;
	case HTTP_BODY_CHUNKED:
		return decode_chunked(b, p, n, consumed, data, why);
	}
	return 0;
}

int http_body_encode(struct http_body *b, const char *p, size_t n, struct http_piece *out)
{
	int k = 0;

	if (b->kind != HTTP_BODY_CHUNKED) {
		if (n)
			out[k++] = (struct http_piece){ p, n };
		return k;
	}
	if (n) {
		int hl = snprintf(b->hdr, sizeof(b->hdr), "%zx\r\n", n);

		out[k++] = (struct http_piece){ b->hdr, (size_t)hl };
		out[k++] = (struct http_piece){ p, n };
		out[k++] = (struct http_piece){ "\r\n", 2 };
	}
	if (b->st == CS_END) {
		b->st = CS_DONE;
		if (b->trailer)
			out[k++] = (struct http_piece){ b->trailer, b->tlen };
		else
			out[k++] = (struct http_piece){ "0\r\n\r\n", 5 };
	}
	return k;
}

int http_body_eof(struct http_body *b)
{
	if (b->kind == HTTP_BODY_EOF)
		b->complete = true;
	return b->complete ? 0 : -1;
}
