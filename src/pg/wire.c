/*
 * wire.c - PostgreSQL protocol 3.0 framing, field extraction, statement
 * renaming and message building. Parsing only; the pg proxy moves bytes.
 *
 * Owns: where a startup packet or typed message ends, whether it is well
 *       formed enough to act on, and the byte layout of what nodown sends.
 * Invariant: every read goes through struct rd, which is bounded by the
 *            message's own length; a string is only handed out once its
 *            NUL was found inside the message, so pg_str.p is a C string.
 *            Every write goes through struct wr, which never passes cap.
 * Runs on: any thread; no state outside its arguments, no allocation.
 *
 * Why one file for both directions: the proxy frames, reads and builds
 * messages of both sides on the same connection pair, and the few
 * primitives (bounded reader, sizing writer) are shared. What messages
 * mean in which connection state (COPY, auth, extended query) is the
 * proxy's business, not this file's.
 */
#include "wire.h"

#include <strings.h>

/* ---- shared ------------------------------------------------------------------ */

static const struct pg_str empty = { "", 0 };

static int fail(struct pg_err *err, const char *sqlstate, const char *reason)
{
	err->sqlstate = sqlstate;
	err->reason = reason;
	return -1;
}

static int bad(struct pg_err *err, const char *reason)
{
	return fail(err, PG_SQLSTATE_PROTOCOL_VIOLATION, reason);
}

static uint32_t be32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

bool pg_notification_repid(char *m, size_t n, int32_t from, int32_t to)
{
	uint32_t v = (uint32_t)to;

	if (n < 9 || m[0] != 'A' || (int32_t)be32(m + 5) != from)
		return false;
	m[5] = (char)(v >> 24);
	m[6] = (char)(v >> 16);
	m[7] = (char)(v >> 8);
	m[8] = (char)v;
	return true;
}

/* ---- message types ---------------------------------------------------------- */

struct msg_type {
	const char *name;	/* NULL: this side never sends the type */
	bool empty;		/* no body: the length is always 4 */
};

static const struct msg_type frontend_types[256] = {
	['B'] = { "Bind" },
	['C'] = { "Close" },
	['D'] = { "Describe" },
	['E'] = { "Execute" },
	['F'] = { "FunctionCall" },
	['H'] = { "Flush", true },
	['P'] = { "Parse" },
	['Q'] = { "Query" },
	['S'] = { "Sync", true },
	['X'] = { "Terminate", true },
	['c'] = { "CopyDone", true },
	['d'] = { "CopyData" },
	['f'] = { "CopyFail" },
	['p'] = { "PasswordMessage" },	/* also SASL and GSS responses */
};

static const struct msg_type backend_types[256] = {
	['1'] = { "ParseComplete", true },
	['2'] = { "BindComplete", true },
	['3'] = { "CloseComplete", true },
	['A'] = { "NotificationResponse" },
	['C'] = { "CommandComplete" },
	['D'] = { "DataRow" },
	['E'] = { "ErrorResponse" },
	['G'] = { "CopyInResponse" },
	['H'] = { "CopyOutResponse" },
	['I'] = { "EmptyQueryResponse", true },
	['K'] = { "BackendKeyData" },
	['N'] = { "NoticeResponse" },
	['R'] = { "Authentication" },
	['S'] = { "ParameterStatus" },
	['T'] = { "RowDescription" },
	['V'] = { "FunctionCallResponse" },
	['W'] = { "CopyBothResponse" },
	['Z'] = { "ReadyForQuery" },
	['c'] = { "CopyDone", true },
	['d'] = { "CopyData" },
	['n'] = { "NoData", true },
	['s'] = { "PortalSuspended", true },
	['t'] = { "ParameterDescription" },
	['v'] = { "NegotiateProtocolVersion" },
};

static const struct msg_type *msg_type(char type, enum pg_dir from)
{
	return &(from == PG_FRONTEND ? frontend_types : backend_types)[(unsigned char)type];
}

const char *pg_msg_name(char type, enum pg_dir from)
{
	return msg_type(type, from)->name;
}

