/* SPDX-License-Identifier: MIT */
/* The HA table's client (ddb.h). STUB: every call returns -ENOSYS until implemented. */
#include "ddb.h"

#include <errno.h>
#include <stdio.h>

/* STUB (-ENOSYS): replaced by the implementation on this branch. */
int ddb_new(const struct ddb_options *o, struct ddb **ret, char *why, size_t why_len)
{
	(void)o;
	(void)ret;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

void ddb_free(struct ddb *t)
{
	(void)t;
}

const char *ddb_table(const struct ddb *t)
{
	(void)t;
	return "";
}

const char *ddb_group(const struct ddb *t)
{
	(void)t;
	return "";
}

const char *ddb_region(const struct ddb *t)
{
	(void)t;
	return "";
}

void ddb_set_fence(struct ddb *t, const char *owner, uint64_t term)
{
	(void)t;
	(void)owner;
	(void)term;
}

void ddb_set_gate(struct ddb *t, bool (*may_write)(void *ud), void *ud)
{
	(void)t;
	(void)may_write;
	(void)ud;
}

int ddb_lease_read(struct ddb *t, long timeout_ms, ddb_lease_fn done, void *ud, struct ddb_op **ret)
{
	(void)t, (void)timeout_ms, (void)done, (void)ud, (void)ret;
	return -ENOSYS;
}

int ddb_lease_write(struct ddb *t, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		    long timeout_ms, ddb_lease_fn done, void *ud, struct ddb_op **ret)
{
	(void)t, (void)next, (void)cond, (void)timeout_ms, (void)done, (void)ud, (void)ret;
	return -ENOSYS;
}

int ddb_lease_write_wait(struct ddb *t, const struct ddb_lease *next,
			 const struct ddb_lease_cond *cond, long timeout_ms, char *why,
			 size_t why_len)
{
	(void)t, (void)next, (void)cond, (void)timeout_ms;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

void ddb_op_cancel(struct ddb_op *op)
{
	(void)op;
}

int ddb_write(struct ddb *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	(void)t, (void)w, (void)n;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

int ddb_write_unfenced(struct ddb *t, const struct ddb_write *w, size_t n, char *why,
		       size_t why_len)
{
	(void)t, (void)w, (void)n;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

int ddb_read_all(struct ddb *t, const char *prefix,
		 int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		 char *why, size_t why_len)
{
	(void)t, (void)prefix, (void)fn, (void)ud;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

int ddb_put_if_absent(struct ddb *t, const char *sk, const char *doc, char *why, size_t why_len)
{
	(void)t, (void)sk, (void)doc;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

cJSON *ddb_build_write(const char *table, const char *group, const char *owner, uint64_t term,
		       const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	(void)table, (void)group, (void)owner, (void)term, (void)w, (void)n;
	snprintf(why, why_len, "ddb: not implemented yet");
	return NULL;
}

int ddb_parse_lease(const cJSON *item, struct ddb_lease *ret, char *why, size_t why_len)
{
	(void)item, (void)ret;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

int ddb_parse_state_item(const cJSON *item, const char *group, char *sk, const char **ret_doc,
			 size_t *ret_len, char *why, size_t why_len)
{
	(void)item, (void)group, (void)sk, (void)ret_doc, (void)ret_len;
	snprintf(why, why_len, "ddb: not implemented yet");
	return -ENOSYS;
}

int ddb_parse_u64(const cJSON *attr, uint64_t *ret)
{
	(void)attr, (void)ret;
	return -ENOSYS;
}
