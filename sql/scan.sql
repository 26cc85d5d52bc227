--
-- scan: reading both tables, every column and column type, column subsets,
-- column_name, nested values, conversion errors, how candidate ids are given
-- (=, IN, = ANY, $1), NULL and duplicate ids, 404 candidates, content.
--
\i sql/include/setup.sql
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

--
-- Checkr: every column but content
--
SELECT id, candidate_id, type, filename, filesize, content_type, created_at
  FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
-- download_uri and attrs hold the mock's port: compare without it
SELECT id, replace(download_uri, :'mock_port', 'PORT') AS download_uri,
       attrs - 'download_uri' AS attrs,
       attrs->>'download_uri' = download_uri AS same_uri
  FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT pg_typeof(filesize) AS filesize, pg_typeof(created_at) AS created_at,
       pg_typeof(attrs) AS attrs
  FROM candidate_documents
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' LIMIT 1;
-- content is downloaded only when the query uses it
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, length(content) AS bytes, length(content) = filesize AS full,
       substring(content FOR 4) AS magic, md5(content)
  FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- Kombo: every column but content (integration from the server option)
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, candidate_id, application_id, integration_id, type, remote_id,
       file_name, content_type, remote_created_at, remote_updated_at
  FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY id;
SELECT id, replace(data_url, :'mock_port', 'PORT') AS data_url,
       attrs - 'data_url' AS attrs, attrs->>'data_url' = data_url AS same_url,
       length(content) AS bytes, substring(content FOR 4) AS magic, md5(content)
  FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- a subset of columns, in another order, plus columns reading other fields
-- (column_name), a field only some objects have, and one no object has
--
CREATE FOREIGN TABLE regress_subset (
  size integer OPTIONS (column_name 'filesize'),
  lang text OPTIONS (column_name 'locale'),
  candidate_id text,
  id varchar(24),
  kind text OPTIONS (column_name 'object'),
  created date OPTIONS (column_name 'created_at'),
  nothing text
) SERVER regress_checkr;
SELECT * FROM regress_subset
 WHERE candidate_id = 'e44aa283528e6fde7d542194' ORDER BY id;
SELECT id, lang FROM regress_subset
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND lang IS NOT NULL;
-- the whole row
SELECT r FROM regress_subset r
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' ORDER BY id;

--
-- nested values and other JSON types, from a listing the mock is told to
-- return; candidate_id is the id of the request whatever the object says
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/nested-1/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"n1\", \"candidate_id\": \"someone-else\", \"meta\": {\"pages\": 3, \"tags\": [\"a\", \"b\"]}, \"list\": [1, \"two\", null], \"flag\": true, \"off\": false, \"score\": 1.50, \"big\": 12345678901234, \"note\": null, \"text\": \"caf\\u00e9\", \"download_uri\": null}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 1}"}'
CREATE FOREIGN TABLE regress_nested (
  id text,
  candidate_id text,
  meta_jsonb jsonb OPTIONS (column_name 'meta'),
  meta_json json OPTIONS (column_name 'meta'),
  meta_text text OPTIONS (column_name 'meta'),
  list jsonb,
  list_text text OPTIONS (column_name 'list'),
  flag boolean,
  flag_text text OPTIONS (column_name 'flag'),
  off boolean,
  score numeric,
  score_jsonb jsonb OPTIONS (column_name 'score'),
  big bigint,
  note text,
  note_jsonb jsonb OPTIONS (column_name 'note'),
  text text,
  text_jsonb jsonb OPTIONS (column_name 'text'),
  missing jsonb,
  content bytea
) SERVER regress_checkr;
-- (json and text keep any valid JSON text: compared as jsonb)
\x on
SELECT id, candidate_id, meta_jsonb, meta_json::jsonb AS meta_json,
       meta_text::jsonb AS meta_text, list, list_text::jsonb AS list_text,
       flag, flag_text, off, score = 1.5 AS score_is_1_5,
       score_jsonb::float8 AS score_jsonb, big, note, note_jsonb, text, text_jsonb,
       missing, content
  FROM regress_nested WHERE candidate_id = 'nested-1';
