/*
 * client.h - a PostgreSQL client session, shared by the files that serve
 * it: pg/proxy.c (the connection and the relay of its transactions),
 * pg/startup.c (start-up and authentication), pg/settings.c (the session
 * settings carried to its servers) and pg/stmts.c (its prepared
 * statements). Private to those four: the rest of nodown sees a client
 * through pg/proxy.h.
 *
 * A client lives on the loop of the worker that accepted it, and so does
 * everything declared here.
 */
#ifndef ND_PG_CLIENT_H
#define ND_PG_CLIENT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../core/proto.h"
#include "../core/worker.h"
#include "password.h"
#include "pool.h"

struct pgcancel;
struct pgcancel_conn;
struct pg_scram_server;

enum pcstate {
	PC_STARTUP,		/* reading the startup packet */
	PC_CANCEL,		/* a CancelRequest: answered (closed) once it was delivered */
	PC_AUTH,		/* authentication exchange */
	PC_IDLE,		/* logged in, no server */
	PC_WAITING,		/* waiting for a server (or a primary, or a switchover) */
	PC_LINKED,		/* relaying to c->server */
	PC_CLOSING,
};

enum pcauth { A_NONE, A_MD5, A_SCRAM_FIRST, A_SCRAM_FINAL };

struct stmt {
	char *name;			/* the client's */
	char *srvname;			/* on servers: nd<client>_<n> */
	char *parse;			/* the client's Parse, renamed, to prepare it elsewhere */
	size_t parse_len;
};

struct pgclient {
	uv_tcp_t tcp;
	uv_write_t wreq;
	uv_timer_t timer;		/* startup/auth deadline; wait deadline */
	struct client_link link;
	struct worker *w;
	struct wgen *gen;		/* a reference */
	struct pg_wpool *pool;		/* in gen */
	struct pgbucket *bucket;
	enum pcstate state;
	enum pcauth auth;
	int closing_handles;
	struct list wait_node;		/* on a bucket's waiters while PC_WAITING */
	struct pgserver *server;	/* while PC_LINKED */
	struct gbuf in, out, wbuf;	/* from the client; to it; the write in flight */
	struct buf_waiter bw;		/* reading stopped until the worker's buffers free up */
	bool nomem;			/* the last read found them spent */
	bool writing;			/* a uv_write of wbuf is in flight */
	struct wflush flush;		/* queued on the worker when out has bytes */
	bool reading;
	bool busy;			/* a transaction in progress, counted in the pool's in_flight */
	struct backend_live *counted;	/* where the transaction counts in `active` */
	bool close_after;		/* close once the output is written */
	bool held_counted;
	bool bootstrap;			/* logged in; waiting for a server's parameters */
	bool session_waiting;		/* session mode: a pause holds it on its own server */
	int pending;			/* Sync/Query/FunctionCall sent, ReadyForQuery not yet back */
	bool unsynced;			/* extended-protocol messages sent since the last Sync */
	bool last_extended;		/* the last command was run by Execute (not Query) */
	bool copy_in;			/* the server is in COPY FROM STDIN: it ignores Sync */
	char txstatus;			/* last ReadyForQuery status */
	size_t pass_left;		/* bytes of a server message still to pass through */
	const struct pg_user *user;
	struct pg_scram_server *scram;
	const char *mock_why;		/* why its SCRAM exchange is a mock (no usable secret) */
	uint8_t salt[PG_MD5_SALT_LEN];
	char username[PG_AUTH_USER_MAX + 1];
	char database[PG_AUTH_USER_MAX + 1];
	char appname[64];
	struct pg_vars vars;		/* the values the client wants */
	int32_t pid;			/* BackendKeyData given to the client */
	uint32_t key;
	unsigned sid;			/* names its statements on servers: nd<sid>_<n> */
	struct pgcancel *cancel;	/* owned: its entry in the cancel table */
	struct pgcancel_conn *cancel_req;	/* PC_CANCEL: the cancel being delivered */
	bool replaying;			/* login: its startup settings are being SET */
	struct stmt *stmts;
	int nstmts;
	unsigned stmt_seq;
	uint64_t wait_ms;		/* when it started waiting */
	uint64_t tx_start_ms;
	char peer[INET6_ADDRSTRLEN];
};

