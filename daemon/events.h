/* SPDX-License-Identifier: MIT */
/*
 * The kinds of event ecr-deployd reports, each with a stable 128-bit
 * MESSAGE_ID (made once with `systemd-id128 new`; never change one). An
 * operator can select them: journalctl MESSAGE_ID=<id>. An id is added
 * here when something emits it.
 */
#ifndef ECR_EVENTS_H
#define ECR_EVENTS_H

#define EVENT_STARTED               "ee6e35602fe74cadbc563c616de98d41"
#define EVENT_STOPPING              "86682dd8e48845cd8b0c1447238a5012"
#define EVENT_CONFIG_RELOADED       "6a8da2d90ba14ef9ac3223977a865491"
#define EVENT_CONFIG_REJECTED       "f19694e7cd004bc881572e29ad78f0fa"
#define EVENT_DETECTED              "6c8950813d3c48e982e3bf0b11bd17af"
#define EVENT_POLL_FAILED           "551228da42b8448f961a49f2d4aa3870"
#define EVENT_DEPLOY_STARTED        "fc46dc75a7434e1486ae650574bea85a"
#define EVENT_DEPLOY_COMPLETED      "b70dbb90cd4d4e0792b49aff021a4d9b"
#define EVENT_DEPLOY_FAILED         "1f6cf0ddee5841c79a2f8cf82538c0a9"
#define EVENT_ROLLBACK_STARTED      "946e99c3c2374a8b9420137a0dd04623"
#define EVENT_ROLLBACK_COMPLETED    "81c22d2906da4e0280e53f312a2d6d02"
#define EVENT_ROLLBACK_FAILED       "8bb5ae24f05b408996d3fd2bb948f248"
#define EVENT_SKIPPED               "1826f1f7cb0c46f9bbff8b94c93dace0"
#define EVENT_API_ERROR             "0aea6f7260084453a1d3d7197fcf1ef2"
#define EVENT_STATE_WRITE_FAILED    "bd68ce62fb5b4196bcf1968a287c01f8"
#define EVENT_STATE_WRITTEN         "3ce37505869a4781a3ca698ded421681"
#define EVENT_STATE_RESET           "cf648c689a9f409db36fac86cee69fe2"
#define EVENT_BLOCKED               "d7631a67aa3d44f8b114544ef9768e73"
#define EVENT_AWAITING_APPROVAL     "9c0c2de006c7491cbff086cc0a5c95f3"
#define EVENT_GUARD_WARNING         "81fc6ff6c31f45ecbbe9e789932580db"
#define EVENT_DEPLOY_PROGRESS       "bc1ca2c9c06b4873b529bab26f50bc3b"
#define EVENT_QUEUE_FAILED          "e088d4ba400d45888cd84c0785483d69"
#define EVENT_QUEUE_RECOVERED       "c93c71a5cd7b4ac1bb9d84d246022d78"
#define EVENT_MESSAGE_MALFORMED     "b0844cb3e7a0405abaad5d0ec6be3015"
#define EVENT_IMAGE_DELETED         "fc14236d7bea4d94b09b89b53d16759c"
#define EVENT_CONTROL_ACTION        "795048b770ec41b781bea4643d98ae52"
#define EVENT_CONTROL_REFUSED       "2ba220dd46254589951f4f4bde026c5a"
#define EVENT_PAUSE_EXPIRED         "433c59c09d514f5b978d6272f3230819"
#define EVENT_NOTIFY_FAILED         "9ce0436e742d4c399d4b6daba82ff0f1"
#define EVENT_NOTIFY_DROPPED        "634d8565a98d49f3aa001b9b366a6c9b"
#define EVENT_NOTIFY_SINK_FAILING   "4c1dfbd51bae4358bc0495bc413d1f2b"
#define EVENT_NOTIFY_SINK_RECOVERED "604a276409cd4bfb87acafd0a320a12e"
#define EVENT_HA_LEADING            "3015eabd828b425d8cfaaa7d50a16e95"
#define EVENT_HA_STANDBY            "d5ff6d08bb9f4985a8c50cf125829f34"
#define EVENT_HA_SUSPENDED          "30f4680517434184afc41e58dd571eb3"
#define EVENT_HA_RESUMED            "eeb335b0d076434790441d45732d9cd2"
#define EVENT_HA_LOST               "fd929e84e3ed497ca13320255a001815"
#define EVENT_HA_RELEASED           "fe02e170870c4853bef992c7bc788a1e"
#define EVENT_HA_FENCED             "fed92de5cef74398b91c70488d6ace38"

#endif