long pg_msg_frame(const char *p, size_t n, enum pg_dir from, uint32_t max, struct pg_err *err)
{
	const struct msg_type *t;
	uint32_t len;

	if (n < 1)
		return 0;
	t = msg_type(p[0], from);
	if (!t->name)
		return bad(err, from == PG_FRONTEND ? "unknown frontend message type" :
						      "unknown backend message type");
	if (n < 5)
		return 0;
	len = be32(p + 1);
	if (len < 4)
		return bad(err, "message length below 4");
	if (len > max)
		return bad(err, "message too long");
	if (t->empty && len != 4)
		return bad(err, "message of a type without a body has one");
	if (n - 1 < len)
		return 0;
	return (long)len + 1;
}

/* ---- bounded reader ------------------------------------------------------- */

/* Reads m[pos, end). The first fault sticks: later reads return zeros and
 * empty strings, so an extractor reads every field, then asks rd_end. */
struct rd {
	const char *m;
	size_t pos, end;
	const char *why;	/* first fault, or NULL */
};

static void rd_fail(struct rd *r, const char *why)
{
	if (!r->why)
		r->why = why;
}

static bool rd_need(struct rd *r, size_t k)
{
	if (!r->why && r->end - r->pos < k)
		r->why = "message ends inside a field";
	return !r->why;
}

/* Open whole message m[0, n) whose type is one of `types`. */
static int rd_open(struct rd *r, const char *m, size_t n, const char *types, struct pg_err *err)
{
	if (n < 5 || be32(m + 1) != n - 1)
		return bad(err, "message length field disagrees with its size");
	if (!m[0] || !strchr(types, m[0]))
		return bad(err, "message of another type");
	*r = (struct rd){ m, 5, n, NULL };
	return 0;
}

static int rd_end(struct rd *r, struct pg_err *err)
{
	if (!r->why && r->pos != r->end)
		r->why = "bytes left after the last field";
	return r->why ? bad(err, r->why) : 0;
}

static uint8_t rd_u8(struct rd *r)
{
	return rd_need(r, 1) ? (uint8_t)r->m[r->pos++] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const unsigned char *u = (const unsigned char *)r->m + r->pos;

	if (!rd_need(r, 2))
		return 0;
	r->pos += 2;
	return (uint16_t)(u[0] << 8 | u[1]);
}

static uint32_t rd_u32(struct rd *r)
{
	uint32_t v;

	if (!rd_need(r, 4))
		return 0;
	v = be32(r->m + r->pos);
	r->pos += 4;
	return v;
}

/* k raw bytes, into *s when s is not NULL. */
static void rd_bytes(struct rd *r, size_t k, struct pg_str *s)
{
	if (s)
		*s = empty;
	if (!rd_need(r, k))
		return;
	if (s)
		*s = (struct pg_str){ r->m + r->pos, (uint32_t)k };
	r->pos += k;
}

static void rd_rest(struct rd *r, struct pg_str *s)
{
	rd_bytes(r, r->end - r->pos, s);
}

static void rd_str(struct rd *r, struct pg_str *s)
{
	const char *z;

	*s = empty;
	if (r->why)
		return;
	z = memchr(r->m + r->pos, '\0', r->end - r->pos);
	if (!z) {
		r->why = "string without its NUL inside the message";
		return;
	}
	*s = (struct pg_str){ r->m + r->pos, (uint32_t)(z - (r->m + r->pos)) };
	r->pos += s->len + 1;
}

/* ---- startup packet --------------------------------------------------------- */

/* The fixed-length requests: their code, kind and only valid length. */
static const struct {
	uint32_t code;
	enum pg_startup_kind kind;
	uint32_t len;
	const char *bad_len;
} requests[] = {
	{ PG_SSL_REQUEST_CODE, PG_SSL_REQUEST, 8, "SSLRequest of the wrong length" },
	{ PG_GSSENC_REQUEST_CODE, PG_GSSENC_REQUEST, 8, "GSSENCRequest of the wrong length" },
	{ PG_CANCEL_REQUEST_CODE, PG_CANCEL_REQUEST, 16, "CancelRequest of the wrong length" },
};

