--
-- errors: failed requests are ERRORs of SQLSTATE class HV whose message says
-- what failed, whose detail has the HTTP status and the API's own words and
-- whose context has method and URL; no message ever shows an API key.
--
\i sql/include/setup.sql
-- the context line holds the mock's port: it is shown by regress_error below
\set SHOW_CONTEXT never
ALTER SERVER regress_checkr OPTIONS (ADD max_retries '0');
ALTER SERVER regress_kombo OPTIONS (ADD max_retries '0');


--
-- 401: a wrong key (Checkr)
--
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (SET api_key 'regress_wrong_key');
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
\x on
SELECT state, message, detail, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
\x off
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (SET api_key 'test_checkr_key');

--
-- 401: a wrong key (Kombo): code, message and log_url in DETAIL
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (SET api_key 'regress_wrong_key');
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
\x on
SELECT state, message, detail, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_attachments WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' $$);
\x off
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (SET api_key 'test_kombo_key');
-- other 4xx are not retried, whatever max_retries says
ALTER SERVER regress_kombo OPTIONS (SET max_retries '3');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (SET api_key 'regress_wrong_key');
SELECT state, key_shown FROM regress_error($$
  SELECT id FROM candidate_attachments WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' $$);
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_kombo
  OPTIONS (SET api_key 'test_kombo_key');
ALTER SERVER regress_kombo OPTIONS (SET max_retries '0');
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- a Kombo error envelope: code, message and log_url in DETAIL
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/attachments", "action": "respond", "status": 400, "headers": {"Content-Type": "application/json"}, "body": "{\"status\": \"error\", \"error\": {\"code\": \"REMOTE.INPUT_INVALID\", \"title\": \"Invalid input\", \"message\": \"The remote system rejected the request.\", \"log_url\": \"https://app.kombo.dev/logs?interactionId=regress1\"}}"}'
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
-- an integration Kombo does not know is an error, not a missing candidate
SELECT left(state, 2) AS class,
       detail LIKE '%PLATFORM.INTEGRATION_NOT_FOUND%' AS code_in_detail, key_shown
  FROM regress_error($$
  SELECT id FROM candidate_attachments
   WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND integration_id = 'workday:unknown' $$);

--
-- a 404 that is not the API's own error: the URL is no endpoint (base_url
-- without /v1, say), which is an error saying so, with the start of the
-- body, not "candidate not found" for every id
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT replace(:'checkr_url', '/v1', '') AS checkr_no_version \gset
SELECT replace(:'kombo_url', '/v1', '') AS kombo_no_version \gset
ALTER SERVER regress_checkr OPTIONS (SET base_url :'checkr_no_version');
ALTER SERVER regress_kombo OPTIONS (SET base_url :'kombo_no_version');
\set VERBOSITY terse
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
\set VERBOSITY default
-- several ids: an error, not a warning that skips them all
SELECT state, message LIKE '%: the endpoint does not exist' AS no_endpoint
  FROM regress_error($$
  SELECT id FROM candidate_documents
   WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234') $$);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\x on
SELECT state, message, detail, replace(hint, :'mock_port', 'PORT') AS hint,
       context, key_shown
  FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
SELECT state, message, detail, key_shown FROM regress_error($$
  SELECT id FROM candidate_attachments WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' $$);
SELECT state, message, detail, key_shown FROM regress_error($$
  INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('e44aa283528e6fde7d542194', 'consent', 'a.pdf', '\x255044462d'::bytea) $$);
\x off
ALTER SERVER regress_checkr OPTIONS (SET base_url :'checkr_url');
ALTER SERVER regress_kombo OPTIONS (SET base_url :'kombo_url');
-- the same from a proxy in front of the right path: an error too, and a
-- body that echoes the request shows no key
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "respond", "status": 404, "headers": {"Content-Type": "text/plain"}, "body": "no route; you sent\r\nAuthorization: Basic dGVzdF9jaGVja3Jfa2V5Og==\r\nkey test_checkr_key\r\n"}'
SELECT state, message, detail, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- a download's error page comes from the file host (it may echo the
-- signed URL): not shown, and no reason to doubt base_url
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/files/", "times": 1, "action": "respond", "status": 404, "headers": {"Content-Type": "application/xml"}, "body": "<Error><Code>NoSuchKey</Code><Signature>regress-signature</Signature></Error>"}'
SELECT state, message, detail, hint FROM regress_error($$
  SELECT length(content) FROM candidate_documents
   WHERE candidate_id = 'e44aa283528e6fde7d542194' AND id = 'd0000000000000000000aa02' $$);
