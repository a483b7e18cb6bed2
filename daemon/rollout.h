/* SPDX-License-Identifier: MIT */
/*
 * The rollout engine: one typed step machine for every rollout (deploy, track, roll back) and
 * first-start inspection. Internal to the deployer's files (deployer.c, rollout.c, deploy.c,
 * sdeploy.c, rollback.c, inspect.c); the daemon sees deployer.h.
 *
 * Each step sends one request and has one reader that returns the next step or an outcome. The
 * engine (rollout.c) does the rest once: it writes the record before a step that is written
 * (and the time a call that changes AWS is sent), sends the request, retries what AWS says is
 * transient with backoff, turns an authorization or request error into a blocked target, and
 * ends the rollout on an outcome. No reader calls another step.
 *
 * The steps (tests/unit/test_rollout.c checks this table against rollout_steps[]) are below;
 * after them, what the engine does with an outcome.
 */
/* clang-format off */
/*
 *   step                  written  its reader may go to                                resumed as
 *   inspect               no       inspect-taskdef                                     inspect
 *   inspect-taskdef       no       inspect-list, inspect-revision                      inspect
 *   inspect-list          no       inspect-tasks                                       inspect
 *   inspect-tasks         no       -                                                   inspect
 *   inspect-revision      no       -                                                   inspect
 *   start                 yes      read-base, updating, cd-applications, cd-group-info  start
 *   read-base             no       registering, updating                               start
 *   registering           yes      registered                                          find-registered
 *   find-registered       no       start, registered                                   find-registered
 *   registered            yes      updating, deregister, start, creating               registered
 *   deregister            yes      start                                               start
 *   updating              yes      tracking, tracking-sd                               find-update
 *   find-update           no       tracking, tracking-sd, updating, deregister, start  find-update
 *   tracking              yes      confirm-list, tracking-sd                           tracking
 *   tracking-sd           yes      confirm-list, approving, read-events, tracking      tracking-sd
 *   approving             no       tracking-sd                                         tracking-sd
 *   read-events           no       -                                                   tracking-sd
 *   confirm-list          no       confirm-tasks                                       tracking
 *   confirm-tasks         no       -                                                   tracking
 *   stopping              yes      rollback-tracking-sd, stop-check, rollback          stop-check
 *   stop-check            no       rollback-tracking-sd, stopping, rollback            stop-check
 *   rollback-tracking-sd  yes      rollback                                            rollback-tracking-sd
 *   rollback              yes      rollback-check, rollback-find, cd-rolling-back      rollback
 *   rollback-find         no       rollback-read-base, rollback-check, cd-rolling-back  rollback
 *   rollback-read-base    no       rollback-registering                                rollback
 *   rollback-registering  yes      rollback-check, cd-rolling-back                     rollback-find
 *   rollback-check        no       rollback-tracking, rolling-back                     rollback-check
 *   rolling-back          yes      rollback-tracking                                   rollback-check
 *   rollback-tracking     yes      -                                                   rollback-tracking
 *
 * strategy codedeploy (cdeploy.c; the steps marked CD call CodeDeploy, the others ECS):
 *   start                 (above: its reader goes to cd-applications, or read-base)
 *   registered            (above: its reader goes to creating)
 *   cd-applications       no       cd-applications, cd-groups                          start
 *   cd-groups             no       cd-groups, cd-group-info, read-base                 start
 *   cd-group-info         no       cd-group-info, cd-groups, read-base, cd-applications  start
 *   creating              yes      cd-tracking                                         find-deployment
 *   find-deployment       no       find-deployment, find-deployment-info, creating     find-deployment
 *   find-deployment-info  no       cd-tracking, find-deployment-info, find-deployment, creating  find-deployment
 *   cd-tracking           yes      cd-approving, cd-read-targets, find-deployment      cd-tracking
 *   cd-approving          no       cd-tracking                                         cd-tracking
 *   cd-read-targets       no       cd-read-diagnostics                                 cd-tracking
 *   cd-read-diagnostics   no       -                                                   cd-tracking
 *   cd-stopping           yes      cd-stop-check                                       cd-stop-check
 *   cd-stop-check         no       cd-rollback-tracking, cd-stopping, rollback         cd-stop-check
 *   cd-rollback-tracking  yes      -                                                   cd-rollback-tracking
 *   cd-rolling-back       yes      cd-rollback-tracking                                cd-rollback-find
 *   cd-rollback-find      no       cd-rollback-find, cd-rollback-find-info, cd-rolling-back  cd-rollback-find
 *   cd-rollback-find-info no       cd-rollback-tracking, cd-rollback-find-info, cd-rollback-find, cd-rolling-back  cd-rollback-find
 */