/* Kind of a packet from its code and length; -1 with *err if refused. */
static int startup_kind(uint32_t code, uint32_t len, enum pg_startup_kind *kind,
			struct pg_err *err)
{
	for (size_t i = 0; i < ARRAY_LEN(requests); i++) {
		if (code != requests[i].code)
			continue;
		if (len != requests[i].len)
			return bad(err, requests[i].bad_len);
		*kind = requests[i].kind;
		return 0;
	}
	if (code >> 16 == 1234)
		return bad(err, "unknown startup request code");
	if (code >> 16 != 3)
		return fail(err, PG_SQLSTATE_FEATURE_NOT_SUPPORTED,
			    "unsupported frontend protocol (nodown speaks 3.0)");
	*kind = PG_STARTUP;
	return 0;
}

/* "replication" off is harmless; anything else asks for a walsender. */
static bool is_false(struct pg_str v)
{
	return !strcasecmp(v.p, "false") || !strcasecmp(v.p, "off") ||
	       !strcasecmp(v.p, "no") || !strcmp(v.p, "0");
}

/* Note one name=value pair; the check for repeats is quadratic in at most
 * PG_MAX_PARAMS short names. */
static int startup_param(struct pg_startup *s, struct pg_param *pp, struct pg_err *err)
{
	for (int i = 0; i < s->nparams; i++)
		if (!strcmp(s->params[i].name.p, pp->name.p))
			return bad(err, "startup parameter given twice");
	if (s->nparams == PG_MAX_PARAMS)
		return bad(err, "too many startup parameters");
	s->params[s->nparams++] = *pp;
	if (!strcmp(pp->name.p, "user"))
		s->user = pp->value;
	else if (!strcmp(pp->name.p, "database"))
		s->database = pp->value;
	else if (!strcmp(pp->name.p, "application_name"))
		s->application_name = pp->value;
	else if (!strcmp(pp->name.p, "options"))
		s->options = pp->value;
	else if (!strcmp(pp->name.p, "replication") && !is_false(pp->value))
		return fail(err, PG_SQLSTATE_FEATURE_NOT_SUPPORTED,
			    "replication connections are not supported");
	return 0;
}

/* StartupMessage p[0, len): name\0value\0 pairs, then a lone \0. */
static int startup_params(const char *p, uint32_t len, struct pg_startup *s, struct pg_err *err)
{
	struct rd r = { p, 8, len, NULL };
	struct pg_param pp;

	s->user = s->database = s->application_name = s->options = empty;
	s->nparams = 0;
	while (r.pos < r.end && p[r.pos] != '\0') {
		rd_str(&r, &pp.name);
		rd_str(&r, &pp.value);
		if (r.why)
			return bad(err, "startup parameter without its NUL");
		if (startup_param(s, &pp, err) < 0)
			return -1;
	}
	if (r.pos != r.end - 1)		/* at the terminator, or past the end */
		return bad(err, "startup packet does not end with its terminator");
	if (s->user.len == 0)
		return fail(err, PG_SQLSTATE_INVALID_AUTHORIZATION,
			    "no user name in the startup packet");
	if (s->database.len == 0)
		s->database = s->user;
	return 0;
}

long pg_startup_frame(const char *p, size_t n, struct pg_startup *s, struct pg_err *err)
{
	uint32_t len, code;

	if (n < 4)
		return 0;
	if (p[0] == 0x16)
		return fail(err, PG_SQLSTATE_FEATURE_NOT_SUPPORTED,
			    "TLS handshake without SSLRequest (direct SSL) is not supported");
	len = be32(p);
	if (len < 8 || len > PG_MAX_STARTUP_LEN)
		return bad(err, "invalid startup packet length");
	if (n < 8)
		return 0;
	code = be32(p + 4);
	if (startup_kind(code, len, &s->kind, err) < 0)
		return -1;
	if (n < len)
		return 0;
	switch (s->kind) {
	case PG_STARTUP:
		s->minor = (uint16_t)code;
		if (startup_params(p, len, s, err) < 0)
			return -1;
		break;
	case PG_CANCEL_REQUEST:
		s->cancel_pid = (int32_t)be32(p + 8);
		s->cancel_key = be32(p + 12);
		break;
	case PG_SSL_REQUEST:
	case PG_GSSENC_REQUEST:
		break;
	}
	return len;
}

