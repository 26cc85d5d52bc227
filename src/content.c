/*-------------------------------------------------------------------------
 *
 * content.c
 *		  Downloading a document's bytes for the content column.
 *
 * The URL comes from the API object (download_uri, data_url).  The API
 * key goes along only when its scheme, host and port are base_url's; the
 * transport enforces that.  The body is capped at max_download_bytes.  A
 * redirect is followed, but never from https down to plain http; the URL
 * appears in messages with its query (signatures, tokens) redacted.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

/*
 * GET url and return its body as a palloc'd bytea; what is the primary
 * message of the error if it fails (it names the object).  A value that
 * is not an http(s) URL is an error naming the API's field, before any
 * request.
 */
bytea *
cd_download(CdTransfer *xfer, const char *url, const char *what)
{
	const char *problem = cd_url_check_download(url);
	CdRequest  *req;
	bytea	   *result;

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s: field \"%s\" is not a URL that can be downloaded",
						what, xfer->srv->api->content_url_field),
				 errdetail("%s The value is \"%s\".", problem, cd_url_redact(url))));
	req = cd_request_new(xfer, "GET", url, true);

	req->max_bytes = (size_t) xfer->srv->max_download_bytes;
	req->follow_redirects = true;
	cd_http_perform(xfer, req);
	if (!cd_request_ok(req))
		cd_request_error(xfer, req, what);
	result = palloc(VARHDRSZ + req->resp_len);
	SET_VARSIZE(result, VARHDRSZ + req->resp_len);
	if (req->resp_len > 0)
		memcpy(VARDATA(result), req->resp, req->resp_len);
	cd_transfer_release(xfer, req);
	return result;
}
