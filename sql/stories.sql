--
-- stories: candidate_docs.create_candidate_story() checks the story before
-- anything is sent, POSTs it as JSON with an Idempotency-Key (the caller's,
-- or a fresh UUID v4, the same across retries) and returns the created
-- CandidateStory; API errors are ERRORs of SQLSTATE class HV.
--
\i sql/include/setup.sql
-- the mock's creation counter
\setenv CREATED 'import json, sys; print("stories created:", json.load(sys.stdin)["stories_created"])'
-- error contexts hold the mock's port: shown, masked, by regress_error below
\set SHOW_CONTEXT never
SET timezone = 'UTC';

\df candidate_docs.create_candidate_story

-- The POSTs in a request log (the mock's /_mock/requests, as jsonb), oldest
-- first: path, status, Content-Type, Idempotency-Key and the JSON body.
CREATE FUNCTION regress_posts(log jsonb,
  OUT seq int, OUT path text, OUT status int, OUT content_type text,
  OUT idem_key text, OUT body jsonb)
RETURNS SETOF record LANGUAGE sql AS $$
  SELECT (r->>'seq')::int, r->>'path', (r->>'status')::int,
         r->'headers'->>'content-type', r->'headers'->>'idempotency-key', r->'json'
    FROM jsonb_array_elements(log) AS r
   WHERE r->>'method' = 'POST'
   ORDER BY 1
$$;

--
-- each invalid call has its own error, and sends nothing
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- the story is not an object
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '[{"content": "x"}]', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '"Since my case, I have received certifications"', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '42', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  'null', server => 'regress_checkr');  -- ERROR
-- content missing, empty, not a string
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"documents": []}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": ""}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": 7}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": ["a", "b"]}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": null}', server => 'regress_checkr');  -- ERROR
-- documents not an array
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": {"filename": "a.pdf"}}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": "a.pdf"}', server => 'regress_checkr');  -- ERROR
-- a document that is not an object, or lacks filename, tempfile or type
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": ["https://files.example.com/a"]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"tempfile": "https://files.example.com/a", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "https://files.example.com/a"}]}',
  server => 'regress_checkr');  -- ERROR
-- (the index names the bad document)
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "https://files.example.com/a", "type": "application/pdf"}, {"filename": "b.pdf", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
-- tempfile not an http(s) URL
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "ftp://files.example.com/a", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "files/a.pdf", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "file:///etc/passwd", "type": "application/pdf"}]}',
  server => 'regress_checkr');  -- ERROR
-- type not one of the eight MIME types
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.txt", "tempfile": "https://files.example.com/a", "type": "text/plain"}]}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "documents": [{"filename": "a.pdf", "tempfile": "https://files.example.com/a", "type": "pdf"}]}',
  server => 'regress_checkr');  -- ERROR
-- record_id not a string
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "record_id": 12}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "record_id": {"id": "r1"}}', server => 'regress_checkr');  -- ERROR
-- an unknown top-level key: the hint lists the allowed ones
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "report_id": "af3393b7d751206c7c67b6e5"}', server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x", "Documents": []}', server => 'regress_checkr');  -- ERROR
-- a long unknown key is quoted in part, cut between characters
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  jsonb_build_object('content', 'x', repeat('é', 300), 1), server => 'regress_checkr');  -- ERROR
-- NULL or empty arguments
SELECT candidate_docs.create_candidate_story(NULL, '{"content": "x"}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5', NULL,
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('', '{"content": "x"}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', NULL, NULL);  -- ERROR
-- an idempotency key with CR or LF would add a header line
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', E'key-1\r\nX-Injected: yes', 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', E'key-1\nX-Injected: yes', 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', E'key-1\r', 'regress_checkr');  -- ERROR
-- a server that does not exist (the default is "checkr"), a Kombo server
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_nowhere');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}');  -- ERROR
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_kombo');  -- ERROR
-- none of the above sent a request
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- the SQLSTATE classes: 22 (data) or 42 (no such object) for the caller's
-- mistakes, HV (FDW) for a server of the wrong API
SELECT left(state, 2) AS class, message FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5', '[]',
    server => 'regress_checkr') $$);
SELECT left(state, 2) AS class, message FROM regress_error($$
  SELECT candidate_docs.create_candidate_story(NULL, '{"content": "x"}',
    server => 'regress_checkr') $$);
SELECT left(state, 2) AS class, message FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_nowhere') $$);
SELECT left(state, 2) AS class, message FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_kombo') $$);

--
-- success: the CandidateStory Checkr created, from a JSON POST
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TEMP TABLE regress_story AS
SELECT candidate_docs.create_candidate_story(
  'af3393b7d751206c7c67b6e5',
  '{"content": "Since my case, I have received the following certifications",
    "documents": [{"filename": "rehab.pdf",
                   "tempfile": "https://files.example.com/abYwtudnakfnafl",
                   "type": "application/pdf"},
                  {"filename": "photo.heic",
                   "tempfile": "http://files.example.com/p?id=2&sig=x",
                   "type": "image/heic"}],
    "record_id": "rec-0001"}',
  'regress-story-1', 'regress_checkr') AS story;
