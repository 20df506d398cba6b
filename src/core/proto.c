/*
 * proto.c - the table of protocol modules the core dispatches to.
 */
#include "proto.h"

const struct proto_ops *proto_ops(enum nd_proto p)
{
	switch (p) {
	case PROTO_HTTP:
		return &http_proto_ops;
	case PROTO_PG:
		return &pg_proto_ops;
	}
	BUG_ON(1);
	return NULL;
}
