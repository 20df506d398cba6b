/*
 * cancel.h - PostgreSQL cancel keys: the (pid, key) pairs nodown gives its
 * clients, and CancelRequests passed on to the server a client's query runs
 * on, acknowledged only once that server has processed them.
 */
#ifndef ND_PG_CANCEL_H
#define ND_PG_CANCEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "../core/common.h"

struct worker;
struct pgcancel;
struct pgcancel_conn;

/*
 * A process id for a client of a transaction-mode pool: above the kernel's
 * pid_max, so it is never a real backend's and pg_terminate_backend() of
 * it can kill nothing.
 */
int32_t pg_cancel_fake_pid(void);

/*
 * Register a client's BackendKeyData: pid as given (a real server's pid in
 * session mode, pg_cancel_fake_pid() otherwise) and a key from the
 * system's cryptographic random source. Returns the entry, or NULL when no
 * secure random number could be had (the client must then be refused:
 * there is no fallback to a guessable key). Any thread.
 */
struct pgcancel *pg_cancel_register(int32_t pid, uint32_t *key) ND_MUST_CHECK;

/* The client runs its queries on the server at addr, whose own key is
 * (spid, skey) / on none. Every call starts a new link generation: a
 * cancel aimed at the previous one is dropped. Any thread. */
void pg_cancel_link(struct pgcancel *e, const struct sockaddr_storage *addr, int32_t spid,
		    uint32_t skey);
void pg_cancel_unlink(struct pgcancel *e);

/* The client left. */
void pg_cancel_unregister(struct pgcancel *e);

/*
 * A CancelRequest for (pid, key) arrived on w. If it names a client linked
 * to a server, connect to that server and send the server's own cancel,
 * unless by then the client has moved to another server or to none (the
 * cancel would hit someone else's query, or its next one); then wait for
 * the server to close that connection, which it does once it has acted on
 * the cancel. done(arg) runs when all that is over (at once when there is
 * nothing to send), so the requester is answered (closed) only after the
 * cancel was processed, as libpq promises. Unknown or wrong keys are
 * dropped silently, as PostgreSQL does. Returns a handle for
 * pg_cancel_detach, or NULL when done already ran. w's thread.
 */
struct pgcancel_conn *pg_cancel_request(struct worker *w, int32_t pid, uint32_t key,
					void (*done)(void *arg), void *arg);

/* The requester left early: done will not be called (the cancel goes on). */
void pg_cancel_detach(struct pgcancel_conn *cc);

#endif
