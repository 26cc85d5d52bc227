--
-- conditions: every condition runs once per row, volatile ones included,
-- whether or not the query reads content (the scan checks the conditions
-- that do not need the file before downloading it; the others run after).
--
\i sql/include/setup.sql
\setenv DOWNLOADS 'import json, sys; rs = json.load(sys.stdin); print(sum(1 for r in rs if r["path"].startswith("/files/")), "downloads")'

-- regress_count() counts its calls; regress_every_other() is true on odd calls
CREATE SEQUENCE regress_calls;
CREATE FUNCTION regress_count(text) RETURNS boolean VOLATILE LANGUAGE plpgsql
  AS $$ BEGIN PERFORM nextval('regress_calls'); RETURN true; END $$;
CREATE FUNCTION regress_every_other(text) RETURNS boolean VOLATILE LANGUAGE plpgsql
  AS $$ BEGIN RETURN nextval('regress_calls') % 2 = 1; END $$;
CREATE FUNCTION regress_calls() RETURNS bigint LANGUAGE sql
  AS $$ SELECT nextval('regress_calls') - 1 $$;
-- EXPLAIN ANALYZE lines, with actual rows whole as before PostgreSQL 18
CREATE FUNCTION regress_explain_lines(query text) RETURNS SETOF text
  LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE
    'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query
  LOOP
    RETURN NEXT regexp_replace(ln, 'actual rows=([0-9]+)\.00 ', 'actual rows=\1 ');
  END LOOP;
END $$;

-- without content: three rows, three calls
SELECT setval('regress_calls', 1, false);
SELECT count(*) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND regress_count(id);
SELECT regress_calls() AS calls;

-- with content: still three calls, and the files of the rows that pass
SELECT setval('regress_calls', 1, false);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND regress_count(id)
 ORDER BY id;
SELECT regress_calls() AS calls;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$DOWNLOADS"
-- a condition true on every other call keeps the first and third row, and
-- only their files are downloaded
SELECT setval('regress_calls', 1, false);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND regress_every_other(id);
SELECT regress_calls() AS calls;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$DOWNLOADS"

-- conditions on content run after the download, the others before; each once
SELECT setval('regress_calls', 1, false);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize < 3000
   AND regress_count(id) AND length(content) > 1500 AND regress_count(md5(content));
SELECT regress_calls() AS calls;  -- 2 before the downloads (under 3000 bytes), 1 after
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$DOWNLOADS"
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize < 3000
   AND regress_count(id) AND length(content) > 1500;
EXPLAIN (COSTS OFF, VERBOSE)
SELECT id, content FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize < 3000;
-- EXPLAIN ANALYZE counts the rows removed before their download
SELECT regexp_replace(ln, 'Bytes Received: [0-9]+', 'Bytes Received: N') FROM
  regress_explain_lines($$
    SELECT id FROM candidate_documents
     WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize < 3000
       AND length(content) > 1500 $$) ln;
-- without content, everything is the plan's filter
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND filesize < 3000
   AND regress_count(id);

-- a whole-row reference reads content: its condition runs after the download
SELECT setval('regress_calls', 1, false);
SELECT count(*) FROM candidate_documents d
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND regress_count(id)
   AND d IS NOT NULL;
SELECT regress_calls() AS calls;

-- the inner side of a nested loop, with a condition from the join
CREATE TABLE regress_people (name text, candidate_id text);
INSERT INTO regress_people VALUES ('Ann', 'e44aa283528e6fde7d542194'),
  ('Bob', '5f1c2e3a4b5c6d7e8f901234');
ANALYZE regress_people;
SET enable_memoize = off;
SELECT setval('regress_calls', 1, false);
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT p.name, d.id, length(d.content) FROM regress_people p
  JOIN candidate_documents d ON d.candidate_id = p.candidate_id
   AND d.filename <> p.name AND regress_count(d.id)
 ORDER BY 2;
SELECT regress_calls() AS calls;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$DOWNLOADS"
EXPLAIN (COSTS OFF)
SELECT p.name, d.id, length(d.content) FROM regress_people p
  JOIN candidate_documents d ON d.candidate_id = p.candidate_id
   AND d.filename <> p.name AND regress_count(d.id);
RESET enable_memoize;

-- Kombo the same way
SELECT setval('regress_calls', 1, false);
SELECT count(*), count(content) FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh' AND regress_count(id);
SELECT regress_calls() AS calls;

DROP TABLE regress_people;
DROP FUNCTION regress_count(text), regress_every_other(text), regress_calls(),
  regress_explain_lines(text);
DROP SEQUENCE regress_calls;
\i sql/include/teardown.sql