\x off
SELECT pg_typeof(meta_json) AS meta_json, meta_json->'tags'->>1 AS tag,
       (meta_jsonb->>'pages')::int + 1 AS pages, pg_typeof(score) AS score
  FROM regress_nested WHERE candidate_id = 'nested-1';
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"

--
-- a value that does not convert: the error names the column, the object's
-- id and the value
--
CREATE FOREIGN TABLE regress_badtype (
  id text, candidate_id text, filename integer
) SERVER regress_checkr;
SELECT id FROM regress_badtype
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' ORDER BY id;
SELECT * FROM regress_badtype
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234';  -- ERROR
CREATE FOREIGN TABLE regress_badtime (
  id text, candidate_id text, type timestamptz
) SERVER regress_kombo;
SELECT * FROM regress_badtime
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
-- content must be bytea
CREATE FOREIGN TABLE regress_badcontent (candidate_id text, content text)
  SERVER regress_checkr;
SELECT content FROM regress_badcontent
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234';  -- ERROR

--
-- how candidate ids are given
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- no condition on candidate_id: an error naming table and column, and a hint
SELECT id FROM candidate_documents;  -- ERROR
SELECT id FROM candidate_documents WHERE candidate_id LIKE 'e44%';  -- ERROR
SELECT id FROM candidate_attachments WHERE type = 'CV';  -- ERROR
CREATE FOREIGN TABLE regress_nokey (id text, type text) SERVER regress_checkr;
SELECT id FROM regress_nokey WHERE id = 'd0000000000000000000aa01';  -- ERROR
DROP FOREIGN TABLE regress_nokey;
-- NULL ids: no rows, and nothing is sent
SELECT id FROM candidate_documents WHERE candidate_id = NULL;
SELECT id FROM candidate_documents WHERE candidate_id IN (NULL, NULL);
SELECT id FROM candidate_documents WHERE candidate_id = ANY (NULL::text[]);
SELECT id FROM candidate_documents WHERE candidate_id = ANY ('{}'::text[]);
SELECT id FROM candidate_attachments WHERE candidate_id = NULL;
PREPARE by_id(text) AS
  SELECT id, type FROM candidate_documents WHERE candidate_id = $1 ORDER BY id;
EXECUTE by_id(NULL);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- = $1, with a custom and a generic plan
EXECUTE by_id('5f1c2e3a4b5c6d7e8f901234');
SET plan_cache_mode = force_generic_plan;
EXECUTE by_id('5f1c2e3a4b5c6d7e8f901234');
EXECUTE by_id(NULL);
RESET plan_cache_mode;
DEALLOCATE by_id;
PREPARE by_ids(text[]) AS
  SELECT candidate_id, count(*) FROM candidate_documents
   WHERE candidate_id = ANY ($1) GROUP BY 1 ORDER BY 1;
EXECUTE by_ids('{e44aa283528e6fde7d542194,5f1c2e3a4b5c6d7e8f901234}');
DEALLOCATE by_ids;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- IN and = ANY; duplicate ids are fetched once
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_id, id FROM candidate_documents
 WHERE candidate_id IN ('5f1c2e3a4b5c6d7e8f901234', 'e44aa283528e6fde7d542194',
                        '5f1c2e3a4b5c6d7e8f901234', NULL)
 ORDER BY 1, 2;
SELECT candidate_id, count(*) FROM candidate_documents
 WHERE candidate_id = ANY (ARRAY['empty0000000000000000000', 'e44aa283528e6fde7d542194',
                                 'e44aa283528e6fde7d542194'])
 GROUP BY 1 ORDER BY 1;