SELECT pg_typeof(story) FROM regress_story;
\x on
SELECT story->>'id' ~ '^[0-9a-f]{24}$' AS id_is_checkr_id,
       story->>'object' AS object,
       story->>'uri' = '/v1/candidate_stories/' || (story->>'id') AS uri_names_id,
       story->>'report_id' AS report_id,
       story->>'record' AS record,
       story->>'content' AS content,
       (story->>'created_at')::timestamptz BETWEEN now() - interval '1 minute'
                                               AND now() + interval '1 minute' AS created_now,
       story->'documents' AS documents,
       story - 'id' - 'uri' - 'created_at' - 'object' - 'report_id' - 'record'
             - 'content' - 'documents' AS other_fields
  FROM regress_story;
\x off
-- the request: one POST to the report's path, JSON, with the caller's key;
-- the body is the story as given (documents, record_id included)
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, content_type, idem_key FROM regress_posts(:'log');
SELECT body = '{"content": "Since my case, I have received the following certifications",
    "documents": [{"filename": "rehab.pdf",
                   "tempfile": "https://files.example.com/abYwtudnakfnafl",
                   "type": "application/pdf"},
                  {"filename": "photo.heic",
                   "tempfile": "http://files.example.com/p?id=2&sig=x",
                   "type": "image/heic"}],
    "record_id": "rec-0001"}'::jsonb AS body_as_given
  FROM regress_posts(:'log');
DROP TABLE regress_story;
-- documents default to [], record_id is left out when not given; without
-- a key of the caller's, a fresh UUID v4 each call
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT story->'documents' AS documents, story->'record' AS record,
       story->>'content' AS content, story->>'report_id' AS report_id
  FROM candidate_docs.create_candidate_story('bb3393b7d751206c7c67b6e5',
         '{"content": "Certified forklift operator, 2023"}',
         server => 'regress_checkr') AS story;
SELECT story->>'content' AS content
  FROM candidate_docs.create_candidate_story('bb3393b7d751206c7c67b6e5',
         '{"content": "Ünïcödé, \"quotes\", back\\slash, new\nline", "documents": []}',
         server => 'regress_checkr') AS story;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, content_type, body, regress_is_uuid4(idem_key) AS key_is_uuid4
  FROM regress_posts(:'log') ORDER BY seq;
SELECT count(DISTINCT idem_key) AS distinct_keys FROM regress_posts(:'log');
-- the report id is one path segment, percent-encoded
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT story->>'report_id' AS report_id
  FROM candidate_docs.create_candidate_story('r/../../x?y=1#z',
         '{"content": "x"}', server => 'regress_checkr') AS story;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- the default server is the one named "checkr"
CREATE SERVER checkr FOREIGN DATA WRAPPER candidate_docs
  OPTIONS (api 'checkr', base_url :'checkr_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER checkr
  OPTIONS (api_key 'test_checkr_key');
SELECT story->>'report_id' AS report_id, story->>'content' AS content
  FROM candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "via the default server"}') AS story;
DROP USER MAPPING FOR CURRENT_USER SERVER checkr;
DROP SERVER checkr;

--
-- the same key twice: Checkr replays the first answer, one story exists
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "sent by a nightly job"}', 'pending-42', 'regress_checkr')
       ->>'id' AS first_id \gset
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "sent by a nightly job"}', 'pending-42', 'regress_checkr')
       ->>'id' = :'first_id' AS same_story;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, idem_key FROM regress_posts(:'log') ORDER BY seq;
-- another key is another story
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "sent by a nightly job"}', 'pending-43', 'regress_checkr')
       ->>'id' <> :'first_id' AS other_story;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
-- the pg_cron pattern of the README, run twice: each story is created once
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TABLE regress_pending (
  id text PRIMARY KEY, report_id text NOT NULL, story jsonb NOT NULL,
  sent boolean NOT NULL DEFAULT false
);
INSERT INTO regress_pending (id, report_id, story) VALUES
  ('story-1', 'af3393b7d751206c7c67b6e5', '{"content": "one"}'),
  ('story-2', 'af3393b7d751206c7c67b6e5', '{"content": "two"}');
-- the first run fails after the first story was accepted: its UPDATE is lost
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM regress_pending WHERE NOT sent ORDER BY id LOOP
    PERFORM candidate_docs.create_candidate_story(r.report_id, r.story, r.id,
                                                  'regress_checkr');
    UPDATE regress_pending SET sent = true WHERE id = r.id;
    RAISE EXCEPTION 'the job died';
  END LOOP;
