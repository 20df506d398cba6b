/*
 * modules.c - the protocol modules nodown is built with. A new protocol
 * is a folder under src/ that defines a struct proto_module, and a line
 * here.
 */
#include "core/proto.h"

extern const struct proto_module http_module, pg_module, redis_module;

const struct proto_module *const proto_modules[] = { &http_module, &pg_module, &redis_module, NULL };
