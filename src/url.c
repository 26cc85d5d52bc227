/*-------------------------------------------------------------------------
 *
 * url.c
 *		  URLs, origins and header values for candidate_docs.
 *
 * Parsing goes through libcurl's URL API, the same parser that later
 * decides where a request is sent, so what we check is what curl uses.
 * libcurl's objects are never allocated with palloc; every CURLU handle
 * and every string libcurl hands out is freed on every path, errors
 * included.  Results are palloc'd in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* What a redacted URL shows instead of its query. */
#define CD_URL_REDACTED "REDACTED"

/* The pieces of a parsed URL that callers look at; all palloc'd. */
typedef struct UrlParts
{
	char	   *url;			/* the whole URL as libcurl renders it */
	char	   *redacted;		/* the same without user name, password,
								 * fragment, and with the query replaced */
	char	   *path;			/* the path, "/" at least */
	char	   *scheme;			/* lower-case */
	char	   *host;			/* lower-case, IPv6 in brackets, or NULL */
	char	   *port;			/* explicit or the scheme's default, or NULL */
	char	   *query;			/* or NULL */
	char	   *fragment;		/* or NULL */
	bool		userinfo;		/* had a user name, password or options */
} UrlParts;

static bool url_parse(const char *url, const char *ref, unsigned int flags,
					  UrlParts *parts);
static void url_fill(CURLU *h, UrlParts *parts);
static char *url_get(CURLU *h, CURLUPart what, unsigned int flags);
static char *lower_ascii(char *s);
static bool host_is_loopback(const char *host);
static char *redact_by_hand(const char *url);

/*
 * Parse url (and, if ref is not NULL, resolve ref against it) into parts.
 * Returns false when libcurl refuses the input; parts is then all NULL.
 */
static bool
url_parse(const char *url, const char *ref, unsigned int flags,
		  UrlParts *parts)
{
	CURLU	   *h;
	volatile bool ok = false;

	memset(parts, 0, sizeof(UrlParts));
	h = curl_url();
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not allocate a libcurl URL handle.")));

	PG_TRY();
	{
		if (curl_url_set(h, CURLUPART_URL, url, flags) == CURLUE_OK &&
			(ref == NULL ||
			 curl_url_set(h, CURLUPART_URL, ref, flags) == CURLUE_OK))
		{
			url_fill(h, parts);
			ok = true;
		}
	}
	PG_FINALLY();
	{
		curl_url_cleanup(h);
	}
	PG_END_TRY();

	return ok;
}

/*
 * Copy the parts of a parsed URL out of h.  Clears the user name, password
 * and login options in h to render the redacted form.
 */
static void
url_fill(CURLU *h, UrlParts *parts)
{
	char	   *user = url_get(h, CURLUPART_USER, 0);
	char	   *password = url_get(h, CURLUPART_PASSWORD, 0);
	char	   *options = url_get(h, CURLUPART_OPTIONS, 0);

	parts->url = url_get(h, CURLUPART_URL, 0);
	parts->scheme = lower_ascii(url_get(h, CURLUPART_SCHEME, 0));
	parts->host = lower_ascii(url_get(h, CURLUPART_HOST, 0));
	parts->port = url_get(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	parts->path = url_get(h, CURLUPART_PATH, 0);
	parts->query = url_get(h, CURLUPART_QUERY, 0);
	parts->fragment = url_get(h, CURLUPART_FRAGMENT, 0);
	parts->userinfo = (user != NULL || password != NULL || options != NULL);

	/* An IPv6 literal always goes in brackets. */
	if (parts->host && parts->host[0] != '[' && strchr(parts->host, ':'))
		parts->host = psprintf("[%s]", parts->host);

	curl_url_set(h, CURLUPART_USER, NULL, 0);
	curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(h, CURLUPART_OPTIONS, NULL, 0);
	curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0);
	if (parts->query)
		curl_url_set(h, CURLUPART_QUERY, CD_URL_REDACTED, 0);
	parts->redacted = url_get(h, CURLUPART_URL, 0);
}

/*
 * One part of h as a palloc'd string, or NULL if the URL has no such part.
 * libcurl's copy is freed before any error can be raised.
 */
