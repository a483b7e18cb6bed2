/* SPDX-License-Identifier: MIT */
/*
 * The control socket's commands (docs/control.md), by concern; daemon.c registers these tables
 * with the server (control.h), each handler getting the struct daemon as userdata.
 *   cmd_target.c:  status, pause, resume, pin, unpin, retry
 *   cmd_rollout.c: history, deploy, rollback, approve, reject
 *   cmd_metrics.c: metrics
 * (version and reload are daemon.c's own.)
 */
#ifndef ECR_CMD_H
#define ECR_CMD_H

#include "control.h"

extern const struct control_command cmd_target_commands[];
extern const struct control_command cmd_rollout_commands[];
extern const struct control_command cmd_metrics_commands[];

#endif
