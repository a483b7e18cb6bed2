/* SPDX-License-Identifier: MIT */
/*
 * The daemon's life: set up the AWS client stack for the configuration,
 * start the watcher, turn the loop; SIGHUP reloads the configuration
 * (validated whole, swapped atomically, the old one kept on any error),
 * SIGTERM and SIGINT stop new work and end the loop.
 */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "control.h"
#include "ctlproto.h"
#include "ddb.h"
#include "deployer.h"
#include "event.h"
#include "events.h"
#include "history.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "notice.h"
#include "notify.h"
#include "outbox.h"
#include "queue.h"
#include "profile.h"
#include "state.h"
#include "strmap.h"
#include "strbuf.h"
#include "version.h"
#include "watcher.h"

static int priority_of(enum config_log_level l)
{
	static const int map[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

	return map[l];
}

/* Settings that only a restart applies: the AWS client stack is built once. */
static void warn_restart_only(const struct config *old, const struct config *new)
{
	struct strbuf what;

#define DIFF(a, b) (((a) == NULL) != ((b) == NULL) || ((a) && (b) && strcmp((a), (b))))
	strbuf_init(&what, 1024);
	if (DIFF(old->region, new->region))
		strbuf_puts(&what, " aws.region");
	if (DIFF(old->profile, new->profile))
		strbuf_puts(&what, " aws.profile");
	if (DIFF(old->ca_bundle, new->ca_bundle))
		strbuf_puts(&what, " aws.ca_bundle");
	if (old->fips != new->fips)
		strbuf_puts(&what, " aws.fips");
	if (old->http2 != new->http2)
		strbuf_puts(&what, " aws.http_version");
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		if (DIFF(old->endpoints[i], new->endpoints[i])) {
			strbuf_puts(&what, " aws.endpoints");
			break;
		}
	if (DIFF(old->state_dir, new->state_dir))
		strbuf_puts(&what, " state_directory");
	char ha[256];
	if (config_ha_changes(old, new, ha, sizeof(ha)))
		strbuf_printf(&what, " %s", ha);
	bool queues = old->n_queues != new->n_queues;
	for (size_t i = 0; i < old->n_queues && !queues; i++)
		queues = DIFF(old->queues[i].url, new->queues[i].url) ||
			 DIFF(old->queues[i].region, new->queues[i].region) ||
			 DIFF(old->queues[i].role_arn, new->queues[i].role_arn);
	if (queues)
		strbuf_puts(&what, " events");
	if (DIFF(old->control_socket, new->control_socket) ||
	    DIFF(old->control_group, new->control_group) ||
	    DIFF(old->control_read_group, new->control_read_group))
		strbuf_puts(&what, " control");
#undef DIFF
	if (what.len)
		log_warning("these settings changed and apply only after a restart:%s",
			    strbuf_str(&what));
	strbuf_done(&what);
}

/*
 * systemd's status line, pulled once per loop turn (before the loop sleeps) and sent only when it
 * changed: the parts never push it, and a turn that changed nothing costs a string compare.
 */
/* ha: where this instance stands, for STATUS= (and the start of it while leading). */
static void ha_line(const struct daemon *d, char *buf, size_t n)
{
	const char *leader = lease_leader(d->lease);
	char since[64] = "?";
	time_t t = (time_t)lease_leader_since(d->lease);
	struct tm tm;

	if (t > 0 && gmtime_r(&t, &tm))
		strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
	switch (lease_role(d->lease)) {
	case LEASE_LEADING:
		snprintf(buf, n, "leading (term %lld)", (long long)lease_term(d->lease));
		break;
	case LEASE_SUSPENDED:
		snprintf(buf, n, "suspended: the lease was not renewed in time, no mutating call");
		break;
	case LEASE_LOST:
		snprintf(buf, n, "stepping down: %s leads", leader ? leader : "another instance");
		break;
	case LEASE_STANDBY:
		if (leader && *leader) {
			snprintf(buf, n, "standby (leader: %s since %s)", leader, since);
			break;
		}
		/* fall through */
	default:
		if (*lease_last_error(d->lease))
			snprintf(buf, n, "standby (no leader known: %s)",
				 lease_last_error(d->lease));
		else
			snprintf(buf, n, "standby (no leader yet: taking the lease)");
		break;
	}
}

static void on_status(struct ev_loop *loop, struct ev_prepare *w, int revents)
{
	struct daemon *d = w->data;
	char rollouts[512], text[1100], events[256], ha[300] = "";

	(void)loop;
	(void)revents;
	if (!d->notifier && !d->metrics)
		return;
	if (d->lease)
		ha_line(d, ha, sizeof(ha));
	if (!d->working) {
		/* a standby: only the lease to tell */
		if (!d->notifier || !strcmp(ha, d->status))
			return;
		snprintf(d->status, sizeof(d->status), "%s", ha);
		notify_status(d->notifier, "%s", ha);
		return;
	}
	deployer_status(d->deployer, rollouts, sizeof(rollouts));
	if (d->metrics && strcmp(rollouts, d->rollouts_seen)) {
		/* A rollout started, moved on or ended: the metrics file says so (within a second).
		 */
		snprintf(d->rollouts_seen, sizeof(d->rollouts_seen), "%s", rollouts);
		metrics_changed(d->metrics);
	}
	if (!d->notifier)
		return;
	queues_status(d->queues, events, sizeof(events));
	snprintf(text, sizeof(text), "%s%s%s; %s%s%s", ha, *ha ? "; " : "",
		 watcher_status(d->watcher), rollouts, *events ? "; " : "", events);
	text[sizeof(d->status) - 1] = '\0';
	if (!strcmp(text, d->status))
		return;
	memcpy(d->status, text, sizeof(d->status));
	notify_status(d->notifier, "%s", text);
}

/* The watcher's news, wired to the deployer: the parts never call each other or up into here. */
static void on_watch_moved(const char *watch, void *userdata)
{
	struct daemon *d = userdata;

	deployer_reconcile_watch(d->deployer, watch);
}

/* Push events, wired both ways: a message asks the watcher or the deployer, whose answers
 * (the read saved, the look read) let the queue delete it. */
static int on_event_hint(const struct event *ev, uint64_t *ticket, void *userdata)
{
	struct daemon *d = userdata;

	return watcher_hint(d->watcher, ev->account, ev->region, ev->repository, ev->tag, ticket);
}

static const char *on_event_follows(const struct event *ev, void *userdata)
{
	struct daemon *d = userdata;

	return watcher_follows(d->watcher, ev->account, ev->region, ev->repository, ev->tag);
}

static int on_event_poke(const struct event *ev, uint64_t ticket, uint64_t *replaced,
			 void *userdata)
{
	struct daemon *d = userdata;

	return deployer_poke(d->deployer, ev->region, ev->cluster, ev->service, ticket, replaced);
}

static void on_events_flowing(bool on, void *userdata)
{
	struct daemon *d = userdata;

	deployer_events_flowing(d->deployer, on);
}

static void on_hinted(uint64_t ticket, bool ok, void *userdata)
{
	struct daemon *d = userdata;

	queues_hinted(d->queues, ticket, ok);
}

static void on_poked(uint64_t ticket, void *userdata)
{
	struct daemon *d = userdata;

	queues_poked(d->queues, ticket);
}

static void on_cycle_done(void *userdata)
{
	struct daemon *d = userdata;

	metrics_cycle_done(d->metrics, watcher_failing(d->watcher) == 0, (double)time(NULL));
	deployer_cycle_done(d->deployer);
}

/* ---- metrics (metrics.h): the hooks that count --------------------------------- */

/* The watches of one repository in one region: an entry of d->polled. */
struct polled_watches {
	size_t n;
	const struct config_watch *w[];
};

/* The key of d->polled: the region, a newline, the repository. NULL: no memory. */
static char *polled_key(const char *region, const char *repository)
{
	size_t nr = strlen(region), np = strlen(repository);
	char *k = malloc(nr + np + 2);

	if (k) {
		memcpy(k, region, nr);
		k[nr] = '\n';
		memcpy(k + nr + 1, repository, np + 1);
	}
	return k;
}

/* d->polled made from d->cfg, once after each (re)load: a scan of every watch for each reply
 * made a cycle's cost grow with the square of the watches (issue 19). NULL: no memory. */
static struct strmap *polled_index(struct daemon *d)
{
	struct strmap *m;

	if (d->polled || !(m = strmap_new()))
		return d->polled;
	for (size_t i = 0; i < d->cfg->n_watches; i++) {
		const struct config_watch *w = &d->cfg->watches[i];
		char *k = polled_key(w->region ? w->region : d->region, w->repository);
		struct polled_watches *old = k ? strmap_get(m, k) : NULL;
		size_t n = old ? old->n : 0;
		struct polled_watches *pw =
		    k ? realloc(old, sizeof(*pw) + (n + 1) * sizeof(pw->w[0])) : NULL;
		if (pw) {
			pw->n = n + 1;
			pw->w[n] = w;
		}
		if (!pw || strmap_put(m, k, pw, NULL) < 0) {
			if (pw != old)
				free(pw);
			free(k);
			strmap_free(m, free);
			return NULL;
		}
		free(k);
	}
	return d->polled = m;
}

static void on_polled(const char *repository, const char *region, bool ok, const char *error,
		      void *userdata)
{
	struct daemon *d = userdata;
	const struct polled_watches *pw = NULL;
	struct strmap *index;

	metrics_poll(d->metrics, repository, region, ok);
	if (d->dry_run || d->cfg->dry_run || !d->outbox)
		return;
	/* the watches of that repository, for the sinks that filter by watch or service: only a
	 * failure can make a notice that names one (a poll that worked ends the streak) */
	if (!ok && (index = polled_index(d))) {
		char *k = polled_key(region ? region : "", repository);
		pw = k ? strmap_get(index, k) : NULL;
		free(k);
	}
	outbox_polled(d->outbox, repository, region, ok, error, (double)time(NULL),
		      pw ? pw->w : NULL, pw ? pw->n : 0);
}

static void on_outbox_changed(void *userdata)
{
	struct daemon *d = userdata;

	metrics_changed(d->metrics);
}

static size_t metrics_sinks(struct outbox_sink_status *out, size_t n, void *userdata)
{
	struct daemon *d = userdata;

	return outbox_status(d->outbox, out, n);
}

/* A rollout reached a phase: its notification goes to the outbox (none in a dry run). */
static void on_notice(const struct notice *n, void *userdata)
{
	struct daemon *d = userdata;

	if (!d->dry_run && !d->cfg->dry_run)
		outbox_post(d->outbox, n);
}

static bool may_mutate(void *userdata);

/* The outbox of the notifications, in <state_directory>/outbox; a dry run posts nothing, so it
 * has none (the entries wait for a real run). */
static int setup_outbox(struct daemon *d)
{
	struct outbox_deps deps = { .loop = d->loop,
				    .aws = d->aws,
				    .region = d->region,
				    .creds = d->creds,
				    .http = d->http,
				    .signer = d->signer,
				    .state_dir = d->cfg->state_dir,
				    .state = d->state,
				    .may_send = d->lease ? may_mutate : NULL,
				    .host = d->host,
				    .changed = on_outbox_changed,
				    .userdata = d };
	char why[600] = "";

	if (d->dry_run || d->cfg->dry_run) {
		if (d->cfg->n_sinks)
			log_notice("dry run: no notification is sent");
		return EX_OK;
	}
	if (gethostname(d->host, sizeof(d->host) - 1) < 0 || !*d->host)
		snprintf(d->host, sizeof(d->host), "localhost");
	d->outbox = outbox_new(&deps, d->cfg, why, sizeof(why));
	if (!d->outbox) {
		log_error("cannot start: %s", why);
		notify_start_failed(EX_CANTCREAT, EIO, why);
		return EX_CANTCREAT;
	}
	return EX_OK;
}

static void on_messages(const char *url, size_t n, void *userdata)
{
	struct daemon *d = userdata;

	metrics_event_messages(d->metrics, url, n);
}

static void on_rollout_ended(const struct history_entry *e, void *userdata)
{
	struct daemon *d = userdata;

	metrics_rollout_ended(d->metrics, e);
}

static int metrics_rollouts(void *userdata)
{
	struct daemon *d = userdata;

	return d->deployer ? deployer_in_flight(d->deployer) : 0;
}

/* What is known of one target: the state's digest and task definition, the deployer's block, the
 * pauses (the config's, the operator's of everything, the watch, the target) and the pin. */
static void metrics_target(const struct config_watch *w, const struct config_target *t,
			   struct metrics_target *ret, void *userdata)
{
	struct daemon *d = userdata;
	struct deployer_target_status st = { 0 };
	struct state_pause pause;
	struct state_pin pin;
	char tkey[1024];
	const char *deployed;

	if (!d->deployer)
		return;
	deployer_target_key(d->deployer, t, tkey, sizeof(tkey));
	deployed = state_deployed(d->state, w->name, tkey);
	ret->deployed = deployed && *deployed ? deployed : NULL;
	ret->task_definition = state_task_def(d->state, w->name, tkey);
	deployer_target_status(d->deployer, w->name, tkey, &st);
	ret->blocked = st.blocked;
	ret->paused = t->paused || state_pause(d->state, NULL, NULL, &pause) == 1 ||
		      state_pause(d->state, w->name, NULL, &pause) == 1 ||
		      state_pause(d->state, w->name, tkey, &pause) == 1;
	ret->pinned = state_pin(d->state, w->name, tkey, &pin) == 1;
}

static void setup_metrics(struct daemon *d)
{
	struct metrics_deps deps = { .loop = d->loop,
				     .cfg = &d->cfg,
				     .state = d->state,
				     .aws = d->aws,
				     .start_time = (double)time(NULL),
				     .rollouts = metrics_rollouts,
				     .target = metrics_target,
				     .sinks = metrics_sinks,
				     .userdata = d };

	d->metrics = metrics_new(&deps);
	if (d->metrics)
		aws_client_set_observer(d->aws, metrics_aws_observer, d->metrics);
	else
		log_warning("out of memory for the metrics: they are not counted");
}

/* SIGHUP, or the control command `reload`: then *result (if not NULL) gets {"reloaded": true,
 * "warnings": [...]} or {"reloaded": false, "errors": [...]}. */
/* ---- operator overrides of what the configuration no longer has ---- */

static bool override_kept(const char *watch, const char *tkey, void *userdata)
{
	struct daemon *d = userdata;
	char key[1024];

	for (size_t i = 0; i < d->cfg->n_watches; i++) {
		const struct config_watch *w = &d->cfg->watches[i];
		if (strcmp(w->name, watch))
			continue;
		if (!tkey)
			return true;
		for (size_t j = 0; j < w->n_targets; j++) {
			deployer_target_key(d->deployer, &w->targets[j], key, sizeof(key));
			if (!strcmp(key, tkey))
				return true;
		}
		return false;
	}
	return false;
}

static void override_dropped(const char *what, const char *watch, const char *tkey, void *userdata)
{
	(void)userdata;
	log_notice(
	    "the operator's %s of watch '%s'%s%s%s is dropped: the configuration has no such "
	    "%s any more",
	    what, watch, tkey ? " (target '" : "", tkey ? tkey : "", tkey ? "')" : "",
	    tkey ? "target" : "watch");
}

/*
 * Pauses and pins of watches and targets the configuration no longer has are dropped, each said,
 * at start and at every reload: kept, they would be invisible in status, out of reach of resume
 * and unpin, and would come back unseen with a target of the same name. A dry run changes nothing.
 */
static void prune_overrides(struct daemon *d)
{
	char why[600];

	if (!d->deployer || d->dry_run || d->cfg->dry_run)
		return;
	/* ha: the overrides are the group's, and its instances may run different configurations
	 * for a while (a change rolled out host by host): one that lacks a target must not drop
	 * what an operator set on it through another. They stay (status shows what it knows). */
	if (d->ha)
		return;
	if (state_prune_overrides(d->state, override_kept, override_dropped, d) > 0 &&
	    state_save(d->state, why, sizeof(why)) < 0)
		log_error("%s; the dropped overrides are written with the next change", why);
}

static void reload(struct daemon *d, cJSON *result)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	int r;

	log_info("reloading the configuration from '%s' and '%s'", d->config_file, d->config_dir);
	notify_reloading(d->notifier);
	r = config_load(d->config_file, d->config_dir, &cfg, &errs);
	if (result) {
		cJSON_AddBoolToObject(result, "reloaded", r >= 0);
		cJSON *list = cJSON_AddArrayToObject(result, r < 0 ? "errors" : "warnings");
		for (size_t i = 0; i < errs.n && list; i++)
			cJSON_AddItemToArray(list, cJSON_CreateString(errs.items[i].text));
	}
	if (r < 0) {
		struct strbuf all;
		size_t n_err = 0;
		strbuf_init(&all, 256 * 1024);
		for (size_t i = 0; i < errs.n; i++) {
			strbuf_printf(&all, "%s%s", i ? "\n" : "", errs.items[i].text);
			n_err += !errs.items[i].warning;
		}
		log_at(LOG_ERR, EVENT_CONFIG_REJECTED,
		       LOG_FIELDS({ "CONFIG_FILE", d->config_file },
				  { "CONFIG_ERRORS", strbuf_str(&all) }),
		       "configuration rejected (%zu error%s); the previous configuration stays in "
		       "force",
		       n_err, n_err == 1 ? "" : "s");
		for (size_t i = 0; i < errs.n; i++)
			log_at(errs.items[i].warning ? LOG_WARNING : LOG_ERR, NULL, NULL, "  %s",
			       errs.items[i].text);
		strbuf_done(&all);
		config_errors_done(&errs);
		notify_ready(d->notifier);
		notify_status(
		    d->notifier,
		    "configuration rejected at reload (%zu errors); running the previous one",
		    n_err);
		return;
	}
	/* Warnings of an accepted configuration (a semver range that never matches). */
	for (size_t i = 0; i < errs.n; i++)
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "CONFIG_FILE", d->config_file }), "%s",
		       errs.items[i].text);
	config_errors_done(&errs);
	warn_restart_only(d->cfg, cfg);
	config_free(d->cfg); /* a poll cycle in progress keeps its own reference */
	d->cfg = cfg;
	strmap_free(d->polled, free); /* of the configuration before */
	d->polled = NULL;
	if (d->working) { /* an ha standby has none of these yet: they read d->cfg when it leads */
		history_set_max(d->history, cfg->history_max);
		outbox_reload(d->outbox, cfg);
		prune_overrides(d);
	}
	log_max_priority =
	    priority_of(d->log_level >= 0 ? (enum config_log_level)d->log_level : cfg->log_level);
	log_at(LOG_NOTICE, EVENT_CONFIG_RELOADED, LOG_FIELDS({ "CONFIG_FILE", d->config_file }),
	       "configuration reloaded: %zu watches, %zu targets", cfg->n_watches,
	       config_target_count(cfg));
	notify_ready(d->notifier);
	if (d->working)
		watcher_config_changed(d->watcher);
}