static char *
url_get(CURLU *h, CURLUPart what, unsigned int flags)
{
	char	   *s = NULL;
	char	   *copy;
	size_t		len;

	if (curl_url_get(h, what, &s, flags) != CURLUE_OK || s == NULL)
		return NULL;

	len = strlen(s);
	copy = palloc_extended(len + 1, MCXT_ALLOC_NO_OOM);
	if (copy)
		memcpy(copy, s, len + 1);
	curl_free(s);

	if (copy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return copy;
}

/* Lower-case ASCII letters in place; NULL stays NULL. */
static char *
lower_ascii(char *s)
{
	if (s)
		for (char *p = s; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p += 'a' - 'A';
	return s;
}

/*
 * Is host (lower-case, as libcurl renders it) localhost, in 127.0.0.0/8,
 * or ::1?
 */
static bool
host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	size_t		len = strlen(host);

	if (strcmp(host, "localhost") == 0 || strcmp(host, "localhost.") == 0)
		return true;

	if (len > 2 && host[0] == '[' && host[len - 1] == ']')
	{
		char	   *bare = pnstrdup(host + 1, len - 2);

		return inet_pton(AF_INET6, bare, &a6) == 1 &&
			IN6_IS_ADDR_LOOPBACK(&a6);
	}

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;

	return false;
}

/*
 * The origin of url: "scheme://host:port", lower-case, with the port always
 * explicit and IPv6 hosts in brackets.  Raises an error if url is not a URL
 * with a host.  Result is palloc'd.
 */
char *
cd_url_origin(const char *url)
{
	UrlParts	parts;

	if (!url_parse(url, NULL, 0, &parts) ||
		parts.scheme == NULL || parts.host == NULL || parts.port == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not parse URL \"%s\"", cd_url_redact(url))));

	return psprintf("%s://%s:%s", parts.scheme, parts.host, parts.port);
}

/*
 * Does url have the scheme, host and port of base_url, whose origin is
 * origin?  URLs built from base_url (every API call) are recognised from
 * their text; anything else is parsed and compared by origin.
 */
bool
cd_url_same_origin(const char *origin, const char *base_url, const char *url)
{
	size_t		n = strlen(base_url);

	if (strncmp(url, base_url, n) == 0 &&
		(url[n] == '/' || url[n] == '?' || url[n] == '\0'))
		return true;
	return strcmp(cd_url_origin(url), origin) == 0;
}

/*
 * Why url cannot serve as the option base_url, as a sentence for errdetail;
 * NULL when it can.  The value is used as typed (with paths appended), so
 * the raw text is checked as well as libcurl's reading of it.
 */
const char *
cd_url_check_base(const char *url)
{
	UrlParts	parts;

	for (const char *p = url; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			return "The URL must not contain spaces or control characters.";
	if (strchr(url, '?'))
		return "The URL must not contain a query.";
	if (strchr(url, '#'))
		return "The URL must not contain a fragment.";

	if (!url_parse(url, NULL, 0, &parts) || parts.scheme == NULL)
		return "The URL could not be parsed.";
	if (parts.host == NULL || parts.host[0] == '\0')
		return "The URL has no host.";
	if (parts.userinfo)
		return "The URL must not contain a user name or password.";
	if (parts.query != NULL)
		return "The URL must not contain a query.";
	if (parts.fragment != NULL)
		return "The URL must not contain a fragment.";

	if (strcmp(parts.scheme, "https") == 0)
		return NULL;
	if (strcmp(parts.scheme, "http") == 0)
	{
		if (host_is_loopback(parts.host))
			return NULL;
		return "Plain http is allowed only to a loopback host.";
	}
	return "The URL scheme must be https.";
}

/*
 * Percent-encode every byte of s except the unreserved characters
 * (ALPHA, DIGIT, "-", ".", "_", "~"), so that no value can change the path
 * or the query it is placed in.  Result is palloc'd.
 */
char *
cd_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	StringInfoData buf;

	initStringInfo(&buf);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		unsigned char c = *p;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~')
			appendStringInfoChar(&buf, (char) c);
		else
		{
			appendStringInfoChar(&buf, '%');
			appendStringInfoChar(&buf, hex[c >> 4]);
			appendStringInfoChar(&buf, hex[c & 0x0f]);
		}
	}
	return buf.data;
}

