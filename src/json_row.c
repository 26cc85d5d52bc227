/*-------------------------------------------------------------------------
 *
 * json_row.c
 *		  Turn API objects (jansson) into tuples of a foreign table.
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
	const char *object_id;
	const char *value;
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
 * query reads; NULL means all.  Allocated in the current memory context.
 */
CdRowMap *
cd_rowmap_create(Relation rel, const CdApi *api, Bitmapset *needed)
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
			(needed && !bms_is_member(att->attnum, needed)))
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
 * The object's "id" for messages, or a placeholder.
 */
const char *
cd_json_object_id(json_t *obj)
{
	const char *id = json_string_value(json_object_get(obj, "id"));

	return id ? id : "(no id)";
}

/* JSON text of a value, palloc'd; jansson's buffer is freed at once. */
static char *
json_text(json_t *value)
{
	char	   *dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	char	   *result;

	if (dumped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(dumped);
	free(dumped);
	return result;
}

/*
 * The text a column's input function gets for value, or NULL for SQL
 * NULL.  Strings are UTF-8 (jansson checks); convert to the database
 * encoding.
 */
static char *
value_text(json_t *value, bool as_json)
{
	const char *s;

	if (value == NULL || json_is_null(value))
		return NULL;
	if (as_json || json_is_object(value) || json_is_array(value))
		s = json_text(value);
	else if (json_is_string(value))
		s = json_string_value(value);
	else if (json_is_true(value))
		return pstrdup("true");
	else if (json_is_false(value))
		return pstrdup("false");
	else
		s = json_text(value);	/* a number, as written */
	return pg_any_to_server(s, strlen(s), PG_UTF8);
}

static void
convert_error_callback(void *arg)
{
	ConvertContext *cc = arg;
	Form_pg_attribute att = TupleDescAttr(cc->map->tupdesc, cc->attidx);

	if (cc->value)
		errcontext("column \"%s\" of %s \"%s\", value \"%s\"",
				   NameStr(att->attname), cc->map->api->object_noun,
				   cc->object_id, cc->value);
}

static Datum
input_value(CdColumn *col, char *text)
{
	return InputFunctionCall(&col->infunc, text, col->typioparam, col->typmod);
}

/*
 * Fill values/nulls for one API object.  Allocates in the current memory
 * context (the executor's per-tuple context).
 */
void
cd_row_from_json(CdRowMap *map, json_t *obj, const CdRowSource *src,
				 Datum *values, bool *nulls)
{
	ConvertContext cc = {map, 0, cd_json_object_id(obj), NULL};
	ErrorContextCallback errcb = {error_context_stack, convert_error_callback, &cc};

	error_context_stack = &errcb;
	for (int i = 0; i < map->natts; i++)
	{
		CdColumn   *col = &map->cols[i];
		char	   *text = NULL;

		cc.attidx = i;
		switch (col->kind)
		{
			case CD_COL_SKIP:
				break;
			case CD_COL_CANDIDATE:
				text = pstrdup(src->candidate_id);
				break;
			case CD_COL_ECHO:
				text = src->echo_value ? pstrdup(src->echo_value) : NULL;
				break;
			case CD_COL_ATTRS:
				text = value_text(obj, true);
				break;
			case CD_COL_CONTENT:
				nulls[i] = (src->content == NULL);
				values[i] = PointerGetDatum(src->content);
				continue;
			case CD_COL_FIELD:
				text = value_text(json_object_get(obj, col->field), col->is_json);
				break;
		}
		cc.value = text;
		nulls[i] = (text == NULL);
		values[i] = text ? input_value(col, text) : (Datum) 0;
	}
	error_context_stack = errcb.previous;
}
