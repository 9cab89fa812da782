/* The libmicrohttpd glue both emulators use (emu_http.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emu_http.h"
#include "emu_util.h"

struct MHD_Daemon *emu_http_listen(const char *cert_pem, const char *key_pem, MHD_AccessHandlerCallback handler,
				   void *cls, MHD_RequestCompletedCallback completed, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	if (cert_pem)
		d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)120, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR, &sa,
				     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned)120, MHD_OPTION_END);
	*port = 0;
	if (!d)
		return NULL;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	return d;
}

int emu_body_append(char **body, size_t *len, bool *overflow, const char *chunk, size_t n)
{
	if (*overflow || *len + n > MAX_BODY) {
		*overflow = true;
		return 0;
	}
	char *nb = realloc(*body, *len + n + 1);
	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, chunk, n);
	*len += n;
	nb[*len] = 0;
	*body = nb;
	return 0;
}

struct MHD_Response *emu_http_response(const char *body, const char *ctype)
{
	struct MHD_Response *resp;
	if (body)
		resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp && ctype)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return resp;
}

enum MHD_Result emu_http_queue(struct MHD_Connection *conn, int status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}