/* clang-format on */
/*
 * Besides, a reader returns an outcome (enum rollout_outcome), and the engine goes on: a
 * deploy that failed (or an anomaly) -> stopping when our service deployment is in progress
 * (StopServiceDeployment: ECS rolls back), else rollback (strategy revision, rollback on);
 * failed with ECS rolling back -> rollback-tracking-sd (or rollback-tracking without a service
 * deployment: following ECS); blocked with our revision unused -> deregister; skipped (the guard,
 * a controller that is not ECS) ends it like blocked, with SKIPPED; anything else ends the
 * rollout. Strategy codedeploy: a deploy that failed while CodeDeploy's deployment is in progress
 * (our timeout, an operator's rollback or reject) -> cd-stopping (StopDeployment with
 * autoRollbackEnabled: CodeDeploy rolls back, followed by cd-rollback-tracking); failed with
 * CodeDeploy rolling back -> cd-rollback-tracking; failed without -> cd-rolling-back (a CodeDeploy
 * deployment of the revision that ran before: rollback, and when it names a tag rollback-find to
 * rollback-registering as for strategy revision, then cd-rolling-back), with rollback on.
 *
 * A written step is the one in the record file; a step that is not written leaves the record on
 * the last written one, whose re-run covers it. Every step can be re-run from AWS's answers:
 * a revision or deployment made before a stop is found and adopted, never made twice.
 */
#ifndef ECR_ROLLOUT_H
#define ECR_ROLLOUT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "aws.h"
#include "config.h"
#include "deployer.h"
#include "history.h"
#include "log.h"
#include "record.h"
#include "strmap.h"

struct deployer;
struct batch;

#define EVENTS_KEPT  3 /* ECS event messages quoted in DEPLOY_FAILED */
#define CD_READY_LEN 64