/* ---- pg/proxy.c: the connection and the relay -------------------------------------- */

/* Output to the client: n bytes; an ErrorResponse (FATAL: closed once
 * written). */
void pgc_send(struct pgclient *c, const char *p, size_t n);
void pgc_error(struct pgclient *c, const char *severity, const char *sqlstate,
	       const char *msg);
/* Close the client now (why, if not NULL, is logged). */
void pgc_close(struct pgclient *c, const char *why);
/* c's queries now run on s (NULL: on none): its cancel key and its count
 * in the backend's `active` follow. */
void pgc_server_changed(struct pgclient *c, struct pgserver *s);
/* c lets its server go: back to the pool if clean, else closed. */
void pgc_unlink_server(struct pgclient *c, bool clean);
/* Send sql to s as a Query of ours: its answers are dropped. */
void pgc_inject(struct pgserver *s, const char *sql);
/* Wait for a server: pg_proxy_linked, pg_proxy_link_failed or a timeout
 * ends the wait. */
void pgc_hold(struct pgclient *c);

/* ---- pg/startup.c: start-up and authentication ---------------------------------- */

/* c->in starts with the first packet of the connection, whole or not. */
void pgc_on_startup(struct pgclient *c);
/* A message of the client during authentication. */
void pgc_auth_msg(struct pgclient *c, const char *m, size_t n);
/* The login ends on s: parameters, cancel key, ReadyForQuery. */
void pgc_finish_login(struct pgclient *c, struct pgserver *s);
/* Start-up and authentication took longer than header_timeout. */
void pgc_startup_timeout_cb(uv_timer_t *t);

/* ---- pg/settings.c: session settings carried to servers ------------------------ */

/* SET on s what c wants of the tracked parameters. */
void pgc_replay_vars(struct pgclient *c, struct pgserver *s);
/* The SETs on s are all answered; one of them failed (ErrorResponse m). */
void pgc_replay_done(struct pgclient *c, struct pgserver *s);
/* RESET ALL on s (a client changed a setting there); answers dropped. */
void pgc_reset_settings(struct pgserver *s);
void pgc_replay_failed(struct pgclient *c, const char *m, size_t n);
/* At login: the ParameterStatus messages of s's login, as c now has them. */
void pgc_send_login_params(struct pgclient *c, struct pgserver *s);

/* ---- pg/stmts.c: prepared statements ------------------------------------------- */

/* The client's statements are gone (DEALLOCATE ALL, DISCARD ALL). */
void pgc_forget_all_stmts(struct pgclient *c);
/* DISCARD ALL (discard) or DEALLOCATE ALL ran on s: its statements, and
 * with DISCARD ALL its settings, are forgotten. */
void pgc_server_was_reset(struct pgserver *s, bool discard);
/* Run sql, DISCARD ALL or DEALLOCATE ALL, on s; its answers are dropped. */
void pgc_reset_server(struct pgserver *s, const char *sql);
/* The oldest Parse sent to s is answered (ParseComplete); a ReadyForQuery
 * from s settles the Parses of the batches it ends. */
struct pg_parse_sent pgc_parse_pop(struct pgserver *s);
void pgc_parses_settle(struct pgserver *s);
/* `DEALLOCATE name` of a statement the client prepared with Parse: is
 * Query m answered here? Is sql, going to c's server, rewritten into out? */
bool pgc_deallocate_here(struct pgclient *c, const char *m, size_t n);
bool pgc_deallocate_rename(struct pgclient *c, struct pg_str sql, char *out, size_t cap);
/* Parse; Bind, Describe or Close: relayed to c's server, statements
 * renamed. -1: the client was sent a FATAL error. */
int pgc_on_parse(struct pgclient *c, const char *m, size_t n);
int pgc_on_stmt_ref(struct pgclient *c, const char *m, size_t n);

#endif