static void on_signal(struct ev_loop *loop, struct ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)revents;
	if (w->signum == SIGHUP) {
		reload(d, NULL);
		return;
	}
	log_at(LOG_NOTICE, EVENT_STOPPING, NULL,
	       "stopping on %s; rollouts in flight are resumed at the next start",
	       strsignal(w->signum));
	notify_stopping(d->notifier);
	d->stopped = true;
	ev_break(loop, EVBREAK_ALL);
}

/* ---- the control commands of the daemon itself ---- */

static void cmd_version(struct control_call *call, const cJSON *args, void *userdata)
{
	char why[256];
	cJSON *r;

	(void)userdata;
	if (ctlproto_check_keys(args, (const char *const[]){ NULL }, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return;
	}
	r = cJSON_CreateObject();
	if (r) {
		cJSON_AddStringToObject(r, "version", ECR_DEPLOYD_VERSION);
		cJSON_AddStringToObject(r, "revision", ECR_DEPLOYD_REVISION);
		cJSON_AddNumberToObject(r, "protocol", CTLPROTO_VERSION);
		cJSON_AddNumberToObject(r, "pid", getpid());
	}
	control_reply(call, r);
}

static void cmd_reload(struct control_call *call, const cJSON *args, void *userdata)
{
	struct daemon *d = userdata;
	char why[256];

	if (ctlproto_check_keys(args, (const char *const[]){ NULL }, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return;
	}
	cJSON *r = cJSON_CreateObject();
	if (!r) {
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	reload(d, r);
	control_reply(call, r);
}

static const struct control_command daemon_commands[] = {
	{ "version", false, cmd_version },
	{ "reload", true, cmd_reload },
	{ NULL, false, NULL },
};

static const struct control_command *const command_tables[] = {
	daemon_commands,
	cmd_target_commands,
	cmd_rollout_commands,
	cmd_metrics_commands,
};

static const char *control_filter(const char *cmd, void *userdata);

/* The control socket, unless --once or control.socket "". */
static int setup_control(struct daemon *d)
{
	struct control_settings cs = { .path = d->cfg->control_socket,
				       .group = d->cfg->control_group,
				       .read_group = d->cfg->control_read_group };
	char why[600] = "", *warning = NULL;

	if (d->once || !*d->cfg->control_socket)
		return EX_OK;
	int r = control_new(d->loop, &cs, command_tables,
			    sizeof(command_tables) / sizeof(command_tables[0]), d, &d->control,
			    &warning, why, sizeof(why));
	if (warning) {
		log_warning("%s", warning);
		free(warning);
	}
	if (r < 0) {
		log_error("cannot start: %s", why);
		notify_start_failed(EX_CANTCREAT, -r, why);
		return EX_CANTCREAT;
	}
	control_set_filter(d->control, control_filter);
	log_info("control socket '%s' ready", d->cfg->control_socket);
	return EX_OK;
}

static void on_once_check(struct ev_loop *loop, struct ev_timer *t, int revents);

static int read_loaded(void *t, const char *prefix,
		       int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		       char *why, size_t why_len)
{
	return ddb_read_loaded(t, prefix, fn, ud, why, why_len);
}

/* The state: the directory's files alone; with ha, the table (opened when this instance leads). */
static int open_state(struct daemon *d)
{
	char why[600] = "", *warning = NULL;
	int r;

	if (d->ha) {
		/* the items ddb_load() read on the loop, with the table's own writes */
		static struct state_table_io io;
		char label[512];
		io = state_ddb_io;
		io.read_all = read_loaded;
		snprintf(label, sizeof(label), "table '%s' group '%s'", d->ha->table, d->ha->group);
		r = state_open_table_io(&io, d->ddb, d->cfg->state_dir, label, &d->state, &warning,
					why, sizeof(why));
		ddb_load_free(d->ddb);
	} else
		r = state_open(d->cfg->state_dir, &d->state, &warning, why, sizeof(why));
	if (r < 0) {
		log_error("cannot %s: %s", d->ha ? "lead" : "start", why);
		notify_start_failed(EX_CANTCREAT, -r, why);
		return r == -EAGAIN ? EX_TEMPFAIL : EX_CANTCREAT;
	}
	if (state_notes(d->state))
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "STATE_FILE", state_path(d->state) }), "%s",
		       state_notes(d->state));
	if (warning) {
		log_at(LOG_ERR, NULL, LOG_FIELDS({ "STATE_FILE", state_path(d->state) }), "%s",
		       warning);
		free(warning);
	}
	/* The rollout history (each instance keeps its own): unusable, it is kept aside and
	 * started afresh (said); only a lack of memory stops the start. */
	r = history_open(d->cfg->state_dir, d->cfg->history_max, &d->history, &warning, why,
			 sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		notify_start_failed(EX_OSERR, -r, why);
		return EX_OSERR;
	}
	if (warning) {
		log_at(LOG_WARNING, NULL, LOG_FIELDS({ "STATE_FILE", state_path(d->state) }), "%s",
		       warning);
		free(warning);
	}
	metrics_set_state(d->metrics, d->state);
	return EX_OK;
}

