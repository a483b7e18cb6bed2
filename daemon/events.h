/* SPDX-License-Identifier: MIT */
/*
 * The kinds of event ecr-deployd reports, each with a stable 128-bit
 * MESSAGE_ID (made once with `systemd-id128 new`; never change one). An
 * operator can select them: journalctl MESSAGE_ID=<id>. An id is added
 * here when something emits it.
 */
#ifndef ECR_EVENTS_H
#define ECR_EVENTS_H

#define EVENT_STARTED         "ee6e35602fe74cadbc563c616de98d41"
#define EVENT_STOPPING        "86682dd8e48845cd8b0c1447238a5012"
#define EVENT_CONFIG_RELOADED "6a8da2d90ba14ef9ac3223977a865491"
#define EVENT_CONFIG_REJECTED "f19694e7cd004bc881572e29ad78f0fa"
#define EVENT_DETECTED        "6c8950813d3c48e982e3bf0b11bd17af"
#define EVENT_POLL_FAILED     "551228da42b8448f961a49f2d4aa3870"

#endif
