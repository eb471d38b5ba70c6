/* cli.h (internal): the commands of the `diffkit` binary.
 *
 * Each command lives in its own lua/cli/<name>.c and registers itself with
 * DK_CLI_COMMAND, so adding a command needs no edit to main.c. A command
 * gets argv without the program name (argv[0] is the command's name) and
 * returns the process exit status: 0 success, 1 failure (script error,
 * failed check), 2 usage error. */
#ifndef DIFFKIT_CLI_H
#define DIFFKIT_CLI_H

typedef struct dk_cli_command {
    const char *name;
    const char *summary; /* one line for `diffkit --help` */
    const char *help;    /* full text for `diffkit COMMAND --help` (usage first) */
    int (*run)(int argc, char **argv);
    struct dk_cli_command *next;
} dk_cli_command;

void dk_cli_register(dk_cli_command *c);
const dk_cli_command *dk_cli_find(const char *name);
const dk_cli_command *dk_cli_first(void);

/* Prints "diffkit: <message>" and "run 'diffkit CMD --help' for usage" to
 * stderr; returns 2 (the usage exit status). */
int dk_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 if arg is -h or --help. */
int dk_cli_is_help(const char *arg);

/* Lua commands (luacmd.c). */
typedef struct lua_State lua_State;
#include <stddef.h>
/* lua_pcall message handler: dk.fail errors print their message alone, any
 * other error gets a traceback. */
int dk_cli_msghandler(lua_State *L);
/* package.path = [first/?.lua;] the diffkit Lua folders; the default path;
 * package.preload["diffkit.core"] = the C module. */
void dk_cli_lua_paths(lua_State *L, const char *first, size_t first_len);
/* Runs require(module).main(argv[1], ..., argv[argc-1]) in a fresh Lua
 * state; its integer result is the exit status (nil: 0); an error prints
 * "diffkit CMD: message" and gives 1. */
int dk_cli_lua_module(const char *cmd, const char *module, int argc, char **argv);

#define DK_CLI_COMMAND(NAME, SUMMARY, HELP, FN)                                \
    static dk_cli_command dk__cmd_##FN = {NAME, SUMMARY, HELP, FN, 0};          \
    __attribute__((constructor)) static void dk__cmdreg_##FN(void) { dk_cli_register(&dk__cmd_##FN); }

#endif