/* The parts that act (the outbox, the deployer, the watcher, the queues) around the state. */
static int setup_work(struct daemon *d)
{
	int r = setup_outbox(d);
	if (r != EX_OK)
		return r;
	struct deployer_deps ddeps = { .loop = d->loop,
				       .aws = d->aws,
				       .state = d->state,
				       .cfg = &d->cfg,
				       .region = d->region,
				       .creds = d->creds,
				       .http = d->http,
				       .signer = d->signer,
				       .dry_run = d->dry_run,
				       .poked = on_poked,
				       .history = d->history,
				       .ended = on_rollout_ended,
				       .notice = on_notice,
				       .userdata = d };
	d->deployer = deployer_new(&ddeps);
	if (d->deployer)
		prune_overrides(d);
	if (d->deployer) {
		struct watcher_deps wdeps = { .loop = d->loop,
					      .aws = d->aws,
					      .state = d->state,
					      .cfg = &d->cfg,
					      .region = d->region,
					      .once = d->once,
					      .moved = on_watch_moved,
					      .cycle_done = on_cycle_done,
					      .hinted = on_hinted,
					      .polled = on_polled,
					      .userdata = d };
		d->watcher = watcher_new(&wdeps);
	}
	bool dry = d->dry_run || d->cfg->dry_run;
	if (d->watcher && d->cfg->n_queues && (dry || d->once))
		log_notice("%s: the events queues are not read (%s); polling only",
			   d->once ? "--once" : "dry run",
			   d->once ? "one pass"
				   : "taking their messages would hide them from the daemon that "
				     "acts");
	if (d->watcher && !d->once && !dry) {
		struct queue_deps qdeps = { .loop = d->loop,
					    .aws = d->aws,
					    .cfg = d->cfg,
					    .region = d->region,
					    .creds = d->creds,
					    .http = d->http,
					    .signer = d->signer,
					    .hint = on_event_hint,
					    .follows = on_event_follows,
					    .poke = on_event_poke,
					    .flowing = on_events_flowing,
					    .received = on_messages,
					    .userdata = d };
		d->queues = queues_new(&qdeps);
	}
	if (!d->watcher || (!d->queues && !d->once && !dry)) {
		log_error("cannot start: out of memory");
		notify_start_failed(EX_OSERR, ENOMEM, "out of memory");
		return EX_OSERR;
	}
	return EX_OK;
}

