/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  INSERT into candidate_documents uploads a document.
 *
 * Each row is one multipart POST (fields "type" and "file") with its own
 * Idempotency-Key, kept across retries, so a retried upload is created
 * once.  The columns' types are checked when the table is opened;
 * everything else before a request is sent: the required columns (none
 * empty, content included), the document type, and the content type
 * (given, or detected from the bytes).
 * RETURNING gives the fields of the document the API created.  UPDATE,
 * DELETE, ON CONFLICT, and INSERT into a table whose API takes no uploads,
 * are refused at plan time.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"
#include "compat.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* The columns an upload reads, by API field. */
enum UploadField
{
	UP_CANDIDATE,
	UP_TYPE,
	UP_FILENAME,
	UP_CONTENT,
	UP_CONTENT_TYPE,
	UP_NFIELDS
};

static const char *const upload_fields[UP_NFIELDS] = {
	"candidate_id", "type", "filename", "content", "content_type"
};

typedef struct CdModifyState
{
	CdServer   *srv;
	const CdApi *api;
	char	   *relname;
	CdRowMap   *map;			/* to fill RETURNING from the response */
	bool		returning;
	AttrNumber	attno[UP_NFIELDS];	/* 0: the table has no such column */
	FmgrInfo	outfunc[UP_NFIELDS];	/* text of the string columns */
	bool		blank_padded[UP_NFIELDS];	/* char(n): trailing blanks go */
	MemoryContext cxt;
	MemoryContext row_cxt;		/* reset for every row */
	CdTransfer *xfer;			/* NULL when writes are queued */
	Oid			relid;
	Oid			userid;			/* whose identity the rows are sent with */
	bool		after_commit;	/* queue the rows (outbox.c) */
} CdModifyState;

/*
 * IsForeignRelUpdatable: INSERT where the API takes uploads, nothing else.
 */
int
cdIsForeignRelUpdatable(Relation rel)
{
	const CdApi *api = cd_table_api(RelationGetRelid(rel));

	return api->upload_path ? (1 << CMD_INSERT) : 0;
}

/*
 * ON CONFLICT needs a way to tell that a document exists, which the API
 * has not: refuse it rather than ignore it.
 */
static void
refuse_on_conflict(ModifyTable *plan, Oid relid)
{
	if (plan && plan->onConflictAction != ONCONFLICT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT with ON CONFLICT is not supported on foreign table \"%s\"",
						get_rel_name(relid)),
				 errdetail("The API cannot tell whether a document conflicts with one it has.")));
}

/* A document type the API takes for an upload, or an error. */
static void
check_document_type(const CdApi *api, const char *type)
{
	if (!cd_value_listed(api->upload_types, type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("document type \"%s\" is not accepted by the %s API",
						type, api->name),
				 errhint("Valid types are: %s.", cd_list_text(api->upload_types))));
}

/* A content type the API takes for an upload, or an error. */
static void
check_content_type(const CdApi *api, const char *content_type)
{
	if (!cd_content_type_allowed(content_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("content type \"%s\" is not accepted by the %s API",
						content_type, api->name),
				 errhint("Allowed types are: %s.", cd_allowed_content_types())));
}

/*
 * The text of a non-null constant of a string type (char(n) without its
 * padding), or NULL for anything else: an expression, a NULL, another
 * type (which the column check refuses when the statement starts).
 */
static char *
const_text(Node *expr)
{
	Const	   *c;
	Oid			base;
	char		category;
	bool		preferred;
	Oid			typoutput;
	bool		isvarlena;
	char	   *s;
	size_t		len;

	expr = strip_implicit_coercions(expr);
	if (!IsA(expr, Const) || ((Const *) expr)->constisnull)
		return NULL;
	c = (Const *) expr;
	base = getBaseType(c->consttype);
	get_type_category_preferred(base, &category, &preferred);
	if (category != TYPCATEGORY_STRING)
		return NULL;
	getTypeOutputInfo(c->consttype, &typoutput, &isvarlena);
	s = OidOutputFunctionCall(typoutput, c->constvalue);
	len = strlen(s);
	while (base == BPCHAROID && len > 0 && s[len - 1] == ' ')
		s[--len] = '\0';
	return s;
}

/*
 * The expressions an INSERT gives for one target column: one per row of a
 * VALUES list, or the single one.
 */
