/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  One curl multi handle per user mapping, kept across scans.
 *
 * The multi handle owns the keep-alive connections and the DNS cache, so
 * every scan and write of the same server and user reuses warm sockets.
 * Like postgres_fdw's connection cache, an entry is dropped when its
 * server or user mapping changes; here it is rebuilt the next time it is
 * asked for while no transfer uses it.
 *
 * Every socket libcurl opens, kept or not, counts as one of PostgreSQL's
 * external file descriptors (AcquireExternalFD, as postgres_fdw does for
 * each connection), so that the server's own files keep their share of the
 * process's descriptors; with none left, no socket is opened and the
 * request fails saying why.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

static HTAB *ConnectionHash = NULL;

/*
 * The sockets opened through socket_open, each holding one external file
 * descriptor.  libcurl closes most through socket_close, but not a socket
 * whose connect was still in progress when its transfer was stopped; such
 * sockets are found by cd_sockets_reconcile (the descriptor is closed, or
 * now names another file).
 */
typedef struct CdSocket
{
	curl_socket_t fd;
	dev_t		dev;
	ino_t		ino;
} CdSocket;

#define CD_MAX_SOCKETS 512
static CdSocket sockets[CD_MAX_SOCKETS];
static int	nsockets = 0;

static void
socket_forget(int i)
{
	sockets[i] = sockets[--nsockets];
	ReleaseExternalFD();
}

/*
 * Give back the descriptors of sockets libcurl closed without telling.
 */
void
cd_sockets_reconcile(void)
{
	for (int i = nsockets - 1; i >= 0; i--)
	{
		struct stat st;

		if (fstat(sockets[i].fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
			st.st_dev != sockets[i].dev || st.st_ino != sockets[i].ino)
			socket_forget(i);
	}
}

/*
 * libcurl's socket opener: an external file descriptor first; none left
 * (even after reconciling), and *no_fd tells the request why it failed.
 */
static curl_socket_t
socket_open(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	bool	   *no_fd = arg;
	curl_socket_t fd;
	struct stat st;

	if (nsockets >= CD_MAX_SOCKETS || !AcquireExternalFD())
	{
		cd_sockets_reconcile();
		if (nsockets >= CD_MAX_SOCKETS || !AcquireExternalFD())
		{
			*no_fd = true;
			return CURL_SOCKET_BAD;
		}
	}
	fd = socket(address->family, address->socktype, address->protocol);
	if (fd == CURL_SOCKET_BAD || fstat(fd, &st) != 0)
	{
		if (fd != CURL_SOCKET_BAD)
			close(fd);
		ReleaseExternalFD();
		return CURL_SOCKET_BAD;
	}
	sockets[nsockets].fd = fd;
	sockets[nsockets].dev = st.st_dev;
	sockets[nsockets].ino = st.st_ino;
	nsockets++;
	return fd;
}

/* libcurl's socket closer, maybe long after the request (kept sockets). */
static int
socket_close(void *arg, curl_socket_t fd)
{
	for (int i = 0; i < nsockets; i++)
		if (sockets[i].fd == fd)
		{
			socket_forget(i);
			break;
		}
	return close(fd);
}

/*
 * Open and close easy's sockets through the counting functions above;
 * *no_fd is set when a socket was refused for want of a descriptor.
 */
void
cd_conn_count_sockets(CURL *easy, bool *no_fd)
{
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, socket_open);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, no_fd);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, socket_close);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, NULL);
}

/*
 * TLS for easy: certificates and host names always verified, against the
 * server's ssl_ca_file alone when it has one (a corporate TLS proxy's CA,
 * say), else against the system's CAs.  Downloads use it too.
 */
void
cd_conn_set_tls(CURL *easy, const CdServer *srv)
{
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (srv->ssl_ca_file)
	{
		curl_easy_setopt(easy, CURLOPT_CAINFO, srv->ssl_ca_file);
		curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
	}
}

static void conn_invalidate_callback(Datum arg, int cacheid, uint32 hashvalue);

/*
 * Release the curl objects of an entry; the entry itself stays in the hash.
 */
static void
conn_close(CdConn *conn)
{
	while (conn->nidle > 0)
		curl_easy_cleanup(conn->idle[--conn->nidle]);
	if (conn->multi)
		curl_multi_cleanup(conn->multi);
	conn->multi = NULL;
	cd_sockets_reconcile();
}

static void
conn_open(CdConn *conn, const CdServer *srv)
{
	conn->multi = curl_multi_init();
	if (conn->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create an HTTP client for server \"%s\"",
						srv->server_name)));
	curl_multi_setopt(conn->multi, CURLMOPT_MAXCONNECTS, 64L);
	conn->nidle = 0;
	conn->nactive = 0;
	conn->invalidated = false;
	conn->server_hashvalue =
		GetSysCacheHashValue1(FOREIGNSERVEROID, ObjectIdGetDatum(srv->serverid));
	conn->mapping_hashvalue =
		GetSysCacheHashValue1(USERMAPPINGOID, ObjectIdGetDatum(srv->umid));
}

/*
 * Get the connection entry for srv's user mapping, creating or rebuilding
 * it as needed.  The entry lives for the backend's life.
 */
CdConn *
cd_get_connection(const CdServer *srv)
{
	CdConn	   *conn;
	bool		found;

	if (ConnectionHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CdConn);
		ctl.hcxt = CacheMemoryContext;
		ConnectionHash = hash_create("candidate_docs connections", 8, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID,
									  conn_invalidate_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID,
									  conn_invalidate_callback, (Datum) 0);
	}

	conn = hash_search(ConnectionHash, &srv->umid, HASH_ENTER, &found);
	if (!found)
		conn->multi = NULL;
	if (conn->multi && conn->invalidated && conn->nactive == 0)
		conn_close(conn);
	if (conn->multi == NULL)
		conn_open(conn, srv);
	return conn;
}

/*
 * Lend an easy handle; the caller gives it back with cd_conn_return_easy.
 */
CURL *
cd_conn_take_easy(CdConn *conn)
{
	CURL	   *easy;

	easy = conn->nidle > 0 ? conn->idle[--conn->nidle] : curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create an HTTP request handle")));
	conn->nactive++;
	return easy;
}

/*
 * Take back a lent handle.  A handle whose transfer was cut short is not
 * kept: its state is of no use to the next request.
 */
void
cd_conn_return_easy(CdConn *conn, CURL *easy, bool reusable)
{
	conn->nactive--;
	if (reusable && conn->nidle < (int) lengthof(conn->idle) &&
		!conn->invalidated)
	{
		curl_easy_reset(easy);
		conn->idle[conn->nidle++] = easy;
	}
	else
		curl_easy_cleanup(easy);
}

/*
 * Server or user mapping changed: mark the affected entries so that they
 * are rebuilt (closing their connections) when next used.
 */
static void
conn_invalidate_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	CdConn	   *conn;

	hash_seq_init(&scan, ConnectionHash);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		if (conn->multi == NULL)
			continue;
		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID && conn->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID && conn->mapping_hashvalue == hashvalue))
			conn->invalidated = true;
	}
}
