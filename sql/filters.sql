--
-- filters: Checkr type =, IN, = ANY sent as types[]; Kombo integration_id
-- choosing X-Integration-Id; the option defaults; conditions the API does
-- not take are still honoured locally.
--
\i sql/include/setup.sql
\setenv REQUESTS 'import json, sys; rs = json.load(sys.stdin); print(len(rs), "requests"); [print(" ", r["raw_path"], r["status"], r["headers"].get("x-integration-id", "")) for r in sorted(rs, key=lambda r: (r["raw_path"], r["headers"].get("x-integration-id", ""), r["seq"]))]'
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

--
-- Checkr type: =, IN, = ANY go out as types[]
--
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent';
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type IN ('ssn_card', 'consent')
 ORDER BY id;
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND type = ANY (ARRAY['driver_license', 'passport', 'driver_license'])
 ORDER BY id;
PREPARE by_type(text, text) AS
  SELECT id, type FROM candidate_documents
   WHERE candidate_id = $1 AND type = $2 ORDER BY id;
EXECUTE by_type('5f1c2e3a4b5c6d7e8f901234', 'passport');
DEALLOCATE by_type;
-- a type with characters that mean something in a query string: not one
-- of Checkr's types, so not sent at all (see below), and no row has it
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'a&per_page=1#x y';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- every id of the scan gets the filter
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_id, id FROM candidate_documents
 WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234')
   AND type = 'driver_license'
 ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- type = NULL (or only NULLs in the list) matches nothing: no rows, no request
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = NULL;
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type IN (NULL, NULL);
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = ANY ('{}'::text[]);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- NULLs in a list are dropped, the rest goes out
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type IN (NULL, 'ssn_card');
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- types[] takes only the types in Checkr's list; listings hold more (such
-- as pdf_report).  A condition with a value outside the list is not sent,
-- and filters locally; a list with one such value is not sent at all (a
-- part of it would lose the other rows).  many-5 has one document of each
-- of driver_license, consent, ssn_card, passport and pdf_report.
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT type, filename FROM candidate_documents
 WHERE candidate_id = 'many-5' AND type = 'pdf_report';
SELECT type, filename FROM candidate_documents
 WHERE candidate_id = 'many-5' AND type IN ('consent', 'pdf_report') ORDER BY 1;
SELECT type, filename FROM candidate_documents
 WHERE candidate_id = 'many-5' AND type = ANY (ARRAY['pdf_report', NULL]);
SELECT type, filename FROM candidate_documents
 WHERE candidate_id = 'many-5' AND type IN ('consent', 'passport') ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
EXPLAIN (COSTS OFF)
SELECT type FROM candidate_documents
 WHERE candidate_id = 'many-5' AND type IN ('consent', 'pdf_report');
-- values known only when the query runs are checked then
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SET plan_cache_mode = force_generic_plan;
PREPARE by_types(text, text) AS
  SELECT type, filename FROM candidate_documents
   WHERE candidate_id = 'many-5' AND type IN ($1, $2) ORDER BY 1;
EXECUTE by_types('pdf_report', 'ssn_card');
EXECUTE by_types('consent', 'ssn_card');
DEALLOCATE by_types;
-- arrays of a type binary-compatible with text: varchar, a domain
CREATE DOMAIN regress_type_name AS text;
PREPARE by_arrays(varchar[], regress_type_name[]) AS
  SELECT type, filename FROM candidate_documents
   WHERE candidate_id = ANY ($1) AND type = ANY ($2) ORDER BY 1;
EXECUTE by_arrays('{many-5}', '{passport,pdf_report}');
EXECUTE by_arrays('{many-5}', '{passport,ssn_card}');
DEALLOCATE by_arrays;
DROP DOMAIN regress_type_name;
RESET plan_cache_mode;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- conditions the API does not take are honoured locally
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, filename, filesize FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND filename LIKE '%.p%' AND filesize > 1500;
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type <> 'consent' ORDER BY id;
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type LIKE 'con%';
SELECT id, created_at FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND created_at >= '2016-01-01' AND content_type = 'image/png';
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194'
   AND (type = 'consent' OR filesize > 8000) ORDER BY id;
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND attrs ? 'locale';
-- none of these sent types[]
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a pushed filter is also checked locally: when the API ignores types[],
-- the rows of other types still do not come out
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "types%5B%5D=consent", "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": \"x1\", \"type\": \"consent\"}, {\"id\": \"x2\", \"type\": \"passport\"}, {\"id\": \"x3\", \"type\": \"CONSENT\"}], \"object\": \"list\", \"next_href\": null, \"previous_href\": null, \"count\": 3}"}'
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent';
SELECT id, type FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type IN ('consent', 'ssn_card');
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
-- the filter is sent for the API field, whatever the column is called
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE FOREIGN TABLE regress_renamed (
  cand text OPTIONS (column_name 'candidate_id'),
  kind text OPTIONS (column_name 'type'),
  type text OPTIONS (column_name 'filename')
) SERVER regress_checkr;
SELECT * FROM regress_renamed WHERE cand = 'e44aa283528e6fde7d542194' AND kind = 'ssn_card';
SELECT * FROM regress_renamed WHERE cand = 'e44aa283528e6fde7d542194' AND type = 'consent.pdf';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
DROP FOREIGN TABLE regress_renamed;

--
-- Kombo integration_id: = and IN choose X-Integration-Id
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, integration_id, file_name FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id = 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ';
SELECT id, integration_id, file_name FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id IN ('greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ',
                          'workday:HWUTwvyx2wLoSUHphiWVrp28',
                          'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ')
 ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- ids times integrations
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_id, integration_id, count(*) FROM candidate_attachments
 WHERE candidate_id IN ('BTbkvY2w5ou3z3hdwuKcKzDh', 'many-3')
   AND integration_id = ANY (ARRAY['greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ',
                                   'workday:HWUTwvyx2wLoSUHphiWVrp28'])
 GROUP BY 1, 2 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- integration_id = NULL: no rows, no request
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id = NULL;
-- a value with a line break is refused before anything is sent
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id = E'workday:x\r\nX-Injected: 1';  -- ERROR
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- an empty integration_id matches nothing: no request (a header is never
-- sent empty), alone or in a list
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id = '';
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id IN ('', 'workday:HWUTwvyx2wLoSUHphiWVrp28') ORDER BY 1;
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id = ANY (ARRAY['', NULL]);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- other conditions on integration_id are local, the option's value is sent
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id LIKE 'work%'
 ORDER BY 1;
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id LIKE 'green%';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- without a condition: the user mapping's integration_id, else the server's
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY 1;
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (ADD integration_id 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ');
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY 1;
-- a condition still wins over both
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id = 'workday:HWUTwvyx2wLoSUHphiWVrp28' ORDER BY 1;
-- the user mapping's value alone
ALTER SERVER regress_kombo OPTIONS (DROP integration_id);
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- neither: an error with a hint, nothing sent
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (DROP integration_id);
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id LIKE 'work%';  -- ERROR
-- a condition is enough
SELECT id, integration_id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id = 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- Checkr has no integration: the column is just a field (absent, so NULL)
CREATE FOREIGN TABLE regress_checkr_int (candidate_id text, id text, integration_id text)
  SERVER regress_checkr;
SELECT id, integration_id FROM regress_checkr_int
 WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' ORDER BY 1;
DROP FOREIGN TABLE regress_checkr_int;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

\i sql/include/teardown.sql