static List *
insert_values(Query *parse, TargetEntry *tle)
{
	Node	   *expr = strip_implicit_coercions((Node *) tle->expr);
	List	   *values = NIL;
	RangeTblEntry *rte;
	ListCell   *lc;

	if (!IsA(expr, Var) || ((Var *) expr)->varlevelsup != 0)
		return list_make1(expr);
	rte = rt_fetch(((Var *) expr)->varno, parse->rtable);
	if (rte->rtekind != RTE_VALUES)
		return NIL;
	foreach(lc, rte->values_lists)
		values = lappend(values, list_nth(lfirst(lc), ((Var *) expr)->varattno - 1));
	return values;
}

/*
 * The document and content types an INSERT gives as constants are checked
 * before anything runs, so that a typo in the third row of a VALUES list
 * does not leave the first two uploaded.  Other rows are checked each
 * before its upload.
 */
static void
check_constant_rows(PlannerInfo *root, Index resultRelation, Oid relid,
					const CdApi *api)
{
	Query	   *parse = root->parse;
	ListCell   *lc;

	if (parse->commandType != CMD_INSERT || parse->resultRelation != resultRelation)
		return;
	foreach(lc, parse->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		char	   *field;
		ListCell   *vc;

		if (tle->resjunk)
			continue;
		field = cd_column_field(relid, tle->resno);
		if (strcmp(field, upload_fields[UP_TYPE]) != 0 &&
			strcmp(field, upload_fields[UP_CONTENT_TYPE]) != 0)
			continue;
		foreach(vc, insert_values(parse, tle))
		{
			char	   *value = const_text(lfirst(vc));

			if (value == NULL)
				continue;
			if (strcmp(field, upload_fields[UP_TYPE]) == 0)
				check_document_type(api, value);
			else
				check_content_type(api, value);
		}
	}
}

/*
 * PlanForeignModify: refuse what the API cannot do before anything runs.
 * fdw_private is a one-element list: whether RETURNING is used.
 */
List *
cdPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	const CdApi *api = cd_table_api(rte->relid);

	refuse_on_conflict(plan, rte->relid);
	if (plan->operation != CMD_INSERT || api->upload_path == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s foreign table \"%s\"",
						plan->operation == CMD_INSERT ? "insert into" :
						plan->operation == CMD_UPDATE ? "update" : "delete from",
						get_rel_name(rte->relid)),
				 errdetail("The %s API only %s.", api->name,
						   api->upload_path ? "lists and uploads documents" :
						   "lists attachments")));
	check_constant_rows(root, resultRelation, rte->relid, api);
	return list_make1(makeInteger(plan->returningLists != NIL));
}

/*
 * Check the type of the column that gives upload field f: content takes
 * bytea, the others a string type (text, varchar, char(n), name, citext
 * ...), or a domain over one; strings are read through the type's output
 * function.  Anything else would be read as what it is not.
 */
static void
check_upload_column(CdModifyState *st, Form_pg_attribute att, int f)
{
	Oid			base = getBaseType(att->atttypid);
	char		category;
	bool		preferred;
	Oid			typoutput;
	bool		isvarlena;

	get_type_category_preferred(base, &category, &preferred);
	if (f == UP_CONTENT ? base != BYTEAOID : category != TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("column \"%s\" of foreign table \"%s\" cannot be uploaded as %s: its type is %s",
						NameStr(att->attname), st->relname, upload_fields[f],
						format_type_be(att->atttypid)),
				 errdetail(f == UP_CONTENT ?
						   "The column that gives %s must be of type bytea, or a domain over it." :
						   "The column that gives %s must be of a string type such as text, varchar or char(n), or a domain over one.",
						   upload_fields[f])));
	if (f == UP_CONTENT)
		return;
	getTypeOutputInfo(base, &typoutput, &isvarlena);
	fmgr_info_cxt(typoutput, &st->outfunc[f], st->cxt);
	st->blank_padded[f] = (base == BPCHAROID);
}