/* ---- frontend extractors ---------------------------------------------------- */

int pg_read_query(const char *m, size_t n, struct pg_str *sql, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "Q", err) < 0)
		return -1;
	rd_str(&r, sql);
	return rd_end(&r, err);
}

int pg_read_parse(const char *m, size_t n, struct pg_parse *out, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "P", err) < 0)
		return -1;
	rd_str(&r, &out->stmt);
	rd_str(&r, &out->query);
	out->nparam_types = rd_u16(&r);
	rd_bytes(&r, 4 * (size_t)out->nparam_types, NULL);
	return rd_end(&r, err);
}

int pg_read_bind(const char *m, size_t n, struct pg_bind *out, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "B", err) < 0)
		return -1;
	rd_str(&r, &out->portal);
	rd_str(&r, &out->stmt);
	rd_bytes(&r, 2 * (size_t)rd_u16(&r), NULL);		/* parameter formats */
	out->nparams = rd_u16(&r);
	for (uint32_t i = 0; i < out->nparams && !r.why; i++) {
		int32_t len = (int32_t)rd_u32(&r);		/* -1: NULL */

		if (len < -1)
			rd_fail(&r, "negative parameter length");
		else if (len > 0)
			rd_bytes(&r, (size_t)len, NULL);
	}
	rd_bytes(&r, 2 * (size_t)rd_u16(&r), NULL);		/* result formats */
	return rd_end(&r, err);
}

int pg_read_target(const char *m, size_t n, struct pg_target *out, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "DC", err) < 0)
		return -1;
	out->kind = (char)rd_u8(&r);
	if (out->kind != 'S' && out->kind != 'P')
		rd_fail(&r, "Describe or Close of something other than 'S' or 'P'");
	rd_str(&r, &out->name);
	return rd_end(&r, err);
}

int pg_read_execute(const char *m, size_t n, struct pg_execute *out, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "E", err) < 0)
		return -1;
	rd_str(&r, &out->portal);
	out->max_rows = (int32_t)rd_u32(&r);
	return rd_end(&r, err);
}

int pg_read_password(const char *m, size_t n, struct pg_str *password, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "p", err) < 0)
		return -1;
	rd_str(&r, password);
	return rd_end(&r, err);
}

int pg_read_sasl_initial(const char *m, size_t n, struct pg_sasl_initial *out,
			 struct pg_err *err)
{
	struct rd r;
	int32_t len;

	if (rd_open(&r, m, n, "p", err) < 0)
		return -1;
	rd_str(&r, &out->mechanism);
	len = (int32_t)rd_u32(&r);
	out->has_data = len != -1;
	out->data = empty;
	if (len < -1)
		rd_fail(&r, "negative SASL data length");
	else if (len >= 0)
		rd_bytes(&r, (size_t)len, &out->data);
	return rd_end(&r, err);
}

int pg_read_sasl_response(const char *m, size_t n, struct pg_str *data, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "p", err) < 0)
		return -1;
	rd_rest(&r, data);
	return rd_end(&r, err);
}

/* ---- backend extractors ------------------------------------------------------ */

int pg_read_ready(const char *m, size_t n, char *status, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "Z", err) < 0)
		return -1;
	*status = (char)rd_u8(&r);
	if (*status != 'I' && *status != 'T' && *status != 'E')
		rd_fail(&r, "transaction status other than 'I', 'T' or 'E'");
	return rd_end(&r, err);
}

int pg_read_param_status(const char *m, size_t n, struct pg_param *out, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "S", err) < 0)
		return -1;
	rd_str(&r, &out->name);
	rd_str(&r, &out->value);
	return rd_end(&r, err);
}

