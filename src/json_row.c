/*-------------------------------------------------------------------------
 *
 * json_row.c
 *		  Turn API objects (scanned by jsonscan.c) into tuples of a foreign table.
 *
 * A column reads the object's field of its name or of its column_name
 * option, converted by the column type's input function.  Strings go in
 * as they are, numbers and booleans as their JSON text, objects and
 * arrays as JSON; json and jsonb columns get every value as JSON.  A
 * missing field or JSON null is SQL NULL.  The special columns are the
 * candidate id the request was made for, the value of an echoed filter
 * (Kombo's integration_id), the whole object (attrs) and the file's bytes
 * (content).
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* What an error while converting a value should name. */
typedef struct ConvertContext
{
	CdRowMap   *map;
	int			attidx;
	const CdJsonDoc *doc;
	int			obj;
} ConvertContext;

static CdColKind
column_kind(const CdApi *api, const char *field)
{
	if (strcmp(field, "candidate_id") == 0)
		return CD_COL_CANDIDATE;
	if (strcmp(field, "attrs") == 0)
		return CD_COL_ATTRS;
	if (strcmp(field, "content") == 0)
		return CD_COL_CONTENT;
	for (int i = 0; i < api->nfilters; i++)
		if (api->filters[i].echoed && strcmp(field, api->filters[i].field) == 0)
			return CD_COL_ECHO;
	return CD_COL_FIELD;
}

/*
 * Describe how to fill each column of rel.  needed holds the attnums the
 * query reads, unless all is set.  Allocated in the current memory context.
 */
CdRowMap *
cd_rowmap_create(Relation rel, const CdApi *api, Bitmapset *needed, bool all)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	CdRowMap   *map = palloc0(sizeof(CdRowMap));

	map->tupdesc = tupdesc;
	map->relid = RelationGetRelid(rel);
	map->natts = tupdesc->natts;
	map->api = api;
	map->cols = palloc0(sizeof(CdColumn) * Max(map->natts, 1));

	for (int i = 0; i < map->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		CdColumn   *col = &map->cols[i];
		Oid			infunc;

		if (att->attisdropped ||
			(!all && !bms_is_member(att->attnum, needed)))
		{
			col->kind = CD_COL_SKIP;
			continue;
		}
		col->field = cd_column_field(map->relid, att->attnum);
		col->kind = column_kind(api, col->field);
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->is_json = (col->typid == JSONOID || col->typid == JSONBOID);
		if (col->kind == CD_COL_CONTENT && col->typid != BYTEAOID)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" must be of type bytea",
							NameStr(att->attname), RelationGetRelationName(rel))));
		getTypeInputInfo(col->typid, &infunc, &col->typioparam);
		fmgr_info(infunc, &col->infunc);
	}
	return map;
}

bool
cd_rowmap_uses(const CdRowMap *map, CdColKind kind)
{
	for (int i = 0; i < map->natts; i++)
		if (map->cols[i].kind == kind)
			return true;
	return false;
}

/*
 * UTF-8 text from a response in the database encoding.  The scanner has
 * already checked it as UTF-8, so a UTF-8 database takes it as it is; in
 * another database a character it lacks is an error (a data exception).
 */
static char *
to_server(char *s, size_t len)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return s;
	return pg_any_to_server(s, len, PG_UTF8);
}

/*
 * UTF-8 text from a response, for a message: as it is in a UTF-8
 * database; elsewhere with every non-ASCII character written \uXXXX, as
 * in JSON, so that a character the database encoding lacks cannot make
 * the message itself fail.  URLs in it are redacted (a signed download
 * URL carries its token in the query).
 */
