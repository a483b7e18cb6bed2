/* SPDX-License-Identifier: MIT */
/*
 * libcurl multi_socket on libev, in the shape of curl's evhiperfifo example
 * without its two well-known bugs: the timeout is converted with 1000.0, and
 * libcurl is never called from inside its own timer callback (a 0 s timer is
 * armed instead).
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

#define DEFAULT_CONNECT_TIMEOUT_MS   5000
#define DEFAULT_TIMEOUT_MS           30000
#define DEFAULT_MAX_HOST_CONNECTIONS 16
#define IDLE_OTHER_HOSTS             8 /* idle connections kept for hosts other than the busiest */
#define DEFAULT_MAX_RESPONSE         (16u * 1024 * 1024)
#define MAX_HEADERS                  200
#define SPARE_HANDLES                64          /* finished requests kept for reuse */
#define SPARE_BODY_MAX               (64 * 1024) /* larger buffers are not kept */

struct sock_watch {
	struct ev_io io;
	curl_socket_t fd;
	struct http_client *client;
	struct sock_watch *prev, *next;
};

/* The response headers kept (struct http_response's strings), in one buffer per request. */
enum kept_header {
	KEPT_REQUEST_ID,
	KEPT_CONTENT_TYPE,
	KEPT_DATE,
	KEPT_QUERY_ERROR,
	KEPT_ERROR_TYPE,
	KEPT_COUNT
};

#define KEPT_HEADERS_MAX (256 * 1024) /* more than curl's bound on one header line */

/*
 * A request and its easy handle, kept together and reused as a pair: the options that never
 * change (callbacks, TLS, timeouts of the connection) are set once when the handle is made, and
 * each request sets only what is its own (URL, method, body, headers, timeout). Its buffers stay
 * with it: the header lines (curl reads them through a list whose nodes live here), the body
 * (read by curl in place), the reply and the kept reply headers.
 */
struct http_request {
	struct http_client *client;
	CURL *easy;
	struct curl_slist *nodes; /* the header list handed to curl: n_nodes entries */
	size_t n_nodes, nodes_cap;
	struct strbuf head; /* the header lines, each NUL-terminated; wiped (Authorization) */
	struct strbuf send; /* the body; wiped */
	struct strbuf kept; /* values of the kept reply headers, each NUL-terminated */
	size_t kept_at[KEPT_COUNT]; /* offset + 1 in kept; 0: absent */
	char errbuf[CURL_ERROR_SIZE];
	struct http_response resp;
	http_done_fn done;
	void *userdata;
	int header_count;
	bool too_large, too_many_headers, kept_full;
	bool secret;
	int socket_errno; /* why opening this request's socket failed (EMFILE...), else 0 */
	struct http_request *prev, *next;
};

struct http_client {
	struct ev_loop *loop;
	CURLM *multi;
	struct ev_timer timer;
	long connect_timeout_ms;
	size_t max_response;
	bool http2;     /* offered in ALPN over TLS */
	bool multiplex; /* HTTP/2 streams share a connection */
	char *ca_bundle;
	char *user_agent;
	struct http_request *requests;
	struct sock_watch *watches;
	struct http_request *spare[SPARE_HANDLES]; /* finished requests, with their handles */
	int n_spare;
	int in_flight;
	long connections;
};