struct rollout {
	struct deployer *dp;
	struct rollout *next;
	struct rollout_rec *rec;     /* owned */
	bool inspect;                /* a first-start inspection: never written */
	struct cred_provider *creds; /* NULL: the daemon's */
	struct aws_call *call;
	struct aws_call
	    *events_call; /* a side read of the service's events (rollout_read_events) */
	double events_at; /* ev_now() time of the last one */
	struct batch *batch;
	int batch_slot;
	cJSON *described;    /* the DescribeTaskDefinition reply a registration is made from */
	cJSON *listed;       /* the ListTasks reply a DescribeTasks is made from */
	cJSON *svc;          /* the service as the start step read it (the guard's), or the
				inspection's currentServiceRevisions */
	bool waiting;        /* the step runs again at next_at */
	bool unwritten;      /* the step could not be written: write it, then run it */
	double next_at;      /* ev_now() time of the next tracking look or retry */
	double interval;     /* tracking interval now */
	int attempts;        /* transient failures in a row */
	int restarts;        /* the service moved under us */
	double events_after; /* ECS events newer than this (AWS epoch seconds) are reported */
	char events[EVENTS_KEPT][256];
	int n_events;
	int running, desired; /* tasks of the deployment tracked, at the last look */
	bool said_wait;       /* the wait for a call sent before a stop was said */
	bool said_blocked;    /* tracking: an authorization error was said */
	bool quiet_block;     /* blocked again (a retry of the same block): no notification */
	bool event_seen;      /* an ECS event about its service came from a queue: while events
				 flow, tracking looks only every TRACK_SAFETY_S unless one comes */
	bool repoke;          /* an event came while a look was in flight: look again after it */
	uint64_t poke_ticket; /* the event waiting for its next look to be read, or 0 */
	/* the service deployment at the last look (STATUS=) */
	char stage[48];
	double weight;      /* production traffic on ours, percent; -1 unknown */
	bool awaiting;      /* at a PAUSE hook */
	char continued[96]; /* the hook "approve": "auto" continued (once per hook) */
	int stops;          /* StopServiceDeployment sent again after a look (bounded) */
	bool said_rollback; /* ROLLBACK_STARTED was said (ECS's rollback of our stop) */
	bool sd_refused;    /* DescribeServiceDeployments is not allowed: tracked by
			       DescribeServices until the next start */
	/* an outcome's details, set by the reader that returns it */
	char reason[1400];
	struct aws_error err; /* of OUT_BLOCKED */
	char err_operation[64];
	int after_deregister;         /* the outcome once our unused revision is deregistered */
	enum rollout_step blocked_at; /* the step refused, when after_deregister is OUT_BLOCKED */
	const char *skip_reason;      /* of OUT_SKIPPED: the REASON field */
	int after_events;             /* the outcome read-events goes on with */
	/* an operator's approve or reject (deployer_continue): ContinueServiceDeployment in flight,
	 * and who is told how it ended */
	struct aws_call *continue_call;
	deployer_continued_fn continue_done;
	void *continue_ud;
	/* strategy codedeploy (cdeploy.c) */
	enum rollout_step restep; /* after OUT_WAIT, run this step instead (STEP_INSPECT: none) */
	cJSON *cd_names;          /* discovery: application names; finding: deployment ids */
	cJSON *cd_groups;         /* discovery: group names of the application at cd_app */
	cJSON *cd_matches;        /* discovery: "application/group" of the groups naming it */
	int cd_app, cd_pos, cd_pages;
	char *cd_next;     /* the nextToken of the list being read, or NULL */
	bool cd_paging;    /* the request in flight asked for a next page */
	bool cd_verifying; /* cd-group-info looks at the group found before (cached) */
	struct aws_call *cd_targets_call; /* a side read of the target (traffic, event) */
	double cd_targets_at;
	char cd_target_id[300];
	char cd_error_code[64];
	char cd_ready[CD_READY_LEN]; /* the deployment said to await approval (Ready) */
	bool cd_said_wait_rb;        /* the wait for CodeDeploy's rollbackInfo was said */
	bool cd_said_missing;        /* CodeDeploy stopped listing our id: said once */
	int cd_overview[6]; /* deploymentOverview last read (cdtrack.h's order; -1: unknown) */
};

/* What a reader returns: a step (>= 0), or one of these. */
enum rollout_outcome {
	OUT_WAIT = -1,   /* run this step again at next_at (the reader set it; else in 1 s) */
	OUT_RETRY = -2,  /* a transient trouble: again after a backoff */
	OUT_DONE = -3,   /* deployed */
	OUT_FAILED = -4, /* the image's fault (reason): the digest is marked failed; rolled back */
	OUT_UNMARKED = -5,     /* failed, but not the digest's fault: not marked, not rolled back */
	OUT_ECS_ROLLBACK = -6, /* failed, and ECS rolls back: marked, followed */
	OUT_SUPERSEDED = -7,   /* someone else deployed: held until a newer push */
	OUT_ANOMALY = -8,      /* ECS did something unexplained: held; the service is put back */
	OUT_BLOCKED = -9,      /* an authorization or request error (err): the target is blocked,
				  the digest is not marked */
	OUT_ROLLED_BACK = -10, /* the rollback completed */
	OUT_ROLLBACK_FAILED = -11, /* reason */
	OUT_END = -12,             /* over, nothing more to say (an inspection) */
	OUT_SKIPPED = -13, /* not deployed for a reason of the service (reason, r->skip_reason):
			      SKIPPED; the digest is not marked; looked at again after a backoff */
	OUT_SUPERSEDED_RB = -14, /* codedeploy: stopped by someone else, CodeDeploy rolls back:
				    held until a newer push, the rollback followed */
};