static char *
message_text(const char *s)
{
	StringInfoData buf;

	if (GetDatabaseEncoding() == PG_UTF8)
		return cd_url_redact_text(s);
	initStringInfo(&buf);
	while (*s)
	{
		const unsigned char *c = (const unsigned char *) s;
		pg_wchar	cp;

		if (*c < 0x80)
		{
			appendStringInfoChar(&buf, *s++);
			continue;
		}
		cp = utf8_to_unicode(c);
		s += pg_utf_mblen(c);
		if (cp > 0xFFFF)
			appendStringInfo(&buf, "\\u%04x\\u%04x",
							 0xD800 + ((cp - 0x10000) >> 10),
							 0xDC00 + ((cp - 0x10000) & 0x3FF));
		else
			appendStringInfo(&buf, "\\u%04x", cp);
	}
	return cd_url_redact_text(buf.data);
}

/*
 * String token t decoded into a palloc'd UTF-8 string; NULL if t is
 * missing or not a string, or if it holds \u0000, which no text value can
 * hold (*has_nul says which).
 */
static char *
string_utf8(const CdJsonDoc *doc, int t, bool *has_nul)
{
	char	   *dst;

	*has_nul = false;
	if (t < 0 || doc->toks[t].type != CD_JSON_STRING)
		return NULL;
	dst = palloc(doc->toks[t].end - doc->toks[t].start + 1);
	if (cd_json_unescape(doc, t, dst) < 0)
	{
		*has_nul = true;
		pfree(dst);
		return NULL;
	}
	return dst;
}

/* String token t as written between its quotes, escapes included. */
static char *
string_as_written(const CdJsonDoc *doc, int t)
{
	return pnstrdup(doc->text + doc->toks[t].start,
					doc->toks[t].end - doc->toks[t].start);
}

/*
 * The object's "id" for messages: as written if it cannot be text, or a
 * placeholder if there is none.
 */
const char *
cd_json_object_id(const CdJsonDoc *doc, int obj)
{
	int			t = cd_json_get(doc, obj, "id");
	bool		has_nul;
	const char *id = string_utf8(doc, t, &has_nul);

	if (has_nul)
		return message_text(string_as_written(doc, t));
	return id ? message_text(id) : "(no id)";
}

/*
 * The error for string token t, field of object obj, which holds \u0000.
 * column is the column that reads it, and the message shows the value; a
 * field no column reads (a download URL) is not shown, as it may carry a
 * token.
 */
static void
nul_error(const CdApi *api, const CdJsonDoc *doc, int obj, int t,
		  const char *column, const char *field)
{
	const char *id = cd_json_object_id(doc, obj);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 column ?
			 errmsg("invalid value for column \"%s\" in %s \"%s\": \"%s\"",
					column, api->object_noun, id,
					message_text(string_as_written(doc, t))) :
			 errmsg("invalid value in field \"%s\" of %s \"%s\"",
					field, api->object_noun, id),
			 errdetail("The string in field \"%s\" holds \\u0000, which a PostgreSQL text value cannot hold.",
					   field)));
}

/*
 * The string in field of object obj, in the database encoding, or NULL if
 * it is missing or not a string.  A string that holds \u0000 is an error
 * naming the object and the field.
 */
char *
cd_json_field_text(const CdApi *api, const CdJsonDoc *doc, int obj,
				   const char *field)
{
	int			t = cd_json_get(doc, obj, field);
	bool		has_nul;
	char	   *text = string_utf8(doc, t, &has_nul);

	if (has_nul)
		nul_error(api, doc, obj, t, NULL, field);
	return text ? to_server(text, strlen(text)) : NULL;
}

/* The JSON text of token t as it stands in the document. */
static char *
raw_json(const CdJsonDoc *doc, int t)
{
	const CdJsonTok *tok = &doc->toks[t];

	if (tok->type == CD_JSON_STRING)
		return pnstrdup(doc->text + tok->start - 1, tok->end - tok->start + 2);
	return pnstrdup(doc->text + tok->start, tok->end - tok->start);
}

/*
 * The UTF-8 text a column's input function gets for token t (once in the
 * database encoding), or NULL for SQL NULL: a string's characters, or the
 * JSON text of anything else and of every value for a json or jsonb
 * column.  A string holding \u0000 cannot be text: an error naming the
 * column, the object, the field and the value.
 */
