/*
 * wire.h - PostgreSQL frontend/backend protocol 3.0: frame the startup
 * packet and typed messages, read the fields a pooler needs, rename
 * prepared statements, and build the messages a proxy sends itself.
 *
 * Pure functions over bytes: nothing here touches a socket, a loop or the
 * allocator. Strings read out of a message point into it (struct pg_str);
 * builders write into a caller buffer and return the length they need.
 */
#ifndef ND_PG_WIRE_H
#define ND_PG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"

#define PG_PROTOCOL_3_0		196608		/* 3 << 16 | 0 */
#define PG_CANCEL_REQUEST_CODE	80877102	/* 1234 << 16 | 5678 */
#define PG_SSL_REQUEST_CODE	80877103	/* 1234 << 16 | 5679 */
#define PG_GSSENC_REQUEST_CODE	80877104	/* 1234 << 16 | 5680 */

#define PG_MAX_STARTUP_LEN	10000	/* whole startup packet, as PostgreSQL */
#define PG_MAX_PARAMS		64	/* startup parameters kept */
#define PG_MAX_SASL_MECHS	8	/* mechanisms in an AuthenticationSASL */

/* The one-byte answer to SSLRequest and GSSENCRequest: not supported. */
#define PG_ENCRYPTION_REFUSED	'N'

/* SQLSTATEs for struct pg_err. */
#define PG_SQLSTATE_PROTOCOL_VIOLATION	"08P01"
#define PG_SQLSTATE_FEATURE_NOT_SUPPORTED "0A000"
#define PG_SQLSTATE_INVALID_AUTHORIZATION "28000"

/* Why bytes were refused: what to put in the ErrorResponse to the peer. */
struct pg_err {
	const char *sqlstate;	/* static, five characters */
	const char *reason;	/* static, lower case; an extractor's does not
				 * name the message: prefix pg_msg_name() */
};

/* A field inside a message. String fields are followed by their NUL
 * (p[len] == '\0'); byte fields (SASL data, the MD5 salt) are not. */
struct pg_str {
	const char *p;
	uint32_t len;
};

/* Who sent a typed message: the type bytes of the two directions overlap. */
enum pg_dir {
	PG_FRONTEND,
	PG_BACKEND,
};

/* ---- startup packet -------------------------------------------------------- */

enum pg_startup_kind {
	PG_STARTUP,		/* StartupMessage, protocol 3.x */
	PG_SSL_REQUEST,
	PG_GSSENC_REQUEST,
	PG_CANCEL_REQUEST,
};

struct pg_param {
	struct pg_str name, value;
};

struct pg_startup {
	enum pg_startup_kind kind;
	uint16_t minor;			/* STARTUP: 3.minor asked for; above 0 (or
					 * with _pq_. parameters) the proxy answers
					 * NegotiateProtocolVersion */
	struct pg_str user;		/* STARTUP: never empty */
	struct pg_str database;		/* STARTUP: the user when not given */
	struct pg_str application_name;	/* STARTUP: empty when not given */
	struct pg_str options;		/* STARTUP: empty when not given */
	int nparams;			/* STARTUP: all parameters, in order, */
	struct pg_param params[PG_MAX_PARAMS];	/* user and database included */
	int32_t cancel_pid;		/* CANCEL_REQUEST */
	uint32_t cancel_key;		/* CANCEL_REQUEST */
};

/*
 * Frame and read the untyped first packet of a client connection in
 * p[0, n). Returns its length with *s filled, 0 when more bytes are needed
 * to decide, or -1 with *err set. Errors come as soon as the bytes show
 * them (a bad length after 4 bytes, a bad code after 8), not only once
 * the whole packet is in. Refused: a TLS handshake sent without
 * SSLRequest; a length outside [8, PG_MAX_STARTUP_LEN] or not the fixed
 * one of a request; protocol majors other than 3; unknown request codes;
 * a parameter list not ending in its terminator; repeated or more than
 * PG_MAX_PARAMS parameters; no user; replication connections. Bytes after
 * the packet are not looked at.
 */
long pg_startup_frame(const char *p, size_t n, struct pg_startup *s,
		      struct pg_err *err) ND_MUST_CHECK;

/* ---- typed messages -------------------------------------------------------- */

/*
 * Frame the typed message at the start of p[0, n) sent by `from`: a type
 * byte known in that direction, then an int32 length counting itself, at
 * least 4 and at most max (exactly 4 for types without a body: Sync,
 * Flush, Terminate, CopyDone, ParseComplete...). Returns the whole length
 * (1 + the length field), 0 when more bytes are needed, or -1 with *err
 * set; an unknown type is refused from its first byte.
 */