/* Which time of the record a call that changes AWS writes before it is sent. */
enum rollout_sent {
	SENT_NONE,
	SENT_REGISTER,     /* register_sent_at */
	SENT_UPDATE,       /* update_sent_at */
	SENT_RB_REGISTER,  /* rollback_register_sent_at */
	SENT_RB_UPDATE,    /* rollback_sent_at */
	SENT_SD_STOP,      /* stop_sent_at */
	SENT_CD_CREATE,    /* cd_create_sent_at */
	SENT_CD_RB_CREATE, /* cd_rb_create_sent_at */
};

/* The AWS API a step calls. */
enum rollout_api {
	API_ECS,
	API_CODEDEPLOY,
};

struct rollout_step_def {
	const char *operation; /* the request (ECS), or NULL: the reader runs at once */
	cJSON *(*params)(struct rollout *r); /* NULL without memory: retried later */
	int (*read)(struct rollout *r, struct aws_result *res); /* res NULL without request */
	bool written;              /* the record is written with this step before its request */
	enum rollout_step resume;  /* what runs when a record is picked up at this step */
	enum rollout_step next[5]; /* the steps its reader may return (unused: STEP_INSPECT,
				      which no step goes to) */
	size_t sent_at;            /* offsetof the time its call that changes AWS is sent, or 0 */
	bool own_errors;           /* the reader reads failed replies too (else the engine does) */
	bool batched;      /* tracking: its operation (DescribeServices, DescribeServiceDeployments)
			      batched by the engine over rollouts */
	bool rolling_back; /* an error ends the rollback, not the deploy */
	enum rollout_api api; /* ECS (default) or CodeDeploy */
};

/* The table, indexed by enum rollout_step. */
extern const struct rollout_step_def rollout_steps[STEP_COUNT];

/* Whether the reader of step from may go to step to (the table's next). */
bool rollout_step_may(enum rollout_step from, enum rollout_step to);

/* The deployer: every rollout of the daemon (defined here for the engine's files only). */
struct watch_position;

struct deployer {
	struct deployer_deps d_;
	struct deployer_deps *d;
	struct rollout *rollouts;
	struct batch *batches; /* in flight */
	int deploying;         /* rollouts that are deploys (not inspections) */
	int inspecting;
	int failures;
	struct strmap *creds;       /* role ARN -> struct cred_provider */
	struct strmap *said;        /* watch\x1ftarget -> "reason digest" last reported */
	struct strmap *blocked;     /* watch\x1ftarget -> struct blocked (NULL: not) */
	struct strmap *guard_said;  /* watch\x1ftarget\x1fsetting -> the value warned of */
	struct strmap *dry_looks;   /* a dry run: watch\x1ftarget -> struct dry_look */
	struct config *blocked_cfg; /* the config the blocks were made under (a reference) */
	double blocked_next;        /* the earliest end of a backoff that kept a target out of a
				       pass since the last full one (ev_now time), 0: none */
	struct ev_timer tick, kick, state_retry;
	struct ev_timer pauses; /* the earliest 'until' of the operator's pauses */
	bool kick_pending;
	int reset_unseen;     /* targets not looked at since a state reset (last full pass) */
	bool state_failing;   /* the state cannot be written: no new rollout until state_retry */
	double state_delay;   /* the backoff of state_retry now */
	bool all;             /* the next reconcile looks at every watch */
	struct strmap *dirty; /* else at these (watch name -> 1), */
	char **dirty_names;   /* kept in a list too, so that a reconcile costs what changed */
	size_t n_dirty, cap_dirty;
	struct config *indexed; /* the config index was built for (a reference: never reused) */
	struct watch_position *index; /* indexed's watches by name (their names are indexed's) */
	size_t n_index;
	bool events_flowing;      /* a queue of events works (deployer_events_flowing) */
	bool freeing;             /* deployer_free(): nobody is told of what is cancelled */
	struct strmap *cd_groups; /* region\x1frole\x1fcluster\x1fservice -> "app\x1fgroup"
				     discovered; checked by BatchGetDeploymentGroups before each
				     use, dropped when it no longer names the service or is gone */
};