static void list_add_req(struct http_request **head, struct http_request *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_del_req(struct http_request **head, struct http_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void request_destroy(struct http_request *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	free(r->nodes);
	strbuf_done(&r->head);
	strbuf_done(&r->send);
	strbuf_done(&r->kept);
	strbuf_done(&r->resp.body);
	free(r);
}

/*
 * After the callback or a cancel: the request is kept with its handle for the next one, its
 * buffers wiped of what this one held (the header lines hold Authorization and the session
 * token; the bodies, whatever was sent and received). A request that carried a secret is
 * destroyed instead, and its handle closed: curl's receive buffer holds the reply.
 */
static void request_free(struct http_request *r)
{
	struct http_client *c;

	if (!r)
		return;
	c = r->client;
	if (!r->easy || r->secret || !c || c->n_spare == SPARE_HANDLES) {
		request_destroy(r);
		return;
	}
	strbuf_reset(&r->head);
	strbuf_reset(&r->send);
	if (r->resp.body.buf)
		explicit_bzero(r->resp.body.buf, r->resp.body.len);
	if (r->resp.body.cap > SPARE_BODY_MAX)
		strbuf_done(&r->resp.body);
	if (r->send.cap > SPARE_BODY_MAX)
		strbuf_done(&r->send);
	if (r->kept.cap > SPARE_BODY_MAX)
		strbuf_done(&r->kept);
	c->spare[c->n_spare++] = r;
}

static int error_from_curl(CURLcode code, const struct http_request *r)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_WRITE_ERROR:
		if (r->too_many_headers)
			return -E2BIG;
		return r->too_large ? -EFBIG : -EIO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EACCES;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static char *kept(struct http_request *r, enum kept_header h)
{
	return r->kept_at[h] ? r->kept.buf + r->kept_at[h] - 1 : NULL;
}

static void complete(struct http_client *c, CURL *easy, CURLcode code)
{
	struct http_request *r = NULL;
	long version = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	curl_multi_remove_handle(c->multi, easy);
	list_del_req(&c->requests, r);
	c->in_flight--;
	r->resp.error = error_from_curl(code, r);
	if (r->resp.error && code == CURLE_COULDNT_CONNECT && r->socket_errno) {
		/* No socket at all: the descriptor limit (EMFILE) or the system's, by name. */
		r->resp.error = -r->socket_errno;
		snprintf(r->resp.error_text, sizeof(r->resp.error_text), "cannot open a socket: %s",
			 strerror(r->socket_errno));
	} else if (r->resp.error) {
		snprintf(r->resp.error_text, sizeof(r->resp.error_text), "%s",
			 r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
		if (r->resp.error == -EFBIG)
			snprintf(r->resp.error_text, sizeof(r->resp.error_text),
				 "response larger than %zu bytes", c->max_response);
		else if (r->resp.error == -E2BIG && r->kept_full)
			snprintf(r->resp.error_text, sizeof(r->resp.error_text),
				 "response headers larger than %d bytes", KEPT_HEADERS_MAX);
		else if (r->resp.error == -E2BIG)
			snprintf(r->resp.error_text, sizeof(r->resp.error_text),
				 "response with more than %d headers", MAX_HEADERS);
	}
	r->resp.request_id = kept(r, KEPT_REQUEST_ID);
	r->resp.content_type = kept(r, KEPT_CONTENT_TYPE);
	r->resp.date = kept(r, KEPT_DATE);
	r->resp.query_error = kept(r, KEPT_QUERY_ERROR);
	r->resp.error_type = kept(r, KEPT_ERROR_TYPE);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
	r->resp.http_version = version == CURL_HTTP_VERSION_2_0   ? 20
			       : version == CURL_HTTP_VERSION_1_0 ? 10
								  : 11;
	if (r->done)
		r->done(&r->resp, r->userdata);
	request_free(r);
}

static void drain(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			complete(c, msg->easy_handle, msg->data.result);
}

static void on_io(struct ev_loop *loop, struct ev_io *w, int revents)
{
	struct sock_watch *sw = w->data;
	struct http_client *c = sw->client;
	int action =
	    (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	(void)loop;
	/* sw may be freed inside this call (CURL_POLL_REMOVE); do not touch it after. */
	curl_multi_socket_action(c->multi, sw->fd, action, &running);
	drain(c);
}

static void on_timer(struct ev_loop *loop, struct ev_timer *w, int revents)
{
	struct http_client *c = w->data;
	int running;

	(void)loop;
	(void)revents;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(c);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms our timer; never calls libcurl. */
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.0);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

static void watch_free(struct http_client *c, struct sock_watch *sw)
{
	ev_io_stop(c->loop, &sw->io);
	if (sw->prev)
		sw->prev->next = sw->next;
	else
		c->watches = sw->next;
	if (sw->next)
		sw->next->prev = sw->prev;
	free(sw);
}

/* CURLMOPT_SOCKETFUNCTION: one ev_io per socket, kept in curl's socket data. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_watch *sw = socketp;
	int events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			curl_multi_assign(c->multi, fd, NULL);
			watch_free(c, sw);
		}
		return 0;
	}
	events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sw) {
		sw = calloc(1, sizeof(*sw));
		if (!sw)
			return -1;
		sw->fd = fd;
		sw->client = c;
		sw->next = c->watches;
		if (c->watches)
			c->watches->prev = sw;
		c->watches = sw;
		ev_io_init(&sw->io, on_io, fd, events);
		sw->io.data = sw;
		curl_multi_assign(c->multi, fd, sw);
	} else {
		ev_io_stop(c->loop, &sw->io);
		ev_io_set(&sw->io, fd, events);
	}
	ev_io_start(c->loop, &sw->io);
	return 0;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_request *r = clientp;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD)
		r->client->connections++;
	else
		r->socket_errno = errno; /* curl says only "couldn't connect" */
	return fd;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct http_request *r = userp;
	size_t len = size * n;
	int err = strbuf_append(&r->resp.body, data, len);

	if (err == -ENOBUFS)
		r->too_large = true;
	return err < 0 ? 0 : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	static const struct {
		const char *name;
		size_t name_len;
		enum kept_header which;
	} wanted[] = {
		{ "x-amzn-requestid", 16, KEPT_REQUEST_ID },
		{ "x-amz-request-id", 16, KEPT_REQUEST_ID },
		{ "content-type", 12, KEPT_CONTENT_TYPE },
		{ "date", 4, KEPT_DATE },
		{ "x-amzn-query-error", 18, KEPT_QUERY_ERROR },
		{ "x-amzn-errortype", 16, KEPT_ERROR_TYPE },
	};
	struct http_request *r = userp;
	size_t len = size * n, nl;
	const char *colon, *v;

	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new status line (after 100 Continue, say): start over. */
		r->header_count = 0;
		return len;
	}
	if (++r->header_count > MAX_HEADERS) {
		r->too_many_headers = true;
		return 0;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	nl = (size_t)(colon - data);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		size_t at = r->kept.len, vl = len - nl - 1;

		if (nl != wanted[i].name_len || strncasecmp(data, wanted[i].name, nl))
			continue;
		v = colon + 1;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		/* a NUL inside the value ends it, as it ends the C string it becomes */
		vl = strnlen(v, vl);
		if (strbuf_append(&r->kept, v, vl) < 0 || strbuf_putc(&r->kept, '\0') < 0) {
			r->too_many_headers = r->kept_full = true;
			return 0;
		}
		r->kept_at[wanted[i].which] = at + 1;
		break;
	}
	return len;
}

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_options *opts)
{
	struct http_client *c;
	static const struct http_client_options none;

	if (!opts)
		opts = &none;
	/* libcurl frees through a wiping free(), so that what it copied (request headers, bodies,
	 * its receive buffer) leaves no trace in freed memory. Only the first initialisation of
	 * the process sets the memory functions; every client asks for the same ones. */
	(void)crypto_wipe_on_free(); /* before curl initialises OpenSSL; too late is no error */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, crypto_wiping_free,
				 crypto_wiping_realloc, strdup, calloc) != CURLE_OK)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return NULL;
	}
	c->loop = loop;
	c->connect_timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_response =
	    opts->max_response_bytes ? opts->max_response_bytes : DEFAULT_MAX_RESPONSE;
	c->ca_bundle = opts->ca_bundle ? strdup(opts->ca_bundle) : NULL;
	c->http2 = opts->http2;
	c->multiplex = opts->http2 && !opts->no_multiplex;
	c->user_agent = strdup(opts->user_agent ? opts->user_agent : "ecr-deployd");
	c->multi = curl_multi_init();
	if (!c->multi || !c->user_agent || (opts->ca_bundle && !c->ca_bundle)) {
		http_client_free(c);
		return NULL;
	}
	ev_timer_init(&c->timer, on_timer, 0.0, 0.0);
	c->timer.data = c;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
			  c->multiplex ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
	long per_host = opts->max_host_connections > 0 ? opts->max_host_connections
						       : (long)DEFAULT_MAX_HOST_CONNECTIONS;
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
	/* The idle connections kept: libcurl's own limit is 4 per transfer still running, so the
	 * last transfers of a burst (a poll cycle's tail) closed the connections the next burst
	 * opened again (issue 19: 15 of 64 each cycle, each a TLS handshake against AWS). A host's
	 * connections, and a few for the other hosts. */
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, per_host + IDLE_OTHER_HOSTS);
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->requests)
		http_cancel(c->requests);
	while (c->n_spare)
		request_destroy(c->spare[--c->n_spare]);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	while (c->watches)
		watch_free(c, c->watches);
	if (c->loop)
		ev_timer_stop(c->loop, &c->timer);
	free(c->ca_bundle);
	free(c->user_agent);
	free(c);
	curl_global_cleanup();
}

