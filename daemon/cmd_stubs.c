/* SPDX-License-Identifier: MIT */
/*
 * Empty command tables standing in for those of cmd_target.c, cmd_rollout.c and cmd_metrics.c
 * (daemon/cmd.h) while they are written in parallel: weak, so that a strong definition replaces
 * each. Deleted at the final merge.
 */
#include "cmd.h"

__attribute__((weak))
const struct control_command cmd_target_commands[] = { { NULL, false, NULL } };
__attribute__((weak))
const struct control_command cmd_rollout_commands[] = { { NULL, false, NULL } };
__attribute__((weak))
const struct control_command cmd_metrics_commands[] = { { NULL, false, NULL } };