static void
modify_init(CdModifyState *st, EState *estate, ResultRelInfo *rinfo,
			bool returning)
{
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	tupdesc = RelationGetDescr(rel);

	st->cxt = AllocSetContextCreate(estate->es_query_cxt, "candidate_docs insert",
									ALLOCSET_DEFAULT_SIZES);
	st->row_cxt = AllocSetContextCreate(st->cxt, "candidate_docs insert row",
										ALLOCSET_DEFAULT_SIZES);
	st->relname = pstrdup(RelationGetRelationName(rel));
	st->relid = RelationGetRelid(rel);
	st->userid = cd_result_rel_user(rinfo, estate);
	st->srv = cd_server_for_table(st->relid, st->userid);
	st->after_commit = cd_delivery_after_commit(st->srv->serverid, st->relid);
	st->api = cd_table_api(RelationGetRelid(rel));
	st->returning = returning;
	if (returning)
		st->map = cd_rowmap_create(rel, st->api, NULL, true);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	   *field;

		if (att->attisdropped)
			continue;
		field = cd_column_field(RelationGetRelid(rel), att->attnum);
		for (int f = 0; f < UP_NFIELDS; f++)
			if (strcmp(field, upload_fields[f]) == 0 && st->attno[f] == 0)
			{
				check_upload_column(st, att, f);
				st->attno[f] = att->attnum;
			}
	}
	if (!st->after_commit)
		st->xfer = cd_transfer_create(st->srv, st->cxt);
}

/*
 * BeginForeignModify: options, column positions and a transfer whose
 * connections are reused row after row.
 */
void
cdBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					 List *fdw_private, int subplan_index, int eflags)
{
	CdModifyState *st = palloc0(sizeof(CdModifyState));

	rinfo->ri_FdwState = st;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	modify_init(st, mtstate->ps.state, rinfo, intVal(linitial(fdw_private)));
}

/*
 * BeginForeignInsert: COPY, and rows routed to a foreign partition, whose
 * RETURNING comes from the partitioned table's.
 */
void
cdBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	CdModifyState *st = palloc0(sizeof(CdModifyState));
	Relation	rel = rinfo->ri_RelationDesc;

	if (!(cdIsForeignRelUpdatable(rel) & (1 << CMD_INSERT)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot insert into foreign table \"%s\"",
						RelationGetRelationName(rel))));
	refuse_on_conflict(castNode(ModifyTable, mtstate->ps.plan), RelationGetRelid(rel));
	rinfo->ri_FdwState = st;
	modify_init(st, mtstate->ps.state, rinfo, rinfo->ri_returningList != NIL);
}

pg_noreturn static void missing_column(CdModifyState *st, int f);

static void
missing_column(CdModifyState *st, int f)
{
	ereport(ERROR,
			(errcode(ERRCODE_NOT_NULL_VIOLATION),
			 errmsg("column \"%s\" is required to upload a document to \"%s\"",
						upload_fields[f], st->relname),
				 errhint("INSERT INTO %s (candidate_id, type, filename, content [, content_type]) VALUES (...).",
						 st->relname)));
}

/* A column of the row, or NULL; required ones must be there. */
static Datum
row_value(CdModifyState *st, TupleTableSlot *slot, int f, bool required,
		  bool *isnull)
{
	Datum		d = 0;

	*isnull = true;
	if (st->attno[f])
		d = slot_getattr(slot, st->attno[f], isnull);
	if (*isnull && required)
		missing_column(st, f);
	return d;
}

/* A string column's text (char(n) without its padding), or NULL. */
static char *
row_text(CdModifyState *st, TupleTableSlot *slot, int f, bool required)
{
	bool		isnull;
	Datum		d = row_value(st, slot, f, required, &isnull);
	char	   *s;
	size_t		len;

	if (isnull)
		return NULL;
	s = OutputFunctionCall(&st->outfunc[f], d);
	len = strlen(s);
	while (st->blank_padded[f] && len > 0 && s[len - 1] == ' ')
		s[--len] = '\0';
	return s;
}

pg_noreturn static void empty_column(CdModifyState *st, int f);

static void
empty_column(CdModifyState *st, int f)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" must not be empty to upload a document to \"%s\"",
					upload_fields[f], st->relname)));
}

/* A required string that must not be empty either. */
static char *
row_nonempty_text(CdModifyState *st, TupleTableSlot *slot, int f)
{
	char	   *s = row_text(st, slot, f, true);

	if (s[0] == '\0')
		empty_column(st, f);
	return s;
}