long pg_msg_frame(const char *p, size_t n, enum pg_dir from, uint32_t max,
		  struct pg_err *err) ND_MUST_CHECK;

/* "Parse", "ErrorResponse"...: the name of a type byte sent by `from`, or
 * NULL when that side never sends it. */
const char *pg_msg_name(char type, enum pg_dir from);

/*
 * Extractors. Each takes one whole message m[0, n) as framed by
 * pg_msg_frame and returns 0 with *out filled, or -1 with *err set (*out
 * then unspecified) when the type is not one it reads, the length field
 * is not n - 1, a string has no NUL before the end, a count or length
 * runs past the end, a value is out of its range, or bytes are left over.
 * Nothing outside m[0, n) is read.
 */

/* Frontend. */
struct pg_parse {
	struct pg_str stmt, query;
	uint16_t nparam_types;
};

struct pg_bind {
	struct pg_str portal, stmt;
	uint16_t nparams;
};

struct pg_target {		/* Describe or Close */
	char kind;		/* 'S' statement, 'P' portal */
	struct pg_str name;
};

struct pg_execute {
	struct pg_str portal;
	int32_t max_rows;	/* 0 or less: all */
};

struct pg_sasl_initial {
	struct pg_str mechanism;
	bool has_data;		/* false: length -1, no initial response */
	struct pg_str data;
};

int pg_read_query(const char *m, size_t n, struct pg_str *sql, struct pg_err *err) ND_MUST_CHECK;
int pg_read_parse(const char *m, size_t n, struct pg_parse *out, struct pg_err *err) ND_MUST_CHECK;
/* Also walks the format codes, parameter values and result formats. */
int pg_read_bind(const char *m, size_t n, struct pg_bind *out, struct pg_err *err) ND_MUST_CHECK;
/* 'D' Describe or 'C' Close. */
int pg_read_target(const char *m, size_t n, struct pg_target *out, struct pg_err *err) ND_MUST_CHECK;
int pg_read_execute(const char *m, size_t n, struct pg_execute *out, struct pg_err *err) ND_MUST_CHECK;
/* 'p' is one type for several messages; the auth exchange says which. */
int pg_read_password(const char *m, size_t n, struct pg_str *password,
		     struct pg_err *err) ND_MUST_CHECK;
int pg_read_sasl_initial(const char *m, size_t n, struct pg_sasl_initial *out,
			 struct pg_err *err) ND_MUST_CHECK;
int pg_read_sasl_response(const char *m, size_t n, struct pg_str *data,
			  struct pg_err *err) ND_MUST_CHECK;

/* Backend. */
enum pg_auth_code {
	PG_AUTH_OK = 0,
	PG_AUTH_CLEARTEXT = 3,
	PG_AUTH_MD5 = 5,
	PG_AUTH_SASL = 10,
	PG_AUTH_SASL_CONTINUE = 11,
	PG_AUTH_SASL_FINAL = 12,
};

struct pg_auth {
	enum pg_auth_code code;
	struct pg_str data;	/* MD5: the 4-byte salt; SASL_CONTINUE/FINAL: the data */
	int nmechs;		/* SASL: at least one */
	struct pg_str mechs[PG_MAX_SASL_MECHS];
};

struct pg_notice {		/* ErrorResponse or NoticeResponse */
	struct pg_str severity;	/* 'V' (never localized) if sent, else 'S' */
	struct pg_str sqlstate;	/* 'C' */
	struct pg_str message;	/* 'M' */
	struct pg_str detail;	/* 'D', empty when not sent */
	struct pg_str hint;	/* 'H', empty when not sent */
};

struct pg_copy {		/* CopyIn-, CopyOut- or CopyBothResponse */
	char type;		/* 'G', 'H' or 'W' */
	bool binary;		/* overall format */
	uint16_t ncols;
};

/* ReadyForQuery: *status is 'I' idle, 'T' in a transaction, 'E' failed one. */
int pg_read_ready(const char *m, size_t n, char *status, struct pg_err *err) ND_MUST_CHECK;
int pg_read_param_status(const char *m, size_t n, struct pg_param *out,
			 struct pg_err *err) ND_MUST_CHECK;
int pg_read_key_data(const char *m, size_t n, int32_t *pid, uint32_t *key,
		     struct pg_err *err) ND_MUST_CHECK;
/* Needs severity, SQLSTATE and message; other fields are skipped. */
int pg_read_notice(const char *m, size_t n, struct pg_notice *out, struct pg_err *err) ND_MUST_CHECK;
/* ErrorResponse or NoticeResponse m as "SQLSTATE: message" in out[0, cap)
 * (truncated to fit), or "a malformed ErrorResponse"; returns out. */
