/* diff.c: `diffkit diff A.lua B.lua [--preset P]`: the resolved config leaves
 * that differ between two experiments, one line each with both values. The
 * work is in lua/diffkit/diff_cmd.lua. */
#include "cli.h"

static const char diff_help[] =
    "usage: diffkit diff A.lua B.lua [--preset NAME]\n"
    "\n"
    "Prints every resolved leaf of the experiment config that differs between\n"
    "two experiments (model options, preconditioner/wrapper, sigma density and\n"
    "loss weighting, optimizer, EMA, clipping, flips, sampler, sampling steps,\n"
    "noise, step target), one line each: KEY  A-VALUE  ->  B-VALUE ('(unset)'\n"
    "where one has no such leaf).\n"
    "\n"
    "A and B are experiment scripts (a paper row such as experiments/R1.lua, or\n"
    "any script that calls dk.experiment; it is run up to that call, nothing is\n"
    "trained), or ids of paper rows (R1, E, ...) and rungs of the R2 study\n"
    "(docs/r2.md). --preset NAME is passed to both (paper, mini, study, tiny).\n"
    "\n"
    "example: diffkit diff experiments/R1.lua experiments/R2.lua --preset paper\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static int cmd_diff(int argc, char **argv) { return dk_cli_lua_module("diff", "diffkit.diff_cmd", argc, argv); }

DK_CLI_COMMAND("diff", "the config leaves that differ between two experiments: diffkit diff A.lua B.lua", diff_help,
               cmd_diff)