int pg_read_key_data(const char *m, size_t n, int32_t *pid, uint32_t *key, struct pg_err *err)
{
	struct rd r;

	if (rd_open(&r, m, n, "K", err) < 0)
		return -1;
	*pid = (int32_t)rd_u32(&r);
	*key = rd_u32(&r);
	return rd_end(&r, err);
}

int pg_read_notice(const char *m, size_t n, struct pg_notice *out, struct pg_err *err)
{
	struct pg_str s = { NULL, 0 }, v = { NULL, 0 }, f;
	struct rd r;
	char code;

	if (rd_open(&r, m, n, "EN", err) < 0)
		return -1;
	out->sqlstate = out->message = (struct pg_str){ NULL, 0 };
	out->detail = out->hint = empty;
	while ((code = (char)rd_u8(&r)) != '\0') {
		rd_str(&r, &f);
		switch (code) {
		case 'S': s = f; break;
		case 'V': v = f; break;
		case 'C': out->sqlstate = f; break;
		case 'M': out->message = f; break;
		case 'D': out->detail = f; break;
		case 'H': out->hint = f; break;
		}
	}
	out->severity = v.p ? v : s;
	if (!out->severity.p || !out->sqlstate.p || !out->message.p)
		rd_fail(&r, "error or notice without severity, SQLSTATE or message");
	return rd_end(&r, err);
}

const char *pg_describe_notice(const char *m, size_t n, char *out, size_t cap)
{
	struct pg_notice e;
	struct pg_err err;

	if (pg_read_notice(m, n, &e, &err) < 0)
		snprintf(out, cap, "a malformed ErrorResponse");
	else
		snprintf(out, cap, "%.*s: %.*s", (int)e.sqlstate.len, e.sqlstate.p, (int)e.message.len,
			 e.message.p);
	return out;
}

static void read_mechs(struct rd *r, struct pg_auth *out)
{
	struct pg_str mech;

	for (;;) {
		rd_str(r, &mech);
		if (r->why || mech.len == 0)
			break;
		if (out->nmechs == PG_MAX_SASL_MECHS) {
			rd_fail(r, "too many SASL mechanisms");
			return;
		}
		out->mechs[out->nmechs++] = mech;
	}
	if (out->nmechs == 0)
		rd_fail(r, "SASL request without mechanisms");
}

int pg_read_auth(const char *m, size_t n, struct pg_auth *out, struct pg_err *err)
{
	struct rd r;
	uint32_t code;

	if (rd_open(&r, m, n, "R", err) < 0)
		return -1;
	code = rd_u32(&r);
	out->data = empty;
	out->nmechs = 0;
	switch (code) {
	case PG_AUTH_OK:
	case PG_AUTH_CLEARTEXT:
		break;
	case PG_AUTH_MD5:
		rd_bytes(&r, 4, &out->data);
		break;
	case PG_AUTH_SASL:
		read_mechs(&r, out);
		break;
	case PG_AUTH_SASL_CONTINUE:
	case PG_AUTH_SASL_FINAL:
		rd_rest(&r, &out->data);
		break;
	default:
		return fail(err, PG_SQLSTATE_FEATURE_NOT_SUPPORTED,
			    "authentication method not supported by nodown");
	}
	out->code = (enum pg_auth_code)code;
	return rd_end(&r, err);
}

int pg_read_copy_response(const char *m, size_t n, struct pg_copy *out, struct pg_err *err)
{
	struct rd r;
	uint8_t format;

	if (rd_open(&r, m, n, "GHW", err) < 0)
		return -1;
	out->type = m[0];
	format = rd_u8(&r);
	if (format > 1)
		rd_fail(&r, "COPY format other than 0 or 1");
	out->binary = format == 1;
	out->ncols = rd_u16(&r);
	for (uint32_t i = 0; i < out->ncols && !r.why; i++) {
		uint16_t f = rd_u16(&r);

		if (f > format)		/* text COPY has text columns only */
			rd_fail(&r, "invalid COPY column format");
	}
	return rd_end(&r, err);
}

/* ---- sizing writer --------------------------------------------------------- */

/* Appends to buf[0, cap) while the message fits; len keeps counting past
 * cap so a builder always returns the length it needs. */