/*
 * The multipart body of an upload (arg is a CdUploadParts), for libcurl;
 * also used by deliver.c for queued uploads.
 */
curl_mime *
cd_upload_mime(CURL *easy, void *arg)
{
	CdUploadParts *parts = arg;
	curl_mime  *mime = curl_mime_init(easy);
	curl_mimepart *part;

	if (mime == NULL)
		return NULL;
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "type");
	curl_mime_data(part, parts->type, CURL_ZERO_TERMINATED);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	curl_mime_filename(part, parts->filename);
	curl_mime_type(part, parts->content_type);
	curl_mime_data(part, parts->data, parts->len);
	return mime;
}

/* Read and check the row into parts; nothing is sent yet. */
static char *
upload_parts(CdModifyState *st, TupleTableSlot *slot, CdUploadParts *parts,
			 bytea **content)
{
	char	   *candidate_id = row_nonempty_text(st, slot, UP_CANDIDATE);
	bool		isnull;
	Datum		d;

	parts->type = row_text(st, slot, UP_TYPE, true);
	check_document_type(st->api, parts->type);
	parts->filename = row_nonempty_text(st, slot, UP_FILENAME);
	d = row_value(st, slot, UP_CONTENT, true, &isnull);
	*content = DatumGetByteaPP(d);
	parts->data = VARDATA_ANY(*content);
	parts->len = VARSIZE_ANY_EXHDR(*content);
	if (parts->len == 0)
		empty_column(st, UP_CONTENT);

	parts->content_type = row_text(st, slot, UP_CONTENT_TYPE, false);
	if (parts->content_type == NULL &&
		(parts->content_type = cd_sniff_content_type(parts->data, parts->len)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not detect the content type of \"%s\"", parts->filename),
				 errhint("Give content_type; allowed types are: %s.",
						 cd_allowed_content_types())));
	check_content_type(st->api, parts->content_type);
	return candidate_id;
}

/*
 * RETURNING: the created document, with the row's id and bytes.  content
 * may point into the slot's current tuple, so the new tuple is formed
 * (copying it) before the slot lets go of the old one; the slot owns the
 * new tuple.  Values are made in the current (per-row) context.
 */
static void
fill_returning(CdModifyState *st, TupleTableSlot *slot, const CdJsonDoc *doc,
			   const char *candidate_id, bytea *content)
{
	CdRowSource src = {candidate_id, NULL, content};
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	Datum	   *values = palloc0(sizeof(Datum) * Max(tupdesc->natts, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(tupdesc->natts, 1));
	MemoryContext old;
	HeapTuple	tuple;

	Assert(tupdesc->natts == st->map->natts);
	if (doc->toks[0].type != CD_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("unexpected response to the upload for candidate \"%s\"",
						candidate_id),
				 errdetail("The response is not a JSON object.")));
	cd_row_from_json(st->map, doc, 0, &src, values, nulls);
	old = MemoryContextSwitchTo(slot->tts_mcxt);
	tuple = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextSwitchTo(old);
	ExecForceStoreHeapTuple(tuple, slot, true);
}

/*
 * Under delivery "after_commit": queue the checked row in the outbox.
 * RETURNING gives what is known before sending (the fields given, the
 * size) and, in attrs, the delivery's id, status and Idempotency-Key.
 */
/* RETURNING of a queued row, from the JSON object text. */
static void
fill_returning_text(CdModifyState *st, TupleTableSlot *slot, const char *text,
					const char *candidate_id, bytea *content)
{
	CdJsonDoc	doc;
	char		msg[256];

	if (!cd_json_scan(text, strlen(text), &doc, msg, sizeof(msg)))
		elog(ERROR, "invalid queued row: %s", msg);
	PG_TRY();
	{
		fill_returning(st, slot, &doc, candidate_id, content);
	}
	PG_FINALLY();
	{
		cd_json_free(&doc);
	}
	PG_END_TRY();
}

/* Append "name": "value" to a JSON object being written. */
static void
append_member(StringInfo buf, const char *name, const char *value)
{
	appendStringInfoString(buf, buf->len > 1 ? ", " : "");
	escape_json(buf, name);
	appendStringInfoString(buf, ": ");
	escape_json(buf, value);
}