/* The parts that act begin: the rollouts in flight resume, the watches are armed. */
static void start_work(struct daemon *d)
{
	d->working = true;
	deployer_resume(d->deployer);
	watcher_start(d->watcher);
	if (d->queues)
		queues_start(d->queues);
	if (d->once) {
		ev_timer_init(&d->once_check, on_once_check, 0.2, 0.2);
		d->once_check.data = d;
		ev_timer_start(d->loop, &d->once_check);
	}
}

/* ---- ha: the lease decides who acts ---------------------------------------------------------- */

/* The gate of every mutating AWS call (and of the outbox's deliveries). */
static bool may_mutate(void *userdata)
{
	struct daemon *d = userdata;

	return !d->fenced && lease_gate(d->lease);
}

static void ha_event(struct daemon *d, int priority, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ha_event(struct daemon *d, int priority, const char *id, const char *fmt, ...)
{
	const struct config_ha *ha = d->ha;
	const char *leader = lease_leader(d->lease);
	char term[32], text[700];
	va_list ap;

	snprintf(term, sizeof(term), "%lld", (long long)lease_term(d->lease));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_at(priority, id,
	       LOG_FIELDS({ "HA_TABLE", ha->table }, { "HA_GROUP", ha->group },
			  { "HA_INSTANCE", ha->instance_id }, { "HA_LEADER", leader ? leader : "" },
			  { "HA_TERM", term }),
	       "%s", text);
}

/* The shared state was read: it is opened from what was read, and the work starts, as a restart
 * would: every rollout record resumes from its step. */
static void on_loaded(int err, const char *why, void *userdata)
{
	struct daemon *d = userdata;
	int rc;

	if (err < 0) {
		log_error("cannot lead: %s", why);
		ddb_load_free(d->ddb);
		rc = err == -EACCES ? EX_NOPERM : EX_TEMPFAIL;
	} else {
		rc = open_state(d);
		if (rc == EX_OK)
			rc = setup_work(d);
	}
	if (rc != EX_OK) {
		/* The lease is released on the way out: another instance may do better. */
		d->exit_code = rc;
		ev_break(d->loop, EVBREAK_ALL);
		return;
	}
	start_work(d);
	metrics_changed(d->metrics);
}

/* The lease is ours: the shared state is read (strongly consistent) on the loop, so that the
 * lease is renewed while a big or slow table is read. */
static void on_lease_leading(void *userdata)
{
	struct daemon *d = userdata;
	long page = d->ha->lease_ms / 4 < 3000 ? (long)(d->ha->lease_ms / 4) : 3000;
	int r;

	ha_event(d, LOG_NOTICE, EVENT_HA_LEADING,
		 "instance '%s' took the lease of table '%s' (group '%s', term %lld): reading the "
		 "shared state and acting",
		 d->ha->instance_id, d->ha->table, d->ha->group, (long long)lease_term(d->lease));
	r = ddb_load(d->ddb, page, on_loaded, d);
	if (r < 0) {
		log_error("cannot lead: the shared state cannot be read: %s", strerror(-r));
		d->exit_code = EX_OSERR;
		ev_break(d->loop, EVBREAK_ALL);
	}
}

/* Another instance leads: this one steps down without writing anything. */
static void on_lease_lost(void *userdata)
{
	struct daemon *d = userdata;
	const char *leader = lease_leader(d->lease);

	ha_event(d, LOG_WARNING, EVENT_HA_LOST,
		 "instance '%s' lost the lease of table '%s' to '%s': stepping down, starting "
		 "again as a standby",
		 d->ha->instance_id, d->ha->table, leader ? leader : "another instance");
	notify_status(d->notifier, "stepping down: %s leads", leader ? leader : "another instance");
	d->demoting = true;
	ev_break(d->loop, EVBREAK_ALL);
}

/*
 * DynamoDB refused a write of ours by the fence: another instance took the lease. Nothing more
 * is sent from here on (the gate), and the process steps down as for a lost lease: the caller of
 * the write may still be on the stack, so the loop ends when it returns.
 */
static void on_fenced(void *userdata)
{
	struct daemon *d = userdata;

	if (d->fenced)
		return;
	d->fenced = true;
	ha_event(d, LOG_ERR, EVENT_HA_FENCED,
		 "instance '%s': DynamoDB refused a write to table '%s' by the fence (term %lld "
		 "is no longer the lease's): another instance leads; stepping down",
		 d->ha->instance_id, d->ha->table, (long long)lease_term(d->lease));
	d->demoting = true;
	ev_break(d->loop, EVBREAK_ALL);
}

/* The role moved (standby, suspended, resumed): said once per change. */
static void on_lease_change(void *userdata)
{
	struct daemon *d = userdata;
	enum lease_role role = lease_role(d->lease);
	const char *leader = lease_leader(d->lease);

	metrics_ha(d->metrics, role, lease_term(d->lease));
	if ((int)role == d->ha_role_said &&
	    (role != LEASE_STANDBY || !leader || !strcmp(leader, d->ha_leader_said)))
		return;
	if (role == LEASE_STANDBY && leader && *leader)
		ha_event(d, LOG_NOTICE, EVENT_HA_STANDBY,
			 "instance '%s' stands by: '%s' holds the lease of table '%s' (group '%s')",
			 d->ha->instance_id, leader, d->ha->table, d->ha->group);
	else if (role == LEASE_SUSPENDED)
		ha_event(d, LOG_ERR, EVENT_HA_SUSPENDED,
			 "instance '%s' could not renew its lease of table '%s' in time: every "
			 "mutating call is stopped until it holds the lease again",
			 d->ha->instance_id, d->ha->table);
	else if (role == LEASE_LEADING && d->ha_role_said == LEASE_SUSPENDED)
		ha_event(d, LOG_NOTICE, EVENT_HA_RESUMED,
			 "instance '%s' renewed its lease of table '%s' (term %lld): acting again",
			 d->ha->instance_id, d->ha->table, (long long)lease_term(d->lease));
	d->ha_role_said = role;
	snprintf(d->ha_leader_said, sizeof(d->ha_leader_said), "%s", leader ? leader : "");
	metrics_changed(d->metrics);
}

/* The table's client, made like the daemon's AWS client. */
static int make_ddb(struct daemon *d, struct ddb **ret, char *why, size_t why_len)
{
	struct ddb_options o = { .loop = d->loop,
				 .aws = d->aws,
				 .http = d->http,
				 .signer = d->signer,
				 .creds = d->creds,
				 .aws_options = &d->aws_options,
				 .http_options = &d->http_options,
				 .profile = d->cfg->profile,
				 .sts_endpoint = d->cfg->endpoints[AWS_SERVICE_STS],
				 .table = d->ha->table,
				 .region = d->ha->region,
				 .role_arn = d->ha->role_arn,
				 .group = d->ha->group,
				 /* the loop (renewals too) waits while a blocking call does */
				 .timeout_ms = d->ha->lease_ms / 4 < 3000
						   ? (long)(d->ha->lease_ms / 4)
						   : 3000,
				 .observer = d->metrics ? metrics_aws_observer : NULL,
				 .observer_data = d->metrics };

	return ddb_new(&o, ret, why, why_len);
}

static int setup_ha(struct daemon *d)
{
	char why[600] = "";
	int r = make_ddb(d, &d->ddb, why, sizeof(why));

	if (r < 0) {
		log_error("cannot start: %s", why);
		notify_start_failed(r == -ENOMEM ? EX_OSERR : EX_CONFIG, -r, why);
		return r == -ENOMEM ? EX_OSERR : EX_CONFIG;
	}
	if (gethostname(d->host, sizeof(d->host) - 1) < 0 || !*d->host)
		snprintf(d->host, sizeof(d->host), "localhost");
	struct lease_options lo = { .loop = d->loop,
				    .ddb = d->ddb,
				    .instance = d->ha->instance_id,
				    .host = d->host,
				    .lease_ms = d->ha->lease_ms,
				    .on_leading = on_lease_leading,
				    .on_lost = on_lease_lost,
				    .on_change = on_lease_change,
				    .userdata = d };
	r = lease_new(&lo, &d->lease, why, sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		notify_start_failed(r == -ENOMEM ? EX_OSERR : EX_CONFIG, -r, why);
		return r == -ENOMEM ? EX_OSERR : EX_CONFIG;
	}
	d->ha_role_said = LEASE_STARTING;
	aws_client_set_gate(d->aws, may_mutate, d);
	ddb_set_on_fenced(d->ddb, on_fenced, d);
	return EX_OK;
}

/* In a standby only the commands that read what it knows run; the others name the leader. */
static const char *control_filter(const char *cmd, void *userdata)
{
	static const char *const allowed[] = { "version", "status", "metrics", "reload", NULL };
	struct daemon *d = userdata;
	const char *leader;

	if (!d->lease || d->working)
		return NULL;
	for (size_t i = 0; allowed[i]; i++)
		if (!strcmp(cmd, allowed[i]))
			return NULL;
	leader = lease_leader(d->lease);
	snprintf(d->refusal, sizeof(d->refusal),
		 "this instance ('%s') is a standby; the leader is '%s': ask it",
		 d->ha->instance_id, leader && *leader ? leader : "not known yet");
	return d->refusal;
}

/*
 * The connections per host for want requests in flight: want, but at most a quarter of the
 * descriptor limit, whose soft value is raised to the hard one first (systemd's default soft
 * limit is 1024; the daemon polls its descriptors with epoll, never select(), so a higher one is
 * safe). Says so once when the limit is what bounds it.
 */
static long connections_within_limit(long want)
{
	struct rlimit rl;
	long cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return want < 16 ? want : 16;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	cap = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 4 > LONG_MAX ? LONG_MAX
									 : (long)(rl.rlim_cur / 4);
	if (want <= cap)
		return want;
	log_warning(
	    "max_requests_in_flight %ld: %ld connections to a host at most, a quarter of "
	    "the descriptor limit (%llu; LimitNOFILE= raises it); requests beyond wait for one",
	    want, cap, (unsigned long long)rl.rlim_cur);
	return cap;
}

static int setup(struct daemon *d)
{
	const char *src = NULL, *w = NULL;
	char why[512] = "";
	int r;

	if (profile_region(d->cfg->region, d->cfg->profile, d->region, sizeof(d->region), &src, why,
			   sizeof(why)) < 0) {
		log_error("cannot start: %s", why);
		notify_start_failed(EX_CONFIG, EINVAL, why);
		return EX_CONFIG;
	}
	if (!endpoint_valid_region(d->region)) {
		log_error("cannot start: region '%s' (from %s) is not an AWS region name",
			  d->region, src);
		notify_start_failed(EX_CONFIG, EINVAL, "the region is not an AWS region name");
		return EX_CONFIG;
	}
	if (d->cfg->ha) {
		/* the ha in force for the process's life: a reload may not change it (said) */
		d->ha_cfg = config_ref(d->cfg);
		d->ha = d->ha_cfg->ha;
	}
	if (d->ha && (d->once || d->dry_run || d->cfg->dry_run)) {
		const char *what = d->once ? "--once" : "a dry run";
		log_error("cannot start: %s acts alone, outside the lease of the ha table: run it "
			  "with a configuration without ha",
			  what);
		notify_start_failed(EX_CONFIG, EINVAL, "--once and dry runs do not run with ha");
		return EX_CONFIG;
	}
	if (!d->ha) {
		r = open_state(d);
		if (r != EX_OK)
			return r;
	}
	d->http_options.ca_bundle = d->cfg->ca_bundle;
	d->http_options.http2 = d->cfg->http2;
	/* A connection for each request the watcher keeps in flight: a request that waits in
	 * curl for a connection is set up again each time one frees (issue 19: 16 connections
	 * for 64 requests cost a third more CPU per request than 64). 0: http.c's 16. Within a
	 * quarter of the descriptor limit (raised to its hard limit first), so that the state
	 * files, the control socket and the other services' connections always have room. */
	long per_host = connections_within_limit(d->cfg->max_requests_in_flight);
	if (per_host != 16)
		d->http_options.max_host_connections = per_host > 0 ? per_host : 1;
	d->aws_options.region = d->region;
	d->aws_options.fips = d->cfg->fips;
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		d->aws_options.endpoints[i] = d->cfg->endpoints[i];
	d->http = http_client_new(d->loop, &d->http_options);
	d->signer = sigv4_signer_new();
	struct cred_options co = { d->loop,   d->http,
				   d->signer, d->cfg->profile,
				   d->region, d->cfg->endpoints[AWS_SERVICE_STS],
				   0 };
	d->creds = d->http && d->signer ? cred_chain_new(&co) : NULL;
	d->aws = d->creds
		     ? aws_client_new(d->loop, d->http, d->signer, d->creds, &d->aws_options, &w)
		     : NULL;
	if (!d->aws) {
		log_error("cannot start: %s", w ? w : "out of memory");
		notify_start_failed(EX_OSERR, w ? 0 : ENOMEM, w ? w : "out of memory");
		return EX_OSERR;
	}
	setup_metrics(d);
	r = d->ha ? setup_ha(d) : setup_work(d);
	if (r != EX_OK)
		return r;
	d->notifier = notify_new(d->loop);
	if (!d->notifier) {
		log_error("cannot start: out of memory");
		notify_start_failed(EX_OSERR, ENOMEM, "out of memory");
		return EX_OSERR;
	}
	log_info("using region '%s' (from %s)", d->region, src);
	return setup_control(d);
}

static void teardown(struct daemon *d)
{
	char why[600];

	control_free(d->control); /* first: a handler's late answer finds its call detached */
	d->control = NULL;
	metrics_flush(d->metrics);
	watcher_free(d->watcher);
	deployer_free(d->deployer); /* its rollouts' pokes are answered into d->queues */
	queues_free(d->queues);
	outbox_free(d->outbox); /* attempts in flight are cancelled; their entries stay */
	d->outbox = NULL;
	notify_free(d->notifier);
	/* A demoted leader writes nothing: the table is another instance's now (the fence would
	 * refuse it anyway). */
	if (d->state && !d->demoting && state_save(d->state, why, sizeof(why)) < 0)
		log_error("%s; what was seen since the last write is lost", why);
	else if (d->state && !d->demoting && state_compact(d->state, why, sizeof(why)) < 0)
		log_warning("%s; the state stays in state.json and state.journal", why);
	state_free(d->state);
	history_free(d->history);
	if (d->lease && !d->demoting) {
		/* a standby's is a no-op, unless a take of it was in flight */
		bool held = lease_role(d->lease) == LEASE_LEADING ||
			    lease_role(d->lease) == LEASE_SUSPENDED;
		int r = lease_release(d->lease);
		if (r == 0 && held)
			ha_event(d, LOG_NOTICE, EVENT_HA_RELEASED,
				 "instance '%s' released the lease of table '%s': a standby takes "
				 "over now",
				 d->ha->instance_id, d->ha->table);
		else if (r < 0 && held)
			log_warning("the lease of table '%s' could not be released: a standby "
				    "takes over when it runs out",
				    d->ha->table);
	}
	lease_free(d->lease);
	ddb_free(d->ddb);
	aws_client_free(d->aws);
	metrics_free(d->metrics); /* after every part that tells it */
	cred_provider_free(d->creds);
	sigv4_signer_free(d->signer);
	http_client_free(d->http);
	ev_signal_stop(d->loop, &d->sighup);
	ev_signal_stop(d->loop, &d->sigterm);
	ev_signal_stop(d->loop, &d->sigint);
	ev_timer_stop(d->loop, &d->once_check);
	config_free(d->ha_cfg);
	strmap_free(d->polled, free);
	config_free(d->cfg);
}

void daemon_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

/* --once: done when a poll cycle has run and nothing is left to do. */
static void on_once_check(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct daemon *d = t->data;

	(void)revents;
	if (watcher_cycles(d->watcher) < 1 || !deployer_idle(d->deployer))
		return;
	int failures = deployer_failures(d->deployer) + watcher_failing(d->watcher);
	log_notice("--once: pass complete; %d failure%s", failures, failures == 1 ? "" : "s");
	d->exit_code = failures ? 1 : 0;
	ev_break(loop, EVBREAK_ALL);
}

int daemon_run(const char *config_file, const char *config_dir, struct config *cfg,
	       const struct daemon_options *o)
{
	struct daemon d = { 0 };
	sigset_t handled;
	int rc;

	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		config_free(cfg);
		log_error("cannot start: no event loop");
		return EX_OSERR;
	}
	d.config_file = config_file;
	d.config_dir = config_dir;
	d.cfg = cfg;
	d.dry_run = o->dry_run;
	d.once = o->once;
	d.log_level = o->log_level;
	d.argv = o->argv;
	log_max_priority =
	    priority_of(o->log_level >= 0 ? (enum config_log_level)o->log_level : cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&d.sighup, on_signal, SIGHUP);
	ev_signal_init(&d.sigterm, on_signal, SIGTERM);
	ev_signal_init(&d.sigint, on_signal, SIGINT);
	d.sighup.data = d.sigterm.data = d.sigint.data = &d;
	ev_signal_start(d.loop, &d.sighup);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);
	/* main() blocked them; libev's handlers are in place now (libev 4.33 leaves the mask as
	 * it is), so they may come, a pending one at once. */
	daemon_signals(&handled);
	sigprocmask(SIG_UNBLOCK, &handled, NULL);

	rc = setup(&d);
	if (rc == EX_OK) {
		log_at(LOG_NOTICE, EVENT_STARTED, LOG_FIELDS({ "CONFIG_FILE", config_file }),
		       "started: %zu watches, %zu targets%s%s%s", cfg->n_watches,
		       config_target_count(cfg), cfg->dry_run || d.dry_run ? "; dry run" : "",
		       d.once ? "; one pass (--once)" : "",
		       cfg->ha ? "; ha: standing by until this instance holds the lease" : "");
		/* Ready once every watch is armed (with ha: once the lease is being looked at);
		 * AWS may still be unreachable (the status says so). */
		notify_ready(d.notifier);
		ev_prepare_init(&d.status_prep, on_status);
		d.status_prep.data = &d;
		ev_prepare_start(d.loop, &d.status_prep);
		if (d.lease)
			lease_start(d.lease);
		else
			start_work(&d);
		ev_run(d.loop, 0);
		if (d.once)
			rc = d.stopped ? EX_TEMPFAIL : d.exit_code;
		else if (d.exit_code)
			rc = d.exit_code;
	}
	ev_prepare_stop(d.loop, &d.status_prep);
	bool demote = d.demoting && !d.stopped && d.argv;
	if (demote) /* a signal from here on waits for the new image, which handles it */
		sigprocmask(SIG_BLOCK, &handled, NULL);
	teardown(&d);
	ev_loop_destroy(d.loop);
	if (demote) {
		/* Everything held in memory goes: the new image starts as a standby and reads the
		 * shared state afresh if it leads again. Same PID, so systemd sees no restart. */
		cred_env_restore();
		execv("/proc/self/exe", d.argv);
		log_error("cannot start again as a standby: exec of /proc/self/exe: %s",
			  strerror(errno));
		return EX_OSERR;
	}
	return rc;
}