-- while Checkr's own 404 still means a candidate it does not know
SELECT id FROM candidate_documents WHERE candidate_id = 'missing-x';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- 500: retried max_retries times, then an error
--
ALTER SERVER regress_checkr OPTIONS (SET max_retries '1');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/e44aa283528e6fde7d542194/", "action": "respond", "status": 500, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Internal server error\"}"}'
SELECT state, message, context, key_shown,
       detail LIKE 'HTTP status 500 %' AS status_in_detail,
       detail LIKE '%Internal server error%' AS api_error_in_detail,
       detail LIKE '%2 attempts%' AS attempts_in_detail
  FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
ALTER SERVER regress_checkr OPTIONS (SET max_retries '0');

--
-- 503 with max_retries 0: one request, then an error
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 2, "action": "respond", "status": 503, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Service unavailable\"}"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT state, message, detail, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a proxy's HTML error page: the status, no API message
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "respond", "status": 502, "headers": {"Content-Type": "text/html"}, "body": "<html><body>Bad gateway</body></html>"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
-- 429 with Retry-After, retried and then successful
ALTER SERVER regress_checkr OPTIONS (SET max_retries '2');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 2, "action": "respond", "status": 429, "headers": {"Content-Type": "application/json", "Retry-After": "0"}, "body": "{\"error\": \"Too many requests\"}"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194';
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
ALTER SERVER regress_checkr OPTIONS (SET max_retries '0');

--
-- responses that are not what the API promises
--
-- (the parser's own words in DETAIL vary: messages only)
\set VERBOSITY terse
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- malformed JSON
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 2, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [{\"id\": "}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT state, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- an empty body
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": ""}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
-- JSON of the wrong shape: no data array
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 2, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"documents\": [], \"object\": \"list\"}"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT state, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- data is not an array; a top-level array
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": {\"id\": \"x\"}}"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "[{\"id\": \"x\"}]"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
-- items that are not objects
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 2, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"data\": [\"x\", 2], \"next_href\": null}"}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
SELECT state, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- Kombo: results missing from data
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/attachments", "times": 1, "action": "respond", "status": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"status\": \"success\", \"data\": {\"next\": null}, \"warnings\": []}"}'
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';  -- ERROR
-- a next link that is not a string
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "next_href", "value": 2}'
SELECT id FROM candidate_documents
 WHERE candidate_id = 'empty0000000000000000000';  -- ERROR
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"
\set VERBOSITY default

--
-- network failures: class HV too
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- the connection is reset mid-response
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "reset"}'
SELECT state, message, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- no answer within timeout_ms
ALTER SERVER regress_checkr OPTIONS (ADD timeout_ms '300');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "hang", "seconds": 10}'
SELECT clock_timestamp() AS started \gset
SELECT state, message, context, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
-- timeout_ms is 300 ms; 0.3 s more for a loaded machine
SELECT clock_timestamp() - :'started'::timestamptz < interval '600 milliseconds' AS within_timeout;
ALTER SERVER regress_checkr OPTIONS (DROP timeout_ms);
-- nothing listens there
ALTER SERVER regress_checkr OPTIONS (SET base_url 'http://127.0.0.1:1/checkr/v1');
SELECT state, message, key_shown FROM regress_error($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
ALTER SERVER regress_checkr OPTIONS (SET base_url :'checkr_url');
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- statement_timeout stops a request that gets no answer
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "times": 1, "action": "hang", "seconds": 30}'
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '500ms';
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
RESET statement_timeout;
-- statement_timeout is 500 ms; README promises 100 ms more, 0.3 s is allowed
SELECT clock_timestamp() - :'started'::timestamptz < interval '800 milliseconds' AS stopped_in_time;

--
-- no key in any message: a DO block over failing queries of both APIs
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/", "action": "respond", "status": 500, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Internal server error\"}"}'
DO $$
DECLARE
  m text;
  d text;
  c text;
  s text;
  q text;
BEGIN
  FOREACH q IN ARRAY ARRAY[
    'SELECT * FROM candidate_documents WHERE candidate_id = ''e44aa283528e6fde7d542194''',
    'SELECT * FROM candidate_attachments WHERE candidate_id = ''BTbkvY2w5ou3z3hdwuKcKzDh''']
  LOOP
    BEGIN
      EXECUTE q;
      RAISE NOTICE 'no error';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
        c = PG_EXCEPTION_CONTEXT, s = RETURNED_SQLSTATE;
      RAISE NOTICE 'SQLSTATE class %, checkr key shown: %, kombo key shown: %',
        left(s, 2),
        position('test_checkr_key' in concat(m, d, c)) > 0,
        position('test_kombo_key' in concat(m, d, c)) > 0;
    END;
  END LOOP;
END $$;
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"

