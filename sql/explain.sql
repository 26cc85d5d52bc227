--
-- explain: EXPLAIN shows the endpoint, the candidate ids and what is pushed
-- to the API; EXPLAIN ANALYZE adds requests, pages, retries and bytes.
--
\i sql/include/setup.sql

-- EXPLAIN ANALYZE, with "Bytes Received" shown as N when the body sizes
-- depend on the mock's port (they hold download URLs), and actual rows per
-- loop rounded to a whole number as before PostgreSQL 18 (which shows two
-- decimals)
CREATE FUNCTION regress_explain(query text, mask_bytes boolean DEFAULT true)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  ln text;
  rows text[];
BEGIN
  FOR ln IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) '
                    || query
  LOOP
    IF mask_bytes AND ln ~ 'Bytes Received: [1-9][0-9]*$' THEN
      ln := regexp_replace(ln, '[0-9]+$', 'N');
    END IF;
    rows := regexp_match(ln, 'actual rows=([0-9.]+) ');
    IF rows IS NOT NULL THEN
      ln := regexp_replace(ln, 'actual rows=[0-9.]+ ',
                           'actual rows=' || round(rows[1]::numeric) || ' ');
    END IF;
    RETURN NEXT ln;
  END LOOP;
END $$;
-- the foreign scan's figures from EXPLAIN (ANALYZE, FORMAT JSON)
CREATE FUNCTION regress_explain_stats(query text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) '
          || query
    INTO plan;
  RETURN (SELECT jsonb_build_object('Requests', n->'Requests', 'Pages', n->'Pages',
                                    'Retries', n->'Retries',
                                    'Bytes Received', n->'Bytes Received')
            FROM jsonb_path_query(plan::jsonb, 'strict $.**') AS n
           WHERE n->>'Node Type' = 'Foreign Scan' LIMIT 1);
END $$;

--
-- EXPLAIN: endpoint, candidate ids, API filters; nothing is sent
--
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194';
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents
 WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234')
   AND type = ANY (ARRAY['consent', 'passport']) AND filesize > 10;
EXPLAIN (COSTS OFF, VERBOSE)
SELECT id, filename FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent';
-- conditions that are not sent are not API filters
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type LIKE 'con%';
-- parameters
PREPARE by_id(text, text) AS
  SELECT id FROM candidate_documents WHERE candidate_id = $1 AND type IN ($2, 'consent');
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE by_id('e44aa283528e6fde7d542194', 'ssn_card');
RESET plan_cache_mode;
EXPLAIN (COSTS OFF) EXECUTE by_id('e44aa283528e6fde7d542194', 'ssn_card');
-- Kombo: the integration goes out as a header
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_attachments
 WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh'
   AND integration_id IN ('greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ', 'workday:HWUTwvyx2wLoSUHphiWVrp28');
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_attachments WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';
-- a join: ids from the outer side
CREATE TABLE regress_people (name text, candidate_id text);
INSERT INTO regress_people VALUES ('Ann', 'e44aa283528e6fde7d542194'),
  ('Bob', '5f1c2e3a4b5c6d7e8f901234'), ('Cid', 'e44aa283528e6fde7d542194');
ANALYZE regress_people;
SET enable_memoize = off;
EXPLAIN (COSTS OFF)
SELECT p.name, d.id FROM regress_people p
  JOIN candidate_documents d ON d.candidate_id = p.candidate_id AND d.type = 'consent';
RESET enable_memoize;
-- other formats carry the same properties (PostgreSQL 18's "Disabled: false"
-- of every node left out)
CREATE FUNCTION regress_explain_yaml(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  plan text;
BEGIN
  EXECUTE 'EXPLAIN (COSTS OFF, FORMAT YAML) ' || query INTO plan;
  RETURN regexp_replace(plan, '\n *Disabled: false', '', 'g');
END $$;
SELECT regress_explain_yaml($$
  SELECT id FROM candidate_attachments
   WHERE candidate_id = ANY (ARRAY['BTbkvY2w5ou3z3hdwuKcKzDh'])
     AND integration_id = 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ' $$);
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)), "requests")'
-- no EXPLAIN shows a key or the server's address
SELECT count(*) AS lines_with_secrets
  FROM regress_explain($$
    SELECT id FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194' $$) AS ln
 WHERE ln ~ 'test_checkr_key|127\.0\.0\.1|dGVzdF9jaGVja3Jfa2V5';

--
-- EXPLAIN ANALYZE: requests, pages, retries, bytes received
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- a body without download URLs, so its size is fixed: 75 bytes
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'empty0000000000000000000' $$,
  false);
-- three pages
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'many-250' $$);
SELECT regress_explain_stats($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'many-250' $$)
  - 'Bytes Received' AS stats,
  (regress_explain_stats($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'many-250' $$)
  ->> 'Bytes Received')::int BETWEEN 60000 AND 70000 AS bytes_of_three_pages;
-- LIMIT 5 over 5000 documents: one request, one page
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'many-5000' LIMIT 5 $$);
-- several ids, one of them unknown: three requests, two pages
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_documents
   WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234', 'missing-1') $$);
-- a NULL id: nothing sent
SET plan_cache_mode = force_generic_plan;
SELECT * FROM regress_explain($$ EXECUTE by_id(NULL, 'consent') $$);
RESET plan_cache_mode;
DEALLOCATE by_id;
-- retries: two 429s before the answer
ALTER SERVER regress_checkr OPTIONS (ADD max_retries '2');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/empty0000000000000000000/", "times": 2, "action": "respond", "status": 429, "headers": {"Content-Type": "application/json", "Retry-After": "0"}, "body": "{\"error\": \"Too many requests\"}"}'
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_documents WHERE candidate_id = 'empty0000000000000000000' $$,
  false);
ALTER SERVER regress_checkr OPTIONS (DROP max_retries);
-- Kombo pages
SELECT * FROM regress_explain($$
  SELECT id FROM candidate_attachments WHERE candidate_id = 'many-250' $$);
-- a nested loop: the figures of all loops
SET enable_memoize = off;
SELECT * FROM regress_explain($$
  SELECT p.name, d.id FROM regress_people p
    JOIN candidate_documents d ON d.candidate_id = p.candidate_id $$);
RESET enable_memoize;
-- content downloads are requests too
SELECT * FROM regress_explain($$
  SELECT id, length(content) FROM candidate_documents
   WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234' $$);

DROP TABLE regress_people;
DROP FUNCTION regress_explain(text, boolean);
DROP FUNCTION regress_explain_stats(text);
DROP FUNCTION regress_explain_yaml(text);
\i sql/include/teardown.sql
