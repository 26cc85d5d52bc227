/*-------------------------------------------------------------------------
 *
 * content.c
 *		  Downloading documents' bytes for the content column.
 *
 * The URL comes from the API object (download_uri, data_url).  The API
 * key goes along only when its scheme, host and port are base_url's; the
 * transport enforces that.  Each body is capped at max_download_bytes.  A
 * redirect is followed, but never from https down to plain http; the URL
 * appears in messages with its query (signatures, tokens) redacted.
 *
 * Rows that need their file wait in a window: the scan puts each row that
 * meets its other conditions in, and its download starts at once, up to
 * max_concurrency rows ahead of the one returned; rows come out in the
 * order they went in, each with its bytes.  Memory in flight is bounded by
 * the window: max_concurrency files of at most max_download_bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/memutils.h"

/* A row waiting for its file. */
typedef struct CdWindowRow
{
	MemoryContext cxt;			/* the row's values; a child of the window's */
	Datum	   *values;
	bool	   *isnull;
	CdRequest  *req;			/* the transfer's, or NULL (no URL) */
	char	   *what;			/* primary message if the download fails */
} CdWindowRow;

struct CdDownloads
{
	CdTransfer *xfer;
	TupleDesc	desc;
	int			content_attidx;
	MemoryContext cxt;			/* the rows' contexts are its children */
	List	   *rows;			/* CdWindowRow, oldest first */
	CdWindowRow *shown;			/* the row in the caller's slot */
};

/* A window for the rows of one scan, in cxt. */
CdDownloads *
cd_downloads_create(CdTransfer *xfer, TupleDesc desc, int content_attidx,
					MemoryContext cxt)
{
	CdDownloads *dl = MemoryContextAllocZero(cxt, sizeof(CdDownloads));

	dl->xfer = xfer;
	dl->desc = desc;
	dl->content_attidx = content_attidx;
	dl->cxt = cxt;
	return dl;
}

/* As many rows as requests may be in flight: take no more. */
bool
cd_downloads_full(CdDownloads *dl)
{
	return list_length(dl->rows) >= Max(dl->xfer->concurrency, 1);
}

static void
row_free(CdDownloads *dl, CdWindowRow *row)
{
	if (row->req)
		cd_transfer_release(dl->xfer, row->req);
	MemoryContextDelete(row->cxt);
}

/*
 * A download of url, started, for its caller to wait for and to release
 * (cd_transfer_release); what is the primary message of the error if it
 * fails (it names the object).  A value that is not an http(s) URL is an
 * error naming the API's field, before any request.
 */
CdRequest *
cd_download_request(CdTransfer *xfer, const char *url, const char *what)
{
	const char *problem = cd_url_check_download(url);
	CdRequest  *req;

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s: field \"%s\" is not a URL that can be downloaded",
						what, xfer->srv->api->content_url_field),
				 errdetail("%s The value is \"%s\".", problem, cd_url_redact(url))));
	req = cd_request_new(xfer, "GET", url, true);

	req->max_bytes = (size_t) xfer->srv->max_download_bytes;
	req->follow_redirects = true;
	req->awaited = true;
	cd_transfer_add(xfer, req);
	return req;
}

/*
 * Take the row in slot (its content column aside) and start downloading
 * url for it (nothing if url is NULL: the column is NULL), unless req, a
 * download of url from cd_download_request, is given: the window takes it.
 */
void
cd_downloads_add(CdDownloads *dl, TupleTableSlot *slot, const char *url,
				 const char *what, CdRequest *req)
{
	MemoryContext cxt = AllocSetContextCreate(dl->cxt, "candidate_docs download row",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CdWindowRow *row = palloc0(sizeof(CdWindowRow));
	int			natts = dl->desc->natts;

	row->cxt = cxt;
	row->values = palloc(sizeof(Datum) * natts);
	row->isnull = palloc(sizeof(bool) * natts);
	slot_getallattrs(slot);
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(dl->desc, i);

		row->isnull[i] = slot->tts_isnull[i] || i == dl->content_attidx;
		row->values[i] = row->isnull[i] ? (Datum) 0 :
			datumCopy(slot->tts_values[i], att->attbyval, att->attlen);
	}
	row->what = pstrdup(what);
	MemoryContextSwitchTo(dl->cxt);
	if (req)
		row->req = req;
	else if (url)
		row->req = cd_download_request(dl->xfer, url, what);
	dl->rows = lappend(dl->rows, row);
	MemoryContextSwitchTo(old);
	cd_transfer_poll(dl->xfer);
}

/* The file's bytes as a bytea in the row's memory. */
static Datum
row_content(CdDownloads *dl, CdWindowRow *row)
{
	CdRequest  *req = row->req;
	bytea	   *result;

	cd_request_wait(dl->xfer, req);
	if (!cd_request_ok(req))
		cd_request_error(dl->xfer, req, row->what);
	result = MemoryContextAlloc(row->cxt, VARHDRSZ + req->resp_len);
	SET_VARSIZE(result, VARHDRSZ + req->resp_len);
	if (req->resp_len > 0)
		memcpy(VARDATA(result), req->resp, req->resp_len);
	cd_transfer_release(dl->xfer, req);
	row->req = NULL;
	return PointerGetDatum(result);
}

/*
 * The oldest row's values, with its file, into the cleared slot (waiting
 * for the download, answering interrupts), for the caller to store; false
 * if the window is empty.  The row's values stay valid until the next call.
 */
bool
cd_downloads_next(CdDownloads *dl, TupleTableSlot *slot)
{
	CdWindowRow *row;
	int			natts = dl->desc->natts;

	ExecClearTuple(slot);
	if (dl->shown)
		row_free(dl, dl->shown);
	dl->shown = NULL;
	if (dl->rows == NIL)
		return false;
	row = linitial(dl->rows);
	dl->rows = list_delete_first(dl->rows);
	dl->shown = row;
	if (row->req)
	{
		row->values[dl->content_attidx] = row_content(dl, row);
		row->isnull[dl->content_attidx] = false;
	}
	memcpy(slot->tts_values, row->values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, row->isnull, sizeof(bool) * natts);
	return true;
}

/* Drop every row and stop their downloads (rescan). */
void
cd_downloads_reset(CdDownloads *dl)
{
	ListCell   *lc;

	if (dl->shown)
		row_free(dl, dl->shown);
	dl->shown = NULL;
	foreach(lc, dl->rows)
		row_free(dl, lfirst(lc));
	list_free(dl->rows);
	dl->rows = NIL;
}