SELECT candidate_id, count(*) FROM candidate_attachments
 WHERE candidate_id IN ('BTbkvY2w5ou3z3hdwuKcKzDh', 'BTbkvY2w5ou3z3hdwuKcKzDh')
 GROUP BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- contradicting conditions: one is sent, both are honoured
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND candidate_id = '5f1c2e3a4b5c6d7e8f901234';

--
-- candidates the API does not know (404): no rows, one WARNING per scan
-- naming them (one request at a time, so that the order is fixed)
--
ALTER SERVER regress_checkr OPTIONS (ADD max_concurrency '1');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_id, count(*) FROM candidate_documents
 WHERE candidate_id IN ('missing-b', 'e44aa283528e6fde7d542194', 'missing-a')
 GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'missing-c';
SELECT count(*) FROM candidate_attachments WHERE candidate_id = 'missing-d';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
ALTER SERVER regress_checkr OPTIONS (DROP max_concurrency);

--
-- ids are percent-encoded in the path: no id can change the path
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_id, count(*) > 0 AS found FROM candidate_documents
 WHERE candidate_id IN ('a/b?c#d e%', 'ünï', 'x&types[]=consent')
 GROUP BY 1 ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- dot segments: whatever happens to them (rows or an error), every request
-- must still be for /candidates/{id}/documents
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
DO $$
BEGIN
  PERFORM count(*) FROM candidate_documents WHERE candidate_id IN ('.', '..');
EXCEPTION WHEN OTHERS THEN
  NULL;
END $$;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, re, sys; rs = json.load(sys.stdin); print(sum(1 for r in rs if not re.fullmatch(r"/checkr/v1/candidates/[^/]+/documents", r["path"])), "requests elsewhere")'

--
-- content: capped at max_download_bytes; NULL without a download URL;
-- no credentials to another host
--
ALTER SERVER regress_checkr OPTIONS (ADD max_download_bytes '2048');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- only the rows the query returns are downloaded: the big file is not
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize <= 2048 ORDER BY id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\set SHOW_CONTEXT never
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize > 2048;  -- ERROR
\set SHOW_CONTEXT errors
DO $$
DECLARE
  ctx text;
BEGIN
  PERFORM length(content) FROM candidate_documents
   WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize > 2048;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
  RAISE NOTICE 'SQLSTATE class %, context: %', left(SQLSTATE, 2),
    regexp_replace(split_part(ctx, E'\n', 1), '127\.0\.0\.1:[0-9]+', '127.0.0.1:PORT');
END $$;
ALTER SERVER regress_checkr OPTIONS (DROP max_download_bytes);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- downloads run concurrently: requests listed by API, listing first, then files
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/config" -d '{"files_host": "localhost"}'
SELECT id, length(content), md5(content) FROM candidate_documents
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' ORDER BY id;
SELECT id, length(content), md5(content) FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; [print(r["path"], r["headers"]["host"].split(":")[0], "authorization" in r["headers"]) for r in sorted(json.load(sys.stdin), key=lambda r: (r["path"].replace("/files/", "/").split("/")[1], "/files/" in r["path"], r["path"], r["seq"]))]'
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- a download redirected to another host: followed, without credentials
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/files/checkr/d0000000000000000000bb01\", \"times\": 1, \"action\": \"respond\", \"status\": 302, \"headers\": {\"Location\": \"http://localhost:$MOCK_PORT/files/checkr/d0000000000000000000bb01\"}, \"body\": \"\"}"
SELECT id, length(content), md5(content) FROM candidate_documents
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' ORDER BY id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; [print(r["path"], r["status"], r["headers"]["host"].split(":")[0], "authorization" in r["headers"]) for r in sorted(json.load(sys.stdin), key=lambda r: (r["path"].replace("/files/", "/").split("/")[1], "/files/" in r["path"], r["path"], r["seq"]))]'
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

DROP FOREIGN TABLE regress_subset, regress_nested, regress_badtype,
  regress_badtime, regress_badcontent;
\i sql/include/teardown.sql
