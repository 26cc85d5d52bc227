--
-- conversion: a value that does not convert is an error (SQLSTATE HV004)
-- naming the column, the object's id and the value; a JSON string holding
-- \u0000, which no text value can hold, also names the field.  Values the
-- query does not read are not converted.
--
\i sql/include/setup.sql

-- a listing whose documents hold \u0000 in the filename, the download URL
-- and, for the second, the id
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/nul-1/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"z1\", \"type\": \"consent\", \"filename\": \"con\\u0000sent.pdf\", \"filesize\": 12, \"download_uri\": \"https://files.example/z1\\u0000?x=1\"}, {\"id\": \"z2\\u0000\", \"type\": \"passport\", \"filename\": \"p.pdf\", \"filesize\": \"big\"}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 2}"}'

-- columns without \u0000 read fine
SELECT type FROM candidate_documents WHERE candidate_id = 'nul-1' ORDER BY 1;
-- a text column
SELECT * FROM regress_error($$
  SELECT filename FROM candidate_documents WHERE candidate_id = 'nul-1' $$);
-- a column reading another field
CREATE FOREIGN TABLE regress_renamed (
  candidate_id text, name text OPTIONS (column_name 'filename')
) SERVER regress_checkr;
SELECT * FROM regress_error($$
  SELECT name FROM regress_renamed WHERE candidate_id = 'nul-1' $$);
-- in a condition only
SELECT * FROM regress_error($$
  SELECT type FROM candidate_documents
   WHERE candidate_id = 'nul-1' AND filename LIKE 'x%' $$);
-- the id itself: named as written
SELECT * FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'nul-1' AND type = 'passport' $$);
-- another value of that object does not convert: the id as written
SELECT * FROM regress_error($$
  SELECT filesize FROM candidate_documents WHERE candidate_id = 'nul-1' AND type = 'passport' $$);
-- jsonb takes no \u0000 either; json and a json-typed column keep it
SELECT * FROM regress_error($$
  SELECT attrs FROM candidate_documents WHERE candidate_id = 'nul-1' $$);
CREATE FOREIGN TABLE regress_json (
  candidate_id text, filename json, attrs json
) SERVER regress_checkr;
SELECT filename::text, position('\u0000' IN attrs::text) > 0 AS attrs_as_sent FROM regress_json WHERE candidate_id = 'nul-1' ORDER BY 1;
-- the download URL: the object and the field
SELECT * FROM regress_error($$
  SELECT length(content) FROM candidate_documents
   WHERE candidate_id = 'nul-1' AND type = 'consent' $$);
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"

DROP FOREIGN TABLE regress_renamed, regress_json;
\i sql/include/teardown.sql

--
-- a database whose encoding lacks a character of a value (LATIN1 has é but
-- not 日): the same error, with the value and the id written with \u
-- escapes
--
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
\c regress_latin1
SET client_encoding = 'UTF8';
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION candidate_docs;
CREATE SERVER regress_checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
CREATE FOREIGN TABLE candidate_documents (
  id text, candidate_id text, filename text, filesize bigint, attrs jsonb
) SERVER regress_checkr;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '[{"path_contains": "/candidates/latin-1/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"e1\", \"filename\": \"caf\\u00e9 \u00e9t\u00e9.pdf\", \"filesize\": 1}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 1}"}, {"path_contains": "/candidates/latin-2/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"e2\", \"filename\": \"\\u65e5.pdf\"}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 1}"}, {"path_contains": "/candidates/latin-4/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"e3\", \"filename\": \"\u00e9t\u00e9 \u65e5.pdf\"}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 1}"}, {"path_contains": "/candidates/latin-3/", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"e4\u65e5\", \"filesize\": \"\\u65e5\"}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 1}"}]'
-- é converts, escaped or not
SELECT id, filename, attrs->>'filename' AS field FROM candidate_documents
 WHERE candidate_id = 'latin-1';
-- 日 does not, escaped or not
SELECT filename FROM candidate_documents WHERE candidate_id = 'latin-2';  -- ERROR
SELECT filename FROM candidate_documents WHERE candidate_id = 'latin-4';  -- ERROR
-- (jsonb's own message: 15's hard error here; 16 and later report it as a
-- soft error, "unsupported Unicode escape sequence": conversion_1.out)
SELECT attrs FROM candidate_documents WHERE candidate_id = 'latin-2';  -- ERROR
-- in an id
SELECT filesize FROM candidate_documents WHERE candidate_id = 'latin-3';  -- ERROR
SELECT id FROM candidate_documents WHERE candidate_id = 'latin-3';  -- ERROR
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
DROP EXTENSION candidate_docs CASCADE;
\c :regress_db
DROP DATABASE regress_latin1;
