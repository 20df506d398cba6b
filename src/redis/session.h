/*
 * session.h - what a client has set on its server connection (database,
 * name, protocol version, its own login, subscriptions), learnt from the
 * commands it sends and the replies they get, so that a new server
 * connection can be given the same state when the primary moves.
 */
#ifndef ND_REDIS_SESSION_H
#define ND_REDIS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resp.h"

#define RSESSION_SUBS_MAX (64u << 10)	/* bytes of subscription commands kept */

struct reffect;

struct rsession {
	int proto;				/* 2 or 3 (HELLO); 0: never said */
	char db[24];				/* SELECTed ("" : 0) */
	char name[RESP_ARG_CAP + 1];		/* CLIENT SETNAME / HELLO SETNAME ("": none) */
	char user[RESP_ARG_CAP + 1];		/* the client's own AUTH, passed to the server */
	char pass[RESP_ARG_CAP + 1];
	bool auth;
	char *subs;				/* (P|S)SUBSCRIBE and their UN- commands, as sent */
	size_t subs_len;
	uint64_t subs_start;			/* bytes ever captured before subs[0] */
	const char *lost;			/* why it cannot be restored (NULL: it can) */
	struct reffect *effects, **tail;	/* commands sent that change it, replies to come */
};

void rsession_init(struct rsession *s);
void rsession_free(struct rsession *s);

/* Does the command rd has read change the subscriptions? Its bytes are
 * then kept (rsession_capture) as it is relayed. */
bool rsession_is_sub(const struct resp_reader *rd);
void rsession_capture(struct rsession *s, const char *p, size_t n);

/*
 * The command rd has read whole is sent to the server as the seq-th
 * command with a reply to come (0: its reply is not told, in subscribe
 * mode); in_multi: it is queued by a MULTI. A command that changes the
 * session is kept until its reply says whether it took effect.
 */
void rsession_command(struct rsession *s, const struct resp_reader *rd, uint64_t seq, bool in_multi);

/* The reply to the seq-th command came; error: it is an error reply. */
void rsession_reply(struct rsession *s, uint64_t seq, bool error);

/*
 * Write the commands that give a new connection this session through
 * put(ctx, bytes): the fixed ones (each with one reply; the count is
 * returned), then, when there are subscriptions, their commands and
 * `PING token`, whose reply (the only one holding token) ends what they
 * bring (*marker set).
 */
int rsession_replay(const struct rsession *s, void (*put)(void *ctx, const char *p, size_t n), void *ctx,
		    const char *token, bool *marker);

#endif
