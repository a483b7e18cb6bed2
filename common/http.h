/* SPDX-License-Identifier: MIT */
/*
 * Non-blocking HTTP(S) on libcurl's multi_socket interface, driven by a libev
 * loop: any number of requests in flight, keep-alive reuse per host, HTTP/2
 * when a TLS server offers it, connect and total timeouts, a cap on
 * response size, TLS verification always on (a CA bundle may be named; it
 * cannot be switched off), proxies from the environment as curl reads them
 * (http_proxy, https_proxy, no_proxy).
 *
 * Each request is owned by its curl easy handle and freed in exactly one
 * place: after its completion callback returns, or in http_cancel().
 *
 * Everything libcurl frees is wiped first (the client installs wiping
 * memory functions with curl_global_init_mem()), so that the request
 * headers it copied (Authorization, X-Amz-Security-Token) and its send
 * and receive buffers do not outlive the request in freed heap memory.
 */
#ifndef ECR_HTTP_H
#define ECR_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct http_client;
struct http_request;

struct http_client_options {
	long connect_timeout_ms; /* 0: 5000 */
	/* 0: 16. More requests queue in curl, and a queued request is set up again (a connection
	 * structure made, the URL parsed, then dropped) each time a connection frees: give as
	 * many as the caller keeps requests in flight. */
	long max_host_connections;
	size_t max_response_bytes; /* 0: 16 MiB */
	const char *ca_bundle;     /* NULL: the system's store */
	const char *user_agent;    /* NULL: "ecr-deployd" */
	/* HTTP/2 offered in ALPN over TLS (taken when the server agrees), its streams multiplexed
	 * over one connection unless no_multiplex. false: HTTP/1.1 only, which the bench of issue
	 * 19 measured at 0.44-0.59 times HTTP/2's CPU per request with a connection for each
	 * request in flight (README, Performance). */
	bool http2;
	/* With http2: one request at a time per connection: no HTTP/2 multiplexing, and no waiting
	 * for a connection to show whether it could multiplex (CURLOPT_PIPEWAIT), so that a request
	 * whose reply never comes holds its own connection only, never the requests after it. */
	bool no_multiplex;
};

struct http_request_spec {
	const char *method;         /* "GET", "POST" or "PUT" */
	const char *url;            /* http:// or https:// only */
	const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
	const void *body;
	size_t body_len;
	long timeout_ms; /* whole request; 0: 30000 */
	/* The request or its reply carries a secret (a credential fetch): the reply body is kept
	 * in a wiping buffer, and the easy handle and the connection are closed afterwards rather
	 * than kept for reuse, so that no curl or TLS buffer keeps the reply. */
	bool secret;
};

/*
 * What a request came to. error is 0 when an HTTP response arrived whole
 * (any status), else a negative errno: -ETIMEDOUT (connect or total
 * timeout), -ECONNREFUSED, -EHOSTUNREACH (name or route), -ECONNRESET (the
 * connection broke or closed early, a truncated body included), -EFBIG
 * (response over the cap), -E2BIG (too many headers), -EACCES (the peer's
 * certificate is not trusted), -EPROTO (TLS or HTTP protocol error), -ENOMEM,
 * -EIO (anything else). error_text is curl's sentence for it.
 */
struct http_response {
	long status; /* the status line's code when one came (also with -EFBIG), else 0 */
	int error;
	char error_text[256];
	struct strbuf body;
	char *request_id; /* x-amzn-RequestId or x-amz-request-id; NULL when absent */
	char *content_type;
	char *date;
	char *query_error; /* x-amzn-query-error */
	char *error_type;  /* x-amzn-ErrorType */
	long http_version; /* 11, 20, ... */
};

/* Called once per request, from the loop; resp and what it points to are freed after it returns. */
typedef void (*http_done_fn)(struct http_response *resp, void *userdata);

/* A client on loop; NULL when libcurl cannot be set up. The options are copied. */
struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_options *opts);

/* Cancels every request in flight (no callbacks) and frees the client. NULL is a no-op.
 * Must not be called from a completion callback. */
void http_client_free(struct http_client *c);

/*
 * Starts a request. Everything in spec is copied. On success returns 0 and,
 * if ret is not NULL, a handle valid until the callback runs or
 * http_cancel(). Returns -EINVAL for a bad spec (method, scheme), -ENOMEM.
 */
int http_submit(struct http_client *c, const struct http_request_spec *spec, http_done_fn done,
		void *userdata, struct http_request **ret);

/* Stops a request; its callback is not called. */
void http_cancel(struct http_request *r);

/* Connections curl opened so far (for tests of reuse). */
long http_connections_opened(const struct http_client *c);

#endif
