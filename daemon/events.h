/* SPDX-License-Identifier: MIT */
/*
 * The kinds of event ecr-deployd reports, each with a stable 128-bit
 * MESSAGE_ID (made once with `systemd-id128 new`; never change one). An
 * operator can select them: journalctl MESSAGE_ID=<id>.
 */
#ifndef ECR_EVENTS_H
#define ECR_EVENTS_H

#define EVENT_STARTED            "ee6e35602fe74cadbc563c616de98d41"
#define EVENT_STOPPING           "86682dd8e48845cd8b0c1447238a5012"
#define EVENT_CONFIG_LOADED      "d76feb7a856243029cc17f70fa302497"
#define EVENT_CONFIG_RELOADED    "6a8da2d90ba14ef9ac3223977a865491"
#define EVENT_CONFIG_REJECTED    "f19694e7cd004bc881572e29ad78f0fa"
#define EVENT_DETECTED           "6c8950813d3c48e982e3bf0b11bd17af"
#define EVENT_POLL_FAILED        "551228da42b8448f961a49f2d4aa3870"
#define EVENT_DEPLOY_STARTED     "45270edf274944e0a1d1e6ae1fe6e112"
#define EVENT_DEPLOY_COMPLETED   "213a25c6c24d492b820b33b415466dcb"
#define EVENT_DEPLOY_FAILED      "54ae5973ecda4461b7827edb49945a5e"
#define EVENT_ROLLBACK_STARTED   "998ef6d2fc794008a23b100d77c23a3f"
#define EVENT_ROLLBACK_COMPLETED "0e7e263a4f384b3496086292e67ea7ae"
#define EVENT_SKIPPED            "a3786d41eb7b468a9d0f06f62a3f333c"
#define EVENT_API_ERROR          "236138ec156046bfa40113a02c8b4270"

#endif