static void
queue_upload(CdModifyState *st, TupleTableSlot *slot, const char *candidate_id,
			 const CdUploadParts *parts, bytea *content)
{
	CdQueuedWrite w = {0};
	StringInfoData buf;
	int64		id;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_member(&buf, "type", parts->type);
	append_member(&buf, "filename", parts->filename);
	append_member(&buf, "content_type", parts->content_type);
	w.request = psprintf("%s}", buf.data);
	w.kind = "document";
	w.userid = st->userid;
	w.serverid = st->srv->serverid;
	w.server_name = st->srv->server_name;
	w.relid = st->relid;
	w.target = candidate_id;
	w.key = cd_new_idempotency_key();
	w.content = parts->data;
	w.content_len = parts->len;
	id = cd_outbox_queue(&w);
	if (!st->returning)
		return;
	appendStringInfo(&buf, ", \"filesize\": %zu, \"delivery_id\": " INT64_FORMAT,
					 parts->len, id);
	append_member(&buf, "delivery_status", "pending");
	append_member(&buf, "idempotency_key", w.key);
	appendStringInfoChar(&buf, '}');
	fill_returning_text(st, slot, buf.data, candidate_id, content);
}

/*
 * ExecForeignInsert: one upload per row (or one queued row).
 */
TupleTableSlot *
cdExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	CdModifyState *st = rinfo->ri_FdwState;
	MemoryContext old;
	CdUploadParts parts;
	bytea	   *content;
	char	   *candidate_id;
	CdRequest  *req;
	const char *what;

	MemoryContextReset(st->row_cxt);
	old = MemoryContextSwitchTo(st->row_cxt);
	candidate_id = upload_parts(st, slot, &parts, &content);
	if (st->after_commit)
	{
		queue_upload(st, slot, candidate_id, &parts, content);
		MemoryContextSwitchTo(old);
		return slot;
	}
	what = psprintf("could not upload document \"%s\" for candidate \"%s\"",
					parts.filename, candidate_id);
	req = cd_request_new(st->xfer, "POST", cd_url_expand(st->srv->base_url,
											   st->api->upload_path,
											   candidate_id), true);
	req->build_mime = cd_upload_mime;
	req->mime_arg = &parts;
	req->idempotency_key = cd_new_idempotency_key();
	cd_http_perform(st->xfer, req);
	if (!cd_request_ok(req))
		cd_request_error(st->xfer, req, what);

	if (st->returning)
	{
		CdJsonDoc	doc;
		char		msg[256];

		if (!cd_json_scan(req->resp, req->resp_len, &doc, msg, sizeof(msg)))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("%s: the response is not valid JSON", what),
					 errdetail_internal("%s.", msg)));
		PG_TRY();
		{
			fill_returning(st, slot, &doc, candidate_id, content);
		}
		PG_FINALLY();
		{
			cd_json_free(&doc);
		}
		PG_END_TRY();
	}
	MemoryContextSwitchTo(old);
	cd_transfer_release(st->xfer, req);
	return slot;
}

void
cdEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	CdModifyState *st = rinfo->ri_FdwState;

	if (st && st->cxt)
		MemoryContextDelete(st->cxt);
	rinfo->ri_FdwState = NULL;
}

/*
 * ExplainForeignModify: the endpoint; with ANALYZE, what was sent.
 */
void
cdExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					   List *fdw_private, int subplan_index, ExplainState *es)
{
	CdModifyState *st = rinfo->ri_FdwState;
	const CdApi *api = cd_table_api(RelationGetRelid(rinfo->ri_RelationDesc));

	Oid			relid = RelationGetRelid(rinfo->ri_RelationDesc);

	ExplainPropertyText("Endpoint", psprintf("POST %s", api->upload_path), es);
	if (st && st->cxt ? st->after_commit :
		cd_delivery_after_commit(GetForeignTable(relid)->serverid, relid))
		ExplainPropertyText("Delivery", "after commit (rows are queued in candidate_docs.outbox)", es);
	if (es->analyze && st && st->xfer)
	{
		ExplainPropertyInteger("Requests", NULL, st->xfer->stats.requests, es);
		ExplainPropertyInteger("Retries", NULL, st->xfer->stats.retries, es);
		ExplainPropertyInteger("Bytes Received", NULL, st->xfer->stats.bytes, es);
	}
}