static char *
value_utf8(ConvertContext *cc, CdColumn *col, int t)
{
	const CdJsonDoc *doc = cc->doc;

	if (t < 0 || doc->toks[t].type == CD_JSON_NULL)
		return NULL;
	if (doc->toks[t].type == CD_JSON_STRING && !col->is_json)
	{
		bool		has_nul;
		char	   *text = string_utf8(doc, t, &has_nul);

		if (has_nul)
			nul_error(cc->map->api, doc, cc->obj, t,
					  NameStr(TupleDescAttr(cc->map->tupdesc, cc->attidx)->attname),
					  col->field);
		return text;
	}
	return raw_json(doc, t);
}

typedef struct ToServerCall
{
	char	   *in;
	char	   *out;
} ToServerCall;

static void
to_server_call(void *arg)
{
	ToServerCall *call = arg;

	call->out = to_server(call->in, strlen(call->in));
}

/*
 * to_server() for input_value: false, with the reason in *message, when
 * the database encoding lacks a character (a data exception) instead of an
 * error.  pg_any_to_server() has no soft errors, hence the catch; in a
 * UTF-8 database there is nothing to convert.
 */
static bool
to_server_safe(char *s, char **out, char **message)
{
	ToServerCall call = {s, NULL};

	if (GetDatabaseEncoding() == PG_UTF8)
	{
		*out = s;
		return true;
	}
	if (!cd_catch_data_error(to_server_call, &call, message))
		return false;
	*out = call.out;
	return true;
}

/*
 * Convert text with the column's input function, after converting it from
 * UTF-8 to the database encoding if it comes from the API (from_api).  A
 * value either step refuses (a data exception) becomes an FDW error that
 * names the column, the object and the value; anything else (cancel, out
 * of memory) passes through as it is.
 */
static Datum
input_value(ConvertContext *cc, CdColumn *col, char *text, bool from_api)
{
	Datum		result;
	char	   *server_text = text;
	char	   *message;
	Form_pg_attribute att;

	if ((!from_api || to_server_safe(text, &server_text, &message)) &&
		cd_input_value(&col->infunc, server_text, col->typioparam, col->typmod,
					   &result, &message))
		return result;
	att = TupleDescAttr(cc->map->tupdesc, cc->attidx);
	/* the type's message may quote the value, URLs and all */
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("invalid value for column \"%s\" in %s \"%s\": \"%s\"",
					NameStr(att->attname), cc->map->api->object_noun,
					cd_json_object_id(cc->doc, cc->obj),
					from_api ? message_text(text) : text),
			 errdetail_internal("%s", from_api ? cd_url_redact_text(message) : message)));
	return (Datum) 0;			/* keep the compiler quiet */
}

/*
 * Fill values/nulls for one API object.  Allocates in the current memory
 * context (the executor's per-tuple context).
 */
void
cd_row_from_json(CdRowMap *map, const CdJsonDoc *doc, int obj,
				 const CdRowSource *src, Datum *values, bool *nulls)
{
	ConvertContext cc = {map, 0, doc, obj};

	for (int i = 0; i < map->natts; i++)
	{
		CdColumn   *col = &map->cols[i];
		char	   *text = NULL;
		bool		from_api = true;

		cc.attidx = i;
		switch (col->kind)
		{
			case CD_COL_SKIP:
				break;
			case CD_COL_CANDIDATE:
				text = pstrdup(src->candidate_id);
				from_api = false;
				break;
			case CD_COL_ECHO:
				text = src->echo_value ? pstrdup(src->echo_value) : NULL;
				from_api = false;
				break;
			case CD_COL_ATTRS:
				text = raw_json(doc, obj);
				break;
			case CD_COL_CONTENT:
				nulls[i] = (src->content == NULL);
				values[i] = PointerGetDatum(src->content);
				continue;
			case CD_COL_FIELD:
				text = value_utf8(&cc, col, cd_json_get(doc, obj, col->field));
				break;
		}
		nulls[i] = (text == NULL);
		values[i] = text ? input_value(&cc, col, text, from_api) : (Datum) 0;
	}
}