/* ---- --migrate-state-to-table ---- */

static void on_lease_read(int err, const struct ddb_lease *item, const char *why, void *ud)
{
	struct daemon *d = ud;

	if (err == 0 && item->owner[0]) {
		fprintf(stderr,
			"ecr-deployd: --migrate-state-to-table: instance '%s' holds the lease of "
			"the table: stop every instance of group '%s' first\n",
			item->owner, d->ha->group);
		d->exit_code = EX_TEMPFAIL;
	} else if (err < 0 && err != -ENOENT) {
		fprintf(stderr, "ecr-deployd: --migrate-state-to-table: %s\n",
			why ? why : "the table cannot be read");
		d->exit_code = err == -EACCES ? EX_NOPERM : EX_UNAVAILABLE;
	}
	ev_break(d->loop, EVBREAK_ALL);
}

int daemon_migrate(struct config *cfg)
{
	struct daemon d = { 0 };
	char why[600] = "";
	const char *src = NULL, *w = NULL;
	int rc = EX_OK;

	if (!cfg->ha) {
		fprintf(stderr, "ecr-deployd: --migrate-state-to-table: the configuration has no "
				"\"ha\" table to copy the state into\n");
		config_free(cfg);
		return EX_CONFIG;
	}
	d.cfg = cfg;
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop || profile_region(cfg->region, cfg->profile, d.region, sizeof(d.region), &src,
				      why, sizeof(why)) < 0) {
		fprintf(stderr, "ecr-deployd: %s\n", d.loop ? why : "no event loop");
		config_free(cfg);
		return d.loop ? EX_CONFIG : EX_OSERR;
	}
	d.http_options.ca_bundle = cfg->ca_bundle;
	d.http_options.http2 = cfg->http2;
	d.aws_options.region = d.region;
	d.aws_options.fips = cfg->fips;
	for (int i = 0; i < AWS_SERVICE_COUNT; i++)
		d.aws_options.endpoints[i] = cfg->endpoints[i];
	d.http = http_client_new(d.loop, &d.http_options);
	d.signer = sigv4_signer_new();
	struct cred_options co = {
		d.loop, d.http, d.signer, cfg->profile, d.region, cfg->endpoints[AWS_SERVICE_STS], 0
	};
	d.creds = d.http && d.signer ? cred_chain_new(&co) : NULL;
	d.aws =
	    d.creds ? aws_client_new(d.loop, d.http, d.signer, d.creds, &d.aws_options, &w) : NULL;
	d.ha = cfg->ha;
	if (!d.aws || make_ddb(&d, &d.ddb, why, sizeof(why)) < 0) {
		fprintf(stderr, "ecr-deployd: %s\n", *why ? why : w ? w : "out of memory");
		rc = EX_OSERR;
	}
	/* The blocking calls use the credentials the loop resolved (the role's too): one read
	 * of the lease on the loop resolves them, and says whether the table answers. */
	if (rc == EX_OK) {
		if (ddb_lease_read(d.ddb, 30000, on_lease_read, &d, NULL) < 0)
			rc = EX_OSERR;
		else
			ev_run(d.loop, 0);
		rc = rc == EX_OK ? d.exit_code : rc;
	}
	if (rc == EX_OK) {
		int r = migrate_state_to_table(cfg->state_dir, d.ddb, stdout, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "ecr-deployd: --migrate-state-to-table: %s\n", why);
			rc = r == -EEXIST ? EX_CANTCREAT : r == -EACCES ? EX_NOPERM : EX_TEMPFAIL;
		}
	}
	ddb_free(d.ddb);
	aws_client_free(d.aws);
	cred_provider_free(d.creds);
	sigv4_signer_free(d.signer);
	http_client_free(d.http);
	ev_loop_destroy(d.loop);
	config_free(cfg);
	return rc;
}