struct wr {
	char *buf;
	size_t cap, len;
};

static void put(struct wr *w, const void *s, size_t k)
{
	if (k && w->len + k <= w->cap)
		memcpy(w->buf + w->len, s, k);
	w->len += k;
}

static void put_u8(struct wr *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(struct wr *w, uint16_t v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(w, b, 2);
}

static void put_u32(struct wr *w, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(w, b, 4);
}

/* A protocol String: the bytes and their NUL. */
static void put_str(struct wr *w, const char *s)
{
	put(w, s, strlen(s) + 1);
}

static void put_pstr(struct wr *w, struct pg_str s)
{
	put(w, s.p, s.len);
	put_u8(w, 0);
}

/* Start a typed message; its length field is at offset 1. */
static struct wr wr_typed(char *buf, size_t cap, char type)
{
	struct wr w = { buf, cap, 0 };

	put_u8(&w, (uint8_t)type);
	put_u32(&w, 0);
	return w;
}

/* Fill in the length field at offset `at` (0 untyped, 1 typed) and
 * return the message length. */
static size_t wr_end(struct wr *w, size_t at)
{
	size_t len = w->len - at;
	unsigned char b[4] = { (unsigned char)(len >> 24), (unsigned char)(len >> 16),
			       (unsigned char)(len >> 8), (unsigned char)len };

	BUG_ON(len > INT32_MAX);
	if (w->len <= w->cap)
		memcpy(w->buf + at, b, 4);
	return w->len;
}

/* ---- statement renaming ---------------------------------------------------- */

/* The statement name field of a Parse, Bind, Describe 'S' or Close 'S'. */
static int stmt_field(const char *m, size_t n, struct pg_str *stmt, struct pg_err *err)
{
	struct pg_parse parse;
	struct pg_bind bind;
	struct pg_target target;

	switch (n ? m[0] : 0) {
	case 'P':
		if (pg_read_parse(m, n, &parse, err) < 0)
			return -1;
		*stmt = parse.stmt;
		return 0;
	case 'B':
		if (pg_read_bind(m, n, &bind, err) < 0)
			return -1;
		*stmt = bind.stmt;
		return 0;
	case 'D':
	case 'C':
		if (pg_read_target(m, n, &target, err) < 0)
			return -1;
		if (target.kind != 'S')
			return bad(err, "Describe or Close of a portal names no statement");
		*stmt = target.name;
		return 0;
	}
	return bad(err, "message names no prepared statement");
}

long pg_rewrite_stmt(const char *m, size_t n, const char *name, char *out, size_t cap,
		     struct pg_err *err)
{
	struct wr w = { out, cap, 0 };
	struct pg_str old;
	size_t at, after;

	if (stmt_field(m, n, &old, err) < 0)
		return -1;
	at = (size_t)(old.p - m);
	after = at + old.len + 1;
	put(&w, m, at);
	put_str(&w, name);
	put(&w, m + after, n - after);
	return (long)wr_end(&w, 1);
}

/* ---- SQL recognized ----------------------------------------------------------- */

static size_t skip_space(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f'))
		i++;
	return i;
}

static bool ident_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '$'));
}

/* The keyword kw (lower case) at s[i], ended by a non-identifier byte. */
static bool keyword_at(const char *s, size_t len, size_t i, const char *kw)
{
	size_t k = strlen(kw);

	if (len - i < k || strncasecmp(s + i, kw, k))
		return false;
	return i + k == len || !ident_char(s[i + k], false);
}

/* An identifier at s[*i]: its resolved form to out. */
static bool read_ident(const char *s, size_t len, size_t *i, char *out, size_t cap)
{
	size_t o = 0, j = *i;

	if (j < len && s[j] == '"') {
		for (j++; j < len; j++) {
			if (s[j] == '"' && (j + 1 >= len || s[j + 1] != '"'))
				break;
			if (s[j] == '"')
				j++;
			if (s[j] == '\0' || o + 1 >= cap)
				return false;
			out[o++] = s[j];
		}
		if (j >= len || o == 0)
			return false;
		j++;
	} else {
		for (; j < len && ident_char(s[j], j == *i); j++) {
			if (o + 1 >= cap)
				return false;
			out[o++] = (s[j] >= 'A' && s[j] <= 'Z') ? (char)(s[j] - 'A' + 'a') : s[j];
		}
		if (o == 0)
			return false;
	}
	out[o] = '\0';
	*i = j;
	return true;
}

