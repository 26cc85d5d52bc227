--
-- pagination: Checkr page/per_page following next_href, Kombo cursors,
-- pages fetched as rows are consumed (LIMIT), next links to another
-- origin refused, page loops detected.
--
\i sql/include/setup.sql
\set SHOW_CONTEXT never
ALTER SERVER regress_checkr OPTIONS (ADD max_retries '0');
ALTER SERVER regress_kombo OPTIONS (ADD max_retries '0');


--
-- Checkr: 250 documents, 100 per page: 3 requests following next_href
--
SELECT count(*), count(DISTINCT id), min(filename COLLATE "C"), max(filename COLLATE "C")
  FROM candidate_documents WHERE candidate_id = 'many-250';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- page_size sets per_page
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER SERVER regress_checkr OPTIONS (ADD page_size '40');
SELECT count(*), count(DISTINCT id) FROM candidate_documents WHERE candidate_id = 'many-250';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
ALTER SERVER regress_checkr OPTIONS (DROP page_size);
-- rows come in the API's order, every page in full
SELECT id, filename FROM candidate_documents WHERE candidate_id = 'many-250'
 OFFSET 98 LIMIT 4;
-- types[] goes along to every page
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER SERVER regress_checkr OPTIONS (ADD page_size '20');
SELECT type, count(*) FROM candidate_documents
 WHERE candidate_id = 'many-250' AND type IN ('consent', 'passport') GROUP BY 1 ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
ALTER SERVER regress_checkr OPTIONS (DROP page_size);

--
-- pages are fetched as rows are consumed: LIMIT 5 over 5000 documents sends
-- one request
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, type, filename FROM candidate_documents
 WHERE candidate_id = 'many-5000' LIMIT 5;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- EXISTS needs one row
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT EXISTS (SELECT 1 FROM candidate_documents WHERE candidate_id = 'many-5000');
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a LIMIT inside the first page of a smaller page size
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER SERVER regress_checkr OPTIONS (ADD page_size '10');
SELECT count(*) FROM (SELECT id FROM candidate_documents
                       WHERE candidate_id = 'many-5000' LIMIT 3) s;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
ALTER SERVER regress_checkr OPTIONS (DROP page_size);

--
-- Kombo: data.next passed back as cursor
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT count(*), count(DISTINCT id), count(DISTINCT remote_id)
  FROM candidate_attachments WHERE candidate_id = 'many-250';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT remote_id FROM candidate_attachments WHERE candidate_id = 'many-250' LIMIT 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a cursor is a value in the query string: it is percent-encoded
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/attachments", "times": 1, "action": "next_href", "value": "a b&cursor=x#/../"}'
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_attachments WHERE candidate_id = 'many-250' $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- a next_href to another host is refused: the key never leaves the API's
-- host (a query string is redacted in messages)
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/", "times": 2, "action": "next_href", "value": "http://evil.example.com/checkr/v1/candidates/many-250/documents?page=2&per_page=100"}'
\set VERBOSITY terse
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';  -- ERROR
\set VERBOSITY default
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250' $$);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/candidates/many-250/\", \"times\": 1, \"action\": \"next_href\", \"value\": \"http://localhost:$MOCK_PORT/checkr/v1/candidates/many-250/documents?page=2&per_page=100\"}"
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250' $$);
-- user info in the link does not make it the same origin
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/candidates/many-250/\", \"times\": 1, \"action\": \"next_href\", \"value\": \"http://127.0.0.1:$MOCK_PORT@evil.example.com/checkr/v1/candidates/many-250/documents?page=2\"}"
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250' $$);
-- only the first pages were requested, nothing went elsewhere
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- on base_url's host with another scheme or port (Checkr's documented hrefs
-- say http:// for https requests): followed on base_url's scheme and port
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/candidates/many-250/documents?per_page\", \"times\": 1, \"action\": \"next_href\", \"value\": \"https://127.0.0.1:$MOCK_PORT/checkr/v1/candidates/many-250/documents?page=2&per_page=100\"}"
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/documents?per_page", "times": 1, "action": "next_href", "value": "http://127.0.0.1:1/checkr/v1/candidates/many-250/documents?page=2&per_page=100"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a relative link to the same origin is followed
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/documents?per_page", "times": 1, "action": "next_href", "value": "/checkr/v1/candidates/many-250/documents?page=2&per_page=100"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- a page seen twice is an error, not an endless loop
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- page 2 links to itself
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/candidates/many-250/documents?page=2\", \"action\": \"next_href\", \"value\": \"$MOCK_URL/checkr/v1/candidates/many-250/documents?page=2&per_page=100\"}"
\set VERBOSITY terse
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250';  -- ERROR
\set VERBOSITY default
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250' $$);
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
-- page 1 links back to the first page
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/documents?per_page", "action": "next_href", "value": "/checkr/v1/candidates/many-250/documents?per_page=100"}'
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_documents WHERE candidate_id = 'many-250' $$);
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
-- Kombo: the same cursor again
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/many-250/attachments", "action": "next_href", "value": "b2Zmc2V0OjEwMA=="}'
SELECT state, message, detail FROM regress_error($$
  SELECT count(*) FROM candidate_attachments WHERE candidate_id = 'many-250' $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

\i sql/include/teardown.sql