/* A target blocked by an authorization or request error: tried again at until (ev_now time),
 * or at a reload. */
struct blocked {
	double until, delay;
	char digest[80];
	char error[256]; /* why (status) */
};

/* deployer.c: the rollout ended (the service and a slot are free); the target is blocked. */
void deployer_ended(struct deployer *dp);
/* Returns the seconds until the blocked target is tried again. */
double deployer_block(struct deployer *dp, struct rollout *r);
/* Whether r's target is blocked already (this block is a retry's). */
bool deployer_blocked(struct deployer *dp, struct rollout *r);
/* A deploy completed: a block the target had is over (its backoff starts afresh). */
void deployer_unblock(struct deployer *dp, struct rollout *r);

/* The state written now (false: it failed, said once, retried later); rollout_state_failed()
 * says a write that failed (why) and arms the state's retry. */
bool rollout_save_state(struct deployer *dp);
void rollout_state_failed(struct deployer *dp, const char *why);

/* deploy.c: the RegisterTaskDefinition of described with the target's containers pinned to
 * digest (taskdef_pin()'s returns); also for the rollback. */
int deploy_pin(struct rollout *r, const cJSON *described, const char *digest, const char *tag,
	       cJSON **ret, char *why, size_t why_len);

/* deploy.c: our revision would go unused: says so and returns the deregister step, after which
 * the rollout goes on with after (a step, or OUT_BLOCKED). */
int deploy_deregister_then(struct rollout *r, int after);

/*
 * Whether a service whose deploymentController.type is controller (NULL: ECS) refuses a deploy
 * of strategy codedeploy (codedeploy true) or revision/force; why, then, in the words the
 * SKIPPED event says (deploy.c). The start step and a dry run's "would not deploy" share it.
 */
bool deploy_controller_refuses(bool codedeploy, const char *controller, char *why, size_t n);

struct guard_finding;
/* The sentence of a deploy that guard "enforce" skips for the n findings f (deploy.c). */
void deploy_guard_refusal(const struct guard_finding *f, size_t n, char *why, size_t len);

/* What a dry run's first-start look found of a target's service (its DescribeServices service and
 * the task definition it runs), kept so that "would deploy" is decided against the target's
 * settings of the moment (deployer.c). */
struct dry_look {
	cJSON *svc;
	cJSON *td;
};

/* The steps' readers and request builders (deploy.c, rollback.c, inspect.c). */
cJSON *deploy_read_base_params(struct rollout *r);
cJSON *deploy_register_params(struct rollout *r);
cJSON *deploy_family_params(struct rollout *r);
cJSON *deploy_deregister_params(struct rollout *r);
cJSON *deploy_update_params(struct rollout *r);
int deploy_read_start(struct rollout *r, struct aws_result *res);
int deploy_read_base(struct rollout *r, struct aws_result *res);
int deploy_read_registered(struct rollout *r, struct aws_result *res);
int deploy_read_find_registered(struct rollout *r, struct aws_result *res);
int deploy_read_check(struct rollout *r, struct aws_result *res);
int deploy_read_deregistered(struct rollout *r, struct aws_result *res);
int deploy_read_update(struct rollout *r, struct aws_result *res);
int deploy_read_find_update(struct rollout *r, struct aws_result *res);
int deploy_read_tracking(struct rollout *r, struct aws_result *res);
int deploy_read_confirm_list(struct rollout *r, struct aws_result *res);
int deploy_read_confirm_tasks(struct rollout *r, struct aws_result *res);
cJSON *rollback_base_params(struct rollout *r);
cJSON *rollback_register_params(struct rollout *r);
cJSON *rollback_update_params(struct rollout *r);
int rollback_read_start(struct rollout *r, struct aws_result *res);
int rollback_read_find(struct rollout *r, struct aws_result *res);
int rollback_read_base(struct rollout *r, struct aws_result *res);
int rollback_read_registered(struct rollout *r, struct aws_result *res);
int rollback_read_check(struct rollout *r, struct aws_result *res);
int rollback_read_update(struct rollout *r, struct aws_result *res);
int rollback_read_tracking(struct rollout *r, struct aws_result *res);
const char *rollback_target_td(const struct rollout *r);
cJSON *sd_arn_params(struct rollout *r);
cJSON *sd_continue_params(struct rollout *r);
cJSON *sd_stop_params(struct rollout *r);
int sd_read_tracking(struct rollout *r, struct aws_result *res);
int sd_read_continue(struct rollout *r, struct aws_result *res);
int sd_read_stop(struct rollout *r, struct aws_result *res);
int sd_read_check(struct rollout *r, struct aws_result *res);
int sd_read_rb_tracking(struct rollout *r, struct aws_result *res);
int sd_read_events(struct rollout *r, struct aws_result *res);
/* Whether ours is a service deployment still in progress that StopServiceDeployment may roll
 * back (not when the revision before names a tag ECS would resolve again: rec->no_stop). */