int pg_sql_deallocate(const char *sql, size_t len, char *name, size_t cap)
{
	size_t i = skip_space(sql, len, 0);

	if (!keyword_at(sql, len, i, "deallocate"))
		return 0;
	i = skip_space(sql, len, i + 10);
	if (keyword_at(sql, len, i, "prepare"))
		i = skip_space(sql, len, i + 7);
	if (keyword_at(sql, len, i, "all") || !read_ident(sql, len, &i, name, cap))
		return 0;
	i = skip_space(sql, len, i);
	if (i < len && sql[i] == ';')
		i = skip_space(sql, len, i + 1);
	return i == len;
}

/* ---- backend builders ------------------------------------------------------- */

static void put_field(struct wr *w, char code, const char *value)
{
	put_u8(w, (uint8_t)code);
	put_str(w, value);
}

size_t pg_build_error(char *buf, size_t cap, const char *severity, const char *sqlstate,
		      const char *message, const char *detail, const char *hint)
{
	struct wr w = wr_typed(buf, cap, 'E');

	put_field(&w, 'S', severity);
	put_field(&w, 'V', severity);
	put_field(&w, 'C', sqlstate);
	put_field(&w, 'M', message);
	if (detail)
		put_field(&w, 'D', detail);
	if (hint)
		put_field(&w, 'H', hint);
	put_u8(&w, 0);
	return wr_end(&w, 1);
}

static size_t build_auth(char *buf, size_t cap, enum pg_auth_code code, const char *data,
			 size_t len)
{
	struct wr w = wr_typed(buf, cap, 'R');

	put_u32(&w, code);
	put(&w, data, len);
	return wr_end(&w, 1);
}

size_t pg_build_auth_ok(char *buf, size_t cap)
{
	return build_auth(buf, cap, PG_AUTH_OK, NULL, 0);
}

size_t pg_build_auth_cleartext(char *buf, size_t cap)
{
	return build_auth(buf, cap, PG_AUTH_CLEARTEXT, NULL, 0);
}

size_t pg_build_auth_md5(char *buf, size_t cap, const char salt[4])
{
	return build_auth(buf, cap, PG_AUTH_MD5, salt, 4);
}

size_t pg_build_auth_sasl(char *buf, size_t cap, const char *const *mechs, int nmechs)
{
	struct wr w = wr_typed(buf, cap, 'R');

	put_u32(&w, PG_AUTH_SASL);
	for (int i = 0; i < nmechs; i++)
		put_str(&w, mechs[i]);
	put_u8(&w, 0);
	return wr_end(&w, 1);
}

size_t pg_build_auth_sasl_continue(char *buf, size_t cap, const char *data, size_t len)
{
	return build_auth(buf, cap, PG_AUTH_SASL_CONTINUE, data, len);
}

size_t pg_build_auth_sasl_final(char *buf, size_t cap, const char *data, size_t len)
{
	return build_auth(buf, cap, PG_AUTH_SASL_FINAL, data, len);
}

size_t pg_build_param_status(char *buf, size_t cap, const char *name, const char *value)
{
	struct wr w = wr_typed(buf, cap, 'S');

	put_str(&w, name);
	put_str(&w, value);
	return wr_end(&w, 1);
}

size_t pg_build_key_data(char *buf, size_t cap, int32_t pid, uint32_t key)
{
	struct wr w = wr_typed(buf, cap, 'K');

	put_u32(&w, (uint32_t)pid);
	put_u32(&w, key);
	return wr_end(&w, 1);
}

size_t pg_build_ready(char *buf, size_t cap, char status)
{
	struct wr w = wr_typed(buf, cap, 'Z');

	put_u8(&w, (uint8_t)status);
	return wr_end(&w, 1);
}

