/*
 * commands.h - subcommands implemented outside main.c.
 */
#ifndef ND_CLI_COMMANDS_H
#define ND_CLI_COMMANDS_H

extern const char status_usage[];
int cmd_status(int argc, char **argv);

extern const char drain_usage[], ready_usage[], maint_usage[], weight_usage[];
int cmd_drain(int argc, char **argv);
int cmd_ready(int argc, char **argv);
int cmd_maint(int argc, char **argv);
int cmd_weight(int argc, char **argv);

extern const char switchover_usage[];
int cmd_switchover(int argc, char **argv);

extern const char pause_usage[], resume_usage[];
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);

extern const char reload_usage[];
int cmd_reload(int argc, char **argv);

extern const char run_usage[], abort_usage[], approve_usage[], history_usage[];
int cmd_run(int argc, char **argv);
int cmd_abort(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_history(int argc, char **argv);

extern const char load_usage[];
int cmd_load(int argc, char **argv);

#endif
