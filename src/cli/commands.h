/*
 * commands.h - subcommands implemented outside main.c.
 */
#ifndef ND_CLI_COMMANDS_H
#define ND_CLI_COMMANDS_H

extern const char status_usage[];
int cmd_status(int argc, char **argv);

#endif