bool sd_in_progress(const struct rollout_rec *rec);
cJSON *inspect_rev_params(struct rollout *r);
int inspect_read_rev(struct rollout *r, struct aws_result *res);
cJSON *inspect_td_params(struct rollout *r);
int inspect_read_service(struct rollout *r, struct aws_result *res);
int inspect_read_td(struct rollout *r, struct aws_result *res);
int inspect_read_list(struct rollout *r, struct aws_result *res);
int inspect_read_tasks(struct rollout *r, struct aws_result *res);
/* cdeploy.c: strategy codedeploy */
int cd_start(struct rollout *r, const cJSON *svc);
cJSON *cd_apps_params(struct rollout *r);
cJSON *cd_groups_params(struct rollout *r);
cJSON *cd_group_info_params(struct rollout *r);
cJSON *cd_create_params(struct rollout *r);
cJSON *cd_find_params(struct rollout *r);
cJSON *cd_find_info_params(struct rollout *r);
cJSON *cd_continue_params(struct rollout *r);
cJSON *cd_targets_params(struct rollout *r);
cJSON *cd_target_info_params(struct rollout *r);
cJSON *cd_stop_params(struct rollout *r);
cJSON *cd_get_params(struct rollout *r);
int cd_read_apps(struct rollout *r, struct aws_result *res);
int cd_read_groups(struct rollout *r, struct aws_result *res);
int cd_read_group_info(struct rollout *r, struct aws_result *res);
int cd_read_create(struct rollout *r, struct aws_result *res);
int cd_read_find(struct rollout *r, struct aws_result *res);
int cd_read_find_info(struct rollout *r, struct aws_result *res);
int cd_read_tracking(struct rollout *r, struct aws_result *res);
int cd_read_continue(struct rollout *r, struct aws_result *res);
int cd_read_targets(struct rollout *r, struct aws_result *res);
int cd_read_diag(struct rollout *r, struct aws_result *res);
int cd_read_stop(struct rollout *r, struct aws_result *res);
int cd_read_stop_check(struct rollout *r, struct aws_result *res);
int cd_read_rb_tracking(struct rollout *r, struct aws_result *res);
/* Whether CodeDeploy's deployment of ours is still in progress (StopDeployment applies). */
bool cd_in_progress(const struct rollout_rec *rec);
/* The rollback of a codedeploy rollout: cd-stopping while ours is in progress, else a CodeDeploy
 * deployment of the revision that ran before (a fresh token). */
enum rollout_step cd_rollback_step(struct rollout *r);
/* An operator's approve (ContinueDeployment READY_WAIT) or reject (StopDeployment, rolled back)
 * of a Ready deployment (deployer_continue). */
int cd_continue(struct rollout *r, bool rollback, deployer_continued_fn done, void *ud, char *why,
		size_t why_len);
/* The discovered group of the rollout's service is gone: its cache entry is dropped. */
void cd_forget_group(struct rollout *r);
/* The side calls and lists of a codedeploy rollout (rollout_free). */
void cd_free(struct rollout *r);

/* ---- the engine (rollout.c), for the deployer and the steps ---- */