const char *pg_describe_notice(const char *m, size_t n, char *out, size_t cap);
/* Authentication requests other than the enum pg_auth_code ones are
 * refused with PG_SQLSTATE_FEATURE_NOT_SUPPORTED. */
int pg_read_auth(const char *m, size_t n, struct pg_auth *out, struct pg_err *err) ND_MUST_CHECK;
int pg_read_copy_response(const char *m, size_t n, struct pg_copy *out,
			  struct pg_err *err) ND_MUST_CHECK;

/*
 * Write frontend message m[0, n) to out[0, cap) with its prepared
 * statement renamed to `name`: Parse, Bind (the portal is kept),
 * Describe 'S' or Close 'S'. Every other byte is kept. Returns the length
 * of the new message, written only when it fits in cap, or -1 with *err
 * set when m is malformed or names no statement (another type, or a
 * portal). out must not overlap m.
 */
long pg_rewrite_stmt(const char *m, size_t n, const char *name, char *out, size_t cap,
		     struct pg_err *err) ND_MUST_CHECK;

/*
 * Is sql[0, len) exactly `DEALLOCATE [PREPARE] name` (keywords in any case,
 * white space around, one optional `;`)? Then returns 1 with the name as
 * PostgreSQL resolves it in name[0, cap): an unquoted one folded to lower
 * case, a "quoted" one as written (with "" read as "). Returns 0 for
 * anything else, DEALLOCATE ALL and a name that does not fit included.
 * Pure SQL text: comments, for one, make it 0.
 */
int pg_sql_deallocate(const char *sql, size_t len, char *name, size_t cap);

/* ---- builders -------------------------------------------------------------- */

/*
 * Each writes one message to buf[0, cap) and returns its length. When
 * that is more than cap, buf holds no usable message (pass NULL, 0 to
 * size one). Strings are C strings; byte fields come with their length.
 */

/* Backend messages. */
size_t pg_build_error(char *buf, size_t cap, const char *severity, const char *sqlstate,
		      const char *message, const char *detail, const char *hint);
size_t pg_build_auth_ok(char *buf, size_t cap);
size_t pg_build_auth_cleartext(char *buf, size_t cap);
size_t pg_build_auth_md5(char *buf, size_t cap, const char salt[4]);
size_t pg_build_auth_sasl(char *buf, size_t cap, const char *const *mechs, int nmechs);
size_t pg_build_auth_sasl_continue(char *buf, size_t cap, const char *data, size_t len);
size_t pg_build_auth_sasl_final(char *buf, size_t cap, const char *data, size_t len);
size_t pg_build_param_status(char *buf, size_t cap, const char *name, const char *value);
size_t pg_build_key_data(char *buf, size_t cap, int32_t pid, uint32_t key);
size_t pg_build_ready(char *buf, size_t cap, char status);
size_t pg_build_command_complete(char *buf, size_t cap, const char *tag);
/* NegotiateProtocolVersion: the newest 3.minor served and the _pq_.
 * startup options not recognized. */
size_t pg_build_negotiate(char *buf, size_t cap, uint16_t minor,
			  const struct pg_str *unrecognized, int n);

/* Frontend messages. The StartupMessage asks for 3.0; database may be
 * NULL, extra parameters follow user and database. */
size_t pg_build_startup(char *buf, size_t cap, const char *user, const char *database,
			const struct pg_param *extra, int nextra);
size_t pg_build_cancel(char *buf, size_t cap, int32_t pid, uint32_t key);

/* A NotificationResponse m[0, n) (a framed 'A' message) sent by backend
 * pid `from`: make its sender `to`, in place. Returns true if it did. */
bool pg_notification_repid(char *m, size_t n, int32_t from, int32_t to);
size_t pg_build_password(char *buf, size_t cap, const char *password);
/* data NULL: no initial response (length -1). */
size_t pg_build_sasl_initial(char *buf, size_t cap, const char *mechanism,
			     const char *data, size_t len);
size_t pg_build_sasl_response(char *buf, size_t cap, const char *data, size_t len);
size_t pg_build_query(char *buf, size_t cap, const char *sql);
size_t pg_build_parse(char *buf, size_t cap, const char *stmt, const char *query,
		      const uint32_t *param_types, uint16_t ntypes);
size_t pg_build_close_stmt(char *buf, size_t cap, const char *stmt);
size_t pg_build_sync(char *buf, size_t cap);
size_t pg_build_terminate(char *buf, size_t cap);
size_t pg_build_copy_fail(char *buf, size_t cap, const char *why);

#endif