END $$;  -- ERROR
SELECT id, sent FROM regress_pending ORDER BY id;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM regress_pending WHERE NOT sent ORDER BY id LOOP
    PERFORM candidate_docs.create_candidate_story(r.report_id, r.story, r.id,
                                                  'regress_checkr');
    UPDATE regress_pending SET sent = true WHERE id = r.id;
  END LOOP;
END $$;
SELECT id, sent FROM regress_pending ORDER BY id;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
DROP TABLE regress_pending;

--
-- API errors: SQLSTATE class HV, the status and Checkr's words in DETAIL,
-- method and URL in the context; 4xx are not retried
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_docs.create_candidate_story('limit-1', '{"content": "x"}',
  server => 'regress_checkr');  -- ERROR
SELECT candidate_docs.create_candidate_story('missing-1', '{"content": "x"}',
  server => 'regress_checkr');  -- ERROR
\x on
SELECT left(state, 2) AS class, message, detail, context FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('limit-1', '{"content": "x"}',
    server => 'regress_checkr') $$);
SELECT left(state, 2) AS class, message, detail, context FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('missing-1', '{"content": "x"}',
    server => 'regress_checkr') $$);
\x off
-- a base_url that is no endpoint (without /v1): a 404 that is not
-- Checkr's, said so, with the start of the web server's page
SELECT replace(:'checkr_url', '/v1', '') AS checkr_no_version \gset
ALTER SERVER regress_checkr OPTIONS (SET base_url :'checkr_no_version');
\x on
SELECT left(state, 2) AS class, message, detail, context FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_checkr') $$);
\x off
ALTER SERVER regress_checkr OPTIONS (SET base_url :'checkr_url');
-- a wrong key: 401, and the key is nowhere in the error
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (SET api_key 'regress_wrong_key');
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', server => 'regress_checkr');  -- ERROR
\x on
SELECT left(state, 2) AS class, message, detail, context,
       concat_ws(' ', message, detail, hint, context) ~ 'regress_wrong_key|cmVncmVzc193cm9uZ19rZXk6'
         AS key_shown
  FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', server => 'regress_checkr') $$);
\x off
ALTER USER MAPPING FOR CURRENT_USER SERVER regress_checkr
  OPTIONS (SET api_key 'test_checkr_key');
-- a 409 (the same key still in flight), from a fault
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidate_stories", "method": "POST", "times": 2, "action": "respond", "status": 409, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"A request with this idempotency key is already in progress\"}"}'
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "x"}', 'regress-409', 'regress_checkr');  -- ERROR
\x on
SELECT left(state, 2) AS class, message, detail, context FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "x"}', 'regress-409', 'regress_checkr') $$);
\x off
-- one request per call: none retried, none created
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"

--
-- a 503 on the first attempt: retried once with the same key, created once
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidate_stories", "method": "POST", "times": 1, "action": "respond", "status": 503, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Service unavailable\"}"}'
SELECT story->>'content' AS content, story->>'report_id' AS report_id
  FROM candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "after a 503"}', server => 'regress_checkr') AS story;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, regress_is_uuid4(idem_key) AS key_is_uuid4, body
  FROM regress_posts(:'log') ORDER BY seq;
SELECT count(*) AS posts, count(DISTINCT idem_key) AS distinct_keys
  FROM regress_posts(:'log');
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"
-- the same with the caller's key
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidate_stories", "method": "POST", "times": 1, "action": "respond", "status": 503, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Service unavailable\"}"}'
SELECT story->>'content' AS content
  FROM candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
         '{"content": "after a 503"}', 'regress-503', 'regress_checkr') AS story;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT path, status, idem_key FROM regress_posts(:'log') ORDER BY seq;
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"

--
-- a write: refused in a read-only transaction, as INSERT is, before
-- anything is checked or sent (a standby: test/t/readonly.t)
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
BEGIN;
SET TRANSACTION READ ONLY;
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "read-only"}', 'regress-ro-1', 'regress_checkr');  -- ERROR
ROLLBACK;
BEGIN READ ONLY;
SELECT left(state, 2) AS class, state, message FROM regress_error($$
  SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "read-only"}', 'regress-ro-2', 'regress_checkr') $$);
-- an invalid story is refused for the same reason first
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5', '{}');  -- ERROR
ROLLBACK;
SET default_transaction_read_only = on;
SELECT candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
  '{"content": "read-only"}', 'regress-ro-3', 'regress_checkr');  -- ERROR
-- a procedure's own transactions are read-only too
DO $$BEGIN
  PERFORM candidate_docs.create_candidate_story('af3393b7d751206c7c67b6e5',
    '{"content": "read-only"}', 'regress-ro-4', 'regress_checkr');
END$$;  -- ERROR
RESET default_transaction_read_only;
-- nothing was sent
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
\! curl -s "$MOCK_URL/_mock/stats" | python3 -c "$CREATED"

\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
DROP FUNCTION regress_posts(jsonb);
\i sql/include/teardown.sql