struct rollout *rollout_new(struct deployer *dp, struct rollout_rec *rec, bool inspect);
void rollout_free(struct rollout *r);

/* Writes the record now (a reader that learned something worth keeping); false when it could
 * not reach the disk (said; the state's retry writes it later). */
bool rollout_persist(struct rollout *r);

/* Runs the record's step now (written first when it could not be written before). */
void rollout_run(struct rollout *r);

/* A record picked up after a stop: its step's resume variant runs at the next tick. */
void rollout_resume(struct rollout *r);

/*
 * Whether a notification of kind k (sub: the hook or CodeDeploy wait of an awaiting-approval,
 * else "" or NULL) is still to be posted for the rollout of rec: once per kind, and once per hook
 * for awaiting-approval. Marks it posted in rec (rec->notified, rec->notified_hook: written with
 * the record). -ENOMEM when the hook cannot be kept (then not marked, and not to be posted).
 */
int rollout_notice_due(struct rollout_rec *rec, enum notice_kind k, const char *sub);

/* Events of a rollout: its fields (WATCH, ECR_REPOSITORY, IMAGE_DIGEST, ...) plus extra; an event
 * of a phase (DEPLOY_STARTED, ..., BLOCKED) is also a notification (deployer_deps.notice). */
void rollout_emit(struct rollout *r, int prio, const char *id, const struct log_field *extra,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The tracking poll of every rollout that is due, batched; rollout_free_batches() cancels those
 * in flight. */
void rollout_track_due(struct deployer *dp);
void rollout_free_batches(struct deployer *dp);

/* Wall clock seconds. */
double rollout_wall_now(void);

/*
 * An operator's rollback of a rollout in flight (deployer_rollback): its digest is marked failed
 * with reason and the service rolled back the way a failed deploy is (StopServiceDeployment while
 * ours is in progress, else the revision that ran before). Only while it tracks (no call that
 * changes AWS in flight): -EBUSY otherwise, -EALREADY when it is rolling back already.
 */
int rollout_operator_rollback(struct rollout *r, const char *reason);

/* deployer.c: the rollout ended with result (not an inspection): the history gets its entry and
 * the deployer's ended hook is told. */
void deployer_rollout_ended(struct deployer *dp, struct rollout *r, enum history_result result);

/* sdeploy.c: ContinueServiceDeployment of the hook r awaits at (deployer_continue). */
int sd_continue(struct rollout *r, bool rollback, deployer_continued_fn done, void *ud, char *why,
		size_t why_len);

/* Request builders the steps share (NULL without memory). */
cJSON *rollout_service_params(struct rollout *r);
cJSON *rollout_td_params(const char *td, bool tags);
cJSON *rollout_update_params(const struct rollout *r, const char *td);
cJSON *rollout_list_tasks_params(struct rollout *r);
cJSON *rollout_describe_tasks_params(struct rollout *r);

/*
 * A call sent at sent_at (wall seconds) that may still be carried out (within its attempt
 * timeout and a margin): the step waits and looks again (said once, what names the call).
 * True when it waits (r->next_at set).
 */
bool rollout_wait_for_sent(struct rollout *r, double sent_at, const char *what);

/* A reader's way to block the target on a fault that is not the image's (a service that does not
 * exist, a task definition without the container): reason from fmt; returns OUT_BLOCKED. */
int rollout_block(struct rollout *r, const char *operation, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* How long a deployment ECS has not listed yet is waited for after UpdateService: 30 s, or the
 * rollout timeout when that is shorter. */
#define ROLLOUT_APPEAR_S 30.0
double rollout_appear_s(const struct rollout_rec *rec);

/* The ECS events of svc newer than the last look, logged, the last few kept for DEPLOY_FAILED. */
void rollout_report_events(struct rollout *r, const cJSON *svc);

/* Tracking by service deployment does not read the service: its events ("unable to place a task")
 * are read beside it, by a DescribeServices that changes nothing but the log, at most every
 * ROLLOUT_EVENTS_S. */
#define ROLLOUT_EVENTS_S 5.0
void rollout_read_events(struct rollout *r);

#endif