/* A new request with its easy handle, the options that never change set. NULL: no memory. */
static struct http_request *request_new(struct http_client *c)
{
	struct http_request *r = calloc(1, sizeof(*r));
	CURL *e;

	if (!r)
		return NULL;
	r->client = c;
	strbuf_init_secret(&r->head, SIZE_MAX / 4);
	strbuf_init_secret(&r->send, SIZE_MAX / 4);
	strbuf_init(&r->kept, KEPT_HEADERS_MAX);
	strbuf_init(&r->resp.body, c->max_response);
	r->easy = e = curl_easy_init();
	if (!e) {
		request_destroy(r);
		return NULL;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			 c->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, c->multiplex ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	return r;
}

/* The header lines into r->head, one after the other, and the list curl reads over them. */
static int set_headers(struct http_request *r, const char *const *lines)
{
	size_t n = 1;
	char *p;

	/* No "Expect: 100-continue" round trip on larger bodies. */
	if (strbuf_append(&r->head, "Expect:", 8) < 0)
		return -ENOMEM;
	for (const char *const *h = lines; h && *h; h++, n++)
		if (strbuf_append(&r->head, *h, strlen(*h) + 1) < 0)
			return -ENOMEM;
	if (n > r->nodes_cap) {
		struct curl_slist *nodes = realloc(r->nodes, n * sizeof(*nodes));
		if (!nodes)
			return -ENOMEM;
		r->nodes = nodes;
		r->nodes_cap = n;
	}
	p = r->head.buf;
	for (size_t i = 0; i < n; i++) {
		r->nodes[i].data = p;
		r->nodes[i].next = i + 1 < n ? &r->nodes[i + 1] : NULL;
		p += strlen(p) + 1;
	}
	r->n_nodes = n;
	return 0;
}

int http_submit(struct http_client *c, const struct http_request_spec *spec, http_done_fn done,
		void *userdata, struct http_request **ret)
{
	struct http_request *r;
	bool post = spec->method && !strcmp(spec->method, "POST");
	bool put = spec->method && !strcmp(spec->method, "PUT");
	bool get = spec->method && !strcmp(spec->method, "GET");
	struct strbuf body;
	CURL *e;

	if ((!post && !put && !get) || !spec->url ||
	    (strncmp(spec->url, "http://", 7) && strncmp(spec->url, "https://", 8)))
		return -EINVAL;
	r = c->n_spare ? c->spare[--c->n_spare] : request_new(c);
	if (!r)
		return -ENOMEM;
	e = r->easy;
	r->done = done;
	r->userdata = userdata;
	r->secret = spec->secret;
	r->header_count = 0;
	r->too_large = r->too_many_headers = r->kept_full = false;
	r->socket_errno = 0;
	r->errbuf[0] = '\0';
	strbuf_reset(&r->kept);
	memset(r->kept_at, 0, sizeof(r->kept_at));
	body = r->resp.body;
	memset(&r->resp, 0, sizeof(r->resp));
	r->resp.body = body;
	if (spec->secret && !r->resp.body.wipe) {
		/* the reply is a secret: in a buffer that wipes what it leaves */
		strbuf_done(&r->resp.body);
		strbuf_init_secret(&r->resp.body, c->max_response);
	}
	strbuf_reset(&r->resp.body);
	if (set_headers(r, spec->headers) < 0)
		goto nomem;
	curl_easy_setopt(e, CURLOPT_URL, spec->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->nodes);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 spec->timeout_ms > 0 ? spec->timeout_ms : (long)DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, spec->secret ? 1L : 0L);
	if (post || put) {
		/* curl reads the body in place, from the request's own copy */
		if (spec->body_len && strbuf_append(&r->send, spec->body, spec->body_len) < 0)
			goto nomem;
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->send.buf ? r->send.buf : "");
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, put ? "PUT" : NULL);
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto nomem;
	list_add_req(&c->requests, r);
	c->in_flight++;
	if (ret)
		*ret = r;
	return 0;
nomem:
	request_free(r);
	return -ENOMEM;
}

void http_cancel(struct http_request *r)
{
	struct http_client *c;

	if (!r)
		return;
	c = r->client;
	curl_multi_remove_handle(c->multi, r->easy);
	list_del_req(&c->requests, r);
	c->in_flight--;
	request_free(r);
}

long http_connections_opened(const struct http_client *c)
{
	return c->connections;
}