--
-- a value that does not convert: the error names the column and the
-- object and shows the value (for attrs, the whole object), with every
-- URL's query string redacted (a signed download_uri carries its token
-- there), its user name and password and fragment removed
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT jsonb_build_object('path_contains', '/candidates/regress-signed-1/',
  'action', 'respond', 'status', 200,
  'headers', jsonb_build_object('Content-Type', 'application/json'),
  'body', $b${"data": [{"id": "d-signed-1", "object": "document", "type": "consent",
    "download_uri": "https://files.example.com/d-signed-1?X-Amz-Signature=regress-sig-secret&X-Amz-Expires=900#frag",
    "filename": "consent.pdf", "filesize": 12, "note": "nul \u0000 here"}],
  "object": "list", "next_href": null, "previous_href": null, "count": 1}$b$)::text
  AS fault_plain \gset
SELECT jsonb_build_object('path_contains', '/candidates/regress-signed-2/',
  'action', 'respond', 'status', 200,
  'headers', jsonb_build_object('Content-Type', 'application/json'),
  'body', $b${"data": [{"id": "d-signed-2", "object": "document", "type": "consent",
    "download_uri": "HTTPS:\/\/user:regress-pw-secret@files.example.com\/d-signed-2?sig=regress-sig-secret\u0026a=b",
    "filename": "consent.pdf", "filesize": 12, "note": "nul \u0000 here"}],
  "object": "list", "next_href": null, "previous_href": null, "count": 1}$b$)::text
  AS fault_escaped \gset
\setenv FAULT_PLAIN :fault_plain
\setenv FAULT_ESCAPED :fault_escaped
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d "$FAULT_PLAIN"
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d "$FAULT_ESCAPED"
CREATE FOREIGN TABLE regress_signed_attrs (candidate_id text, attrs jsonb)
  SERVER regress_checkr;
CREATE FOREIGN TABLE regress_signed_int (candidate_id text, attrs int)
  SERVER regress_checkr;
CREATE FOREIGN TABLE regress_signed_uri (candidate_id text, download_uri int)
  SERVER regress_checkr;
-- jsonb refuses \u0000: the object is shown
SELECT attrs FROM regress_signed_attrs WHERE candidate_id = 'regress-signed-1';  -- ERROR
SELECT attrs FROM regress_signed_attrs WHERE candidate_id = 'regress-signed-2';  -- ERROR
-- not an integer: the object, in the message and in the type's own words
SELECT attrs FROM regress_signed_int WHERE candidate_id = 'regress-signed-1';  -- ERROR
SELECT attrs FROM regress_signed_int WHERE candidate_id = 'regress-signed-2';  -- ERROR
-- the URL itself
SELECT download_uri FROM regress_signed_uri WHERE candidate_id = 'regress-signed-1';  -- ERROR
SELECT download_uri FROM regress_signed_uri WHERE candidate_id = 'regress-signed-2';  -- ERROR
-- nowhere a token or a password
SELECT q, position('regress-sig-secret' in concat(message, detail, hint)) > 0 AS token_shown,
       position('regress-pw-secret' in concat(message, detail, hint)) > 0 AS password_shown,
       key_shown
  FROM (VALUES ('regress_signed_attrs', 'attrs', 1), ('regress_signed_attrs', 'attrs', 2),
               ('regress_signed_int', 'attrs', 1), ('regress_signed_int', 'attrs', 2),
               ('regress_signed_uri', 'download_uri', 1),
               ('regress_signed_uri', 'download_uri', 2)) AS v(t, c, n),
       LATERAL (SELECT format('%s.%s (%s)', t, c, n) AS q) AS l,
       LATERAL regress_error(format('SELECT %I FROM %I WHERE candidate_id = %L',
                                    c, t, 'regress-signed-' || n)) AS e;
DROP FOREIGN TABLE regress_signed_attrs, regress_signed_int, regress_signed_uri;
\! curl -s -o /dev/null -X DELETE "$MOCK_URL/_mock/faults"

--
-- Kombo warnings are not errors: the rows come, the warning goes to the
-- server log
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT 'regress-' || md5(random()::text) AS warning_token \gset
\setenv WARNING_TOKEN :warning_token
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d "{\"path_contains\": \"/candidates/warned-1/\", \"times\": 1, \"action\": \"respond\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/json\"}, \"body\": \"{\\\"status\\\": \\\"success\\\", \\\"data\\\": {\\\"results\\\": [{\\\"id\\\": \\\"w1\\\"}], \\\"next\\\": null}, \\\"warnings\\\": [{\\\"message\\\": \\\"$WARNING_TOKEN\\\"}]}\"}"
SELECT id FROM candidate_attachments WHERE candidate_id = 'warned-1';
\! grep -q "$WARNING_TOKEN" "$PG_SERVER_LOG" && echo "warning logged" || echo "warning not logged"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"

\i sql/include/teardown.sql