size_t pg_build_command_complete(char *buf, size_t cap, const char *tag)
{
	struct wr w = wr_typed(buf, cap, 'C');

	put_str(&w, tag);
	return wr_end(&w, 1);
}

size_t pg_build_negotiate(char *buf, size_t cap, uint16_t minor,
			  const struct pg_str *unrecognized, int n)
{
	struct wr w = wr_typed(buf, cap, 'v');

	put_u32(&w, minor);
	put_u32(&w, (uint32_t)n);
	for (int i = 0; i < n; i++)
		put_pstr(&w, unrecognized[i]);
	return wr_end(&w, 1);
}

/* ---- frontend builders ------------------------------------------------------ */

size_t pg_build_startup(char *buf, size_t cap, const char *user, const char *database,
			const struct pg_param *extra, int nextra)
{
	struct wr w = { buf, cap, 0 };

	put_u32(&w, 0);
	put_u32(&w, PG_PROTOCOL_3_0);
	put_str(&w, "user");
	put_str(&w, user);
	if (database) {
		put_str(&w, "database");
		put_str(&w, database);
	}
	for (int i = 0; i < nextra; i++) {
		put_pstr(&w, extra[i].name);
		put_pstr(&w, extra[i].value);
	}
	put_u8(&w, 0);
	return wr_end(&w, 0);
}

size_t pg_build_cancel(char *buf, size_t cap, int32_t pid, uint32_t key)
{
	struct wr w = { buf, cap, 0 };

	put_u32(&w, 0);
	put_u32(&w, PG_CANCEL_REQUEST_CODE);
	put_u32(&w, (uint32_t)pid);
	put_u32(&w, key);
	return wr_end(&w, 0);
}

size_t pg_build_password(char *buf, size_t cap, const char *password)
{
	struct wr w = wr_typed(buf, cap, 'p');

	put_str(&w, password);
	return wr_end(&w, 1);
}

size_t pg_build_sasl_initial(char *buf, size_t cap, const char *mechanism, const char *data,
			     size_t len)
{
	struct wr w = wr_typed(buf, cap, 'p');

	put_str(&w, mechanism);
	put_u32(&w, data ? (uint32_t)len : UINT32_MAX);	/* -1: no data */
	if (data)
		put(&w, data, len);
	return wr_end(&w, 1);
}

size_t pg_build_sasl_response(char *buf, size_t cap, const char *data, size_t len)
{
	struct wr w = wr_typed(buf, cap, 'p');

	put(&w, data, len);
	return wr_end(&w, 1);
}

size_t pg_build_query(char *buf, size_t cap, const char *sql)
{
	struct wr w = wr_typed(buf, cap, 'Q');

	put_str(&w, sql);
	return wr_end(&w, 1);
}

size_t pg_build_parse(char *buf, size_t cap, const char *stmt, const char *query,
		      const uint32_t *param_types, uint16_t ntypes)
{
	struct wr w = wr_typed(buf, cap, 'P');

	put_str(&w, stmt);
	put_str(&w, query);
	put_u16(&w, ntypes);
	for (uint16_t i = 0; i < ntypes; i++)
		put_u32(&w, param_types[i]);
	return wr_end(&w, 1);
}

size_t pg_build_close_stmt(char *buf, size_t cap, const char *stmt)
{
	struct wr w = wr_typed(buf, cap, 'C');

	put_u8(&w, 'S');
	put_str(&w, stmt);
	return wr_end(&w, 1);
}

size_t pg_build_sync(char *buf, size_t cap)
{
	struct wr w = wr_typed(buf, cap, 'S');

	return wr_end(&w, 1);
}

size_t pg_build_terminate(char *buf, size_t cap)
{
	struct wr w = wr_typed(buf, cap, 'X');

	return wr_end(&w, 1);
}

size_t pg_build_copy_fail(char *buf, size_t cap, const char *why)
{
	struct wr w = wr_typed(buf, cap, 'f');

	put_str(&w, why);
	return wr_end(&w, 1);
}