/*
 * base_url (no trailing slash) followed by path_template, with every
 * "{candidate_id}" replaced by the percent-encoded candidate_id.  Result
 * is palloc'd.
 */
char *
cd_url_expand(const char *base_url, const char *path_template, const char *id)
{
	StringInfoData buf;
	const char *p = path_template;
	const char *open;
	const char *close;

	initStringInfo(&buf);
	appendStringInfoString(&buf, base_url);
	while ((open = strchr(p, '{')) != NULL && (close = strchr(open, '}')) != NULL)
	{
		appendBinaryStringInfo(&buf, p, open - p);
		/* "." and ".." would be dot segments: encode them too */
		if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
			appendStringInfoString(&buf, id[1] ? "%2E%2E" : "%2E");
		else
			appendStringInfoString(&buf, cd_url_escape(id));
		p = close + 1;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * ref (absolute, or relative to base) as an absolute URL; NULL when either
 * cannot be parsed.  Result is palloc'd.
 */
char *
cd_url_resolve(const char *base, const char *ref)
{
	UrlParts	parts;

	if (!url_parse(base, ref, 0, &parts))
		return NULL;
	return parts.url;
}

/*
 * url fit for a message or the server log: any user name and password and
 * the fragment removed, the query (signed download URLs carry their tokens
 * there) replaced by "REDACTED"; scheme, host and path kept.  Never fails
 * on bad input.  Result is palloc'd.
 */
char *
cd_url_redact(const char *url)
{
	UrlParts	parts;

	if (url_parse(url, NULL, CURLU_NON_SUPPORT_SCHEME, &parts) &&
		parts.redacted != NULL)
		return parts.redacted;
	return redact_by_hand(url);
}

/*
 * Fallback for text libcurl cannot parse: drop everything up to the last
 * "@" of what would be the authority, and whatever follows a "?" or "#".
 */
static char *
redact_by_hand(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *auth = sep ? sep + 3 : url;
	const char *end = auth + strcspn(auth, "/?#");
	const char *at = NULL;
	StringInfoData buf;

	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, url, auth - url);
	auth = at ? at + 1 : auth;
	appendBinaryStringInfo(&buf, auth, strcspn(auth, "?#"));
	if (auth[strcspn(auth, "?#")] == '?')
		appendStringInfoString(&buf, "?" CD_URL_REDACTED);
	return buf.data;
}

/* Does an http or https URL start at s ("://" maybe JSON-escaped)? */
static bool
url_starts(const char *s)
{
	if (pg_strncasecmp(s, "http", 4) != 0)
		return false;
	s += 4;
	if (*s == 's' || *s == 'S')
		s++;
	return strncmp(s, "://", 3) == 0 || strncmp(s, ":\\/\\/", 5) == 0;
}

/* Does c end a URL written in text, JSON or HTML? */
static bool
url_char_ends(char c)
{
	return (unsigned char) c <= ' ' || c == 0x7f || c == '"' || c == '\'' ||
		c == '<' || c == '>' || c == '`';
}

/*
 * Where the URL at url ends, skipping characters escaped with a backslash
 * (JSON's "\/"), and stopping early at any of stops.
 */
static const char *
url_scan(const char *url, const char *stops)
{
	const char *p = url;

	while (*p && !url_char_ends(*p) && strchr(stops, *p) == NULL)
		p += (p[0] == '\\' && p[1] != '\0') ? 2 : 1;
	return p;
}

/*
 * text (an API object, a value, a message quoting one) with every http(s)
 * URL in it redacted as cd_url_redact does: user name and password and
 * fragment removed, query replaced by "REDACTED", since a signed download
 * URL carries its token there.  Result is palloc'd.
 */
char *
cd_url_redact_text(const char *text)
{
	StringInfoData buf;
	const char *p = text;

	initStringInfo(&buf);
	while (*p)
	{
		const char *url = p;
		const char *host;
		const char *end;

		while (*url && !url_starts(url))
			url++;
		appendBinaryStringInfo(&buf, p, url - p);
		if (*url == '\0')
			break;
		/* after "scheme:", "//" or JSON's "\/\/" */
		host = strchr(url, ':') + 1;
		host += (host[0] == '/') ? 2 : 4;
		appendBinaryStringInfo(&buf, url, host - url);
		/* a user name and password end at the authority's last "@" */
		for (const char *a = host;
			 *a && !url_char_ends(*a) && strchr("/?#\\", *a) == NULL; a++)
			if (*a == '@')
				host = a + 1;
		end = url_scan(host, "?#");
		appendBinaryStringInfo(&buf, host, end - host);
		if (*end == '?')
			appendStringInfoString(&buf, "?" CD_URL_REDACTED);
		p = url_scan(end, "");
	}
	return buf.data;
}

/*
 * url as an error message shows it: whole when it is one of the API's own
 * (it starts with base_url, which has neither credentials nor a query, and
 * its query holds only the wrapper's parameters and the API's page links),
 * else through cd_url_redact.  Never fails.  Result is palloc'd or url.
 */
const char *
cd_url_printable(const char *base_url, const char *url)
{
	size_t		n = strlen(base_url);

	if (strncmp(url, base_url, n) == 0 &&
		(url[n] == '/' || url[n] == '?' || url[n] == '\0') &&
		strchr(url, '#') == NULL)
		return url;
	return cd_url_redact(url);
}

/*
 * A next-page link on base_url's host, moved to base_url's own scheme and
 * port: base_url's "scheme://authority" followed by the link's path and
 * query.  NULL when url cannot be parsed, is not http(s), has a user name
 * or password, or names another host.  Result is palloc'd.
 */
char *
cd_url_rebase(const char *base_url, const char *url)
{
	UrlParts	parts;
	UrlParts	base;
	const char *authority = strstr(base_url, "://");
	int			prefix;

	if (authority == NULL ||
		!url_parse(url, NULL, 0, &parts) || parts.host == NULL ||
		parts.userinfo || parts.path == NULL ||
		(strcmp(parts.scheme, "http") != 0 && strcmp(parts.scheme, "https") != 0) ||
		!url_parse(base_url, NULL, 0, &base) || base.host == NULL ||
		strcmp(parts.host, base.host) != 0)
		return NULL;
	authority += 3;
	prefix = (authority - base_url) + strcspn(authority, "/");
	return psprintf("%.*s%s%s%s", prefix, base_url, parts.path,
					parts.query ? "?" : "", parts.query ? parts.query : "");
}

/*
 * Why url cannot be downloaded, as a sentence for errdetail; NULL when it
 * can: an absolute http or https URL with a host.
 */
const char *
cd_url_check_download(const char *url)
{
	UrlParts	parts;

	if (!url_parse(url, NULL, 0, &parts) || parts.scheme == NULL)
		return "The value is not an absolute URL.";
	if (strcmp(parts.scheme, "http") != 0 && strcmp(parts.scheme, "https") != 0)
		return "The URL scheme must be http or https.";
	if (parts.host == NULL || parts.host[0] == '\0')
		return "The URL has no host.";
	return NULL;
}

/*
 * The schemes a redirect of url may go to: never from https down to plain
 * http.  (Plain http URLs are the loopback test setups' and servers that
 * offer nothing else.)
 */
const char *
cd_url_redirect_schemes(const char *url)
{
	return pg_strncasecmp(url, "https:", 6) == 0 ? "https" : "http,https";
}

/*
 * Refuse a header value containing a line break or another control
 * character (tab allowed): it could add headers of its own; and one longer
 * than CD_MAX_HEADER_VALUE bytes, which servers refuse and which must never
 * be cut (two long idempotency keys would become one).  The value is never
 * printed; it may be a secret.
 */
void
cd_check_header_value(const char *name, const char *value)
{
	size_t		len;

	if (value == NULL)
		return;
	len = strlen(value);
	if (len > CD_MAX_HEADER_VALUE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value of \"%s\" is too long", name),
				 errdetail("It has %zu bytes; the limit is %d.",
						   len, CD_MAX_HEADER_VALUE)));

	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		if (*p == '\r' || *p == '\n')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value of \"%s\" must not contain line breaks",
							name)));
		if ((*p < ' ' && *p != '\t') || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value of \"%s\" must not contain control characters",
							name)));
	}
}
