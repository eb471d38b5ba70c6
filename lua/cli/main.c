/* main.c: the `diffkit` binary — dispatches to the registered commands
 * (run, plugins, verify, ...; see cli.h) and prints the top-level help.
 * Exit status: 0 success, 1 failure (script error, failed check), 2 usage. */
#include "cli.h"
#include "diffkit/dist.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static dk_cli_command *commands = NULL;

void dk_cli_register(dk_cli_command *c) {
    dk_cli_command **at = &commands;
    while (*at && strcmp((*at)->name, c->name) < 0) at = &(*at)->next;
    c->next = *at;
    *at = c;
}

const dk_cli_command *dk_cli_find(const char *name) {
    const dk_cli_command *c;
    for (c = commands; c; c = c->next)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

const dk_cli_command *dk_cli_first(void) { return commands; }

int dk_cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int dk_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fputs("diffkit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd) fprintf(stderr, " (run 'diffkit %s --help' for usage)\n", cmd);
    else fputs(" (run 'diffkit --help' for usage)\n", stderr);
    return 2;
}

static void print_help(FILE *out) {
    const dk_cli_command *c;
    fputs("usage: diffkit COMMAND [ARGS...]\n"
          "       diffkit SCRIPT.lua [ARGS...]      (same as: diffkit run SCRIPT.lua ...)\n"
          "\n"
          "diffkit: plugin-based diffusion-model experiments in C, driven by Lua.\n"
          "\n"
          "commands:\n",
          out);
    for (c = commands; c; c = c->next) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fputs("  help       show this help, or a command's: diffkit help COMMAND\n"
          "\n"
          "Run 'diffkit COMMAND --help' for a command's arguments.\n"
          "\n"
          "environment:\n"
          "  DIFFKIT_PLUGIN_PATH  ':'-separated folders searched for plugins (*.so) before\n"
          "                       the build tree and the install tree\n"
          "  DIFFKIT_LOG          log level: debug, info (default), warn, error\n"
          "\n"
          "exit status: 0 success, 1 failure (script error, failed check), 2 usage error\n",
          out);
}

static int command_help(const char *name) {
    const dk_cli_command *c = dk_cli_find(name);
    if (!c) return dk_cli_usage_error(NULL, "unknown command '%s'", name);
    fputs(c->help, stdout);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int dispatch(int argc, char **argv);

/* Under mpirun (docs/distributed.md) every rank runs the same command: MPI is
 * joined first; a rank that fails ends the others (dk_dist_abort names it),
 * so no rank waits forever in a collective for it. */
int main(int argc, char **argv) {
    dk_error err;
    if (dk_dist_init(&err) != DK_OK) {
        fprintf(stderr, "diffkit: %s\n", err.msg);
        return 1;
    }
    int rc = dispatch(argc, argv);
    if (rc != 0 && dk_dist_world() > 1)
        dk_dist_abort(rc, "failed with exit status %d (its message is above): stopping the other ranks", rc);
    dk_dist_finalize();
    return rc;
}

static int dispatch(int argc, char **argv) {
    const dk_cli_command *c;
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (dk_cli_is_help(argv[1])) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc > 2) return command_help(argv[2]);
        print_help(stdout);
        return 0;
    }
    if (argv[1][0] != '-' && ends_with(argv[1], ".lua") && (c = dk_cli_find("run")) != NULL) {
        /* diffkit SCRIPT.lua ...: argv[0] stands in for the command name */
        return c->run(argc, argv);
    }
    c = dk_cli_find(argv[1]);
    if (!c) {
        if (argv[1][0] == '-') return dk_cli_usage_error(NULL, "unknown option '%s'", argv[1]);
        return dk_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    }
    if (argc > 2 && dk_cli_is_help(argv[2])) {
        fputs(c->help, stdout);
        return 0;
    }
    return c->run(argc - 1, argv + 1);
}
