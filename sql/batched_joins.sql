--
-- batched_joins: a join on candidate_id reads its outer side in batches and
-- fetches each batch's distinct ids concurrently.  Every query runs twice,
-- with candidate_docs.enable_batched_join off (the plain nested loop) and
-- on, and gives the same rows.
--
\i sql/include/setup.sql
-- many requests: no rate budget (it is tested on its own)
ALTER SERVER regress_checkr OPTIONS (ADD requests_per_minute '0');
\setenv COUNT 'import collections, json, sys; rs = json.load(sys.stdin); c = collections.Counter(r["path"] for r in rs); print(len(rs), "requests,", len(c), "distinct paths, most requests for one path:", max(c.values(), default=0))'
\set reset '\\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/reset"'
\set count '\\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$COUNT"'
SET enable_memoize = off;

-- duplicates, a NULL, an empty id, ids without documents or unknown to the
-- API, and one whose listing has three pages
CREATE TABLE hr (emp_id int PRIMARY KEY, name text, cid text);
INSERT INTO hr VALUES
  (1, 'Ann', 'e44aa283528e6fde7d542194'), (2, 'Bob', '5f1c2e3a4b5c6d7e8f901234'),
  (3, 'Cid', 'empty0000000000000000000'), (4, 'Dee', 'e44aa283528e6fde7d542194'),
  (5, 'Eve', NULL), (6, 'Fay', 'missing-fay'), (7, 'Gus', ''),
  (8, 'Hal', 'many-250');
INSERT INTO hr SELECT g, 'gen' || g, 'gen-' || (g % 37) FROM generate_series(9, 120) g;
ANALYZE hr;

-- the plan: the batching node under the nested loop's outer side
EXPLAIN (COSTS OFF)
SELECT e.name, d.id FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid;
SET candidate_docs.enable_batched_join = off;
EXPLAIN (COSTS OFF)
SELECT e.name, d.id FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid;
RESET candidate_docs.enable_batched_join;

-- Each query of this file is kept in a table twice: off, then on.
CREATE FUNCTION both_ways(query text) RETURNS TABLE (plain bigint, batched bigint,
  only_plain bigint, only_batched bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SET LOCAL candidate_docs.enable_batched_join = off;
  EXECUTE 'CREATE TEMP TABLE plain_rows AS ' || query;
  SET LOCAL candidate_docs.enable_batched_join = on;
  EXECUTE 'CREATE TEMP TABLE batched_rows AS ' || query;
  RETURN QUERY SELECT (SELECT count(*) FROM plain_rows), (SELECT count(*) FROM batched_rows),
    (SELECT count(*) FROM (TABLE plain_rows EXCEPT ALL TABLE batched_rows) x),
    (SELECT count(*) FROM (TABLE batched_rows EXCEPT ALL TABLE plain_rows) x);
  DROP TABLE plain_rows, batched_rows;
END $$;

-- inner join, small: the rows themselves, both ways
SET candidate_docs.enable_batched_join = off;
SELECT e.name, d.id, d.type FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
 WHERE e.emp_id <= 7 ORDER BY 1, 2;
RESET candidate_docs.enable_batched_join;
SELECT e.name, d.id, d.type FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
 WHERE e.emp_id <= 7 ORDER BY 1, 2;

-- every join type over all of hr, rows compared
SELECT * FROM both_ways($$SELECT e.emp_id, e.name, d.id, d.type, d.filename, d.created_at
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid$$);
SELECT * FROM both_ways($$SELECT e.emp_id, d.id, d.type
  FROM hr e LEFT JOIN candidate_documents d ON d.candidate_id = e.cid$$);
SELECT * FROM both_ways($$SELECT e.emp_id FROM hr e
  WHERE EXISTS (SELECT 1 FROM candidate_documents d WHERE d.candidate_id = e.cid)$$);
-- employees without a consent document (a pushed filter on the inner side)
SELECT * FROM both_ways($$SELECT e.emp_id FROM hr e
  WHERE NOT EXISTS (SELECT 1 FROM candidate_documents d
                     WHERE d.candidate_id = e.cid AND d.type = 'consent')$$);
SELECT * FROM both_ways($$SELECT d.candidate_id, d.id FROM candidate_documents d
  WHERE d.candidate_id IN (SELECT cid FROM hr WHERE emp_id % 3 = 0)$$);
SELECT * FROM both_ways($$SELECT e.emp_id, x.id FROM hr e,
  LATERAL (SELECT d.id FROM candidate_documents d WHERE d.candidate_id = e.cid) x$$);
-- other join clauses and conditions on both sides, and whole rows
SELECT * FROM both_ways($$SELECT e.emp_id, d.id FROM hr e
  LEFT JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.filesize > e.emp_id * 40 AND d.type <> 'ssn_card'
  WHERE e.emp_id % 2 = 0$$);
SELECT * FROM both_ways($$SELECT e.emp_id, d.id FROM hr e
  JOIN candidate_documents d ON d.candidate_id = e.cid
  WHERE d.filename LIKE '%.pdf' OR e.emp_id < 10$$);
SELECT * FROM both_ways($$SELECT e::text AS e, d::text AS d FROM hr e
  JOIN candidate_documents d ON d.candidate_id = e.cid$$);
SELECT * FROM both_ways($$SELECT e.emp_id, d.id FROM hr e
  JOIN candidate_documents d ON d.candidate_id = lower(e.cid)$$);

-- the plans the on runs used
EXPLAIN (COSTS OFF)
SELECT e.emp_id, d.id FROM hr e LEFT JOIN candidate_documents d ON d.candidate_id = e.cid;
EXPLAIN (COSTS OFF)
SELECT e.emp_id FROM hr e
 WHERE NOT EXISTS (SELECT 1 FROM candidate_documents d
                    WHERE d.candidate_id = e.cid AND d.type = 'consent');
EXPLAIN (COSTS OFF)
SELECT e.emp_id FROM hr e
 WHERE EXISTS (SELECT 1 FROM candidate_documents d WHERE d.candidate_id = e.cid);
EXPLAIN (COSTS OFF)
SELECT d.candidate_id, d.id FROM candidate_documents d
 WHERE d.candidate_id IN (SELECT cid FROM hr WHERE emp_id % 3 = 0);

-- each distinct id is requested once (the three pages of many-250 once each)
:reset
SELECT count(*) FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid;
:count
SELECT count(DISTINCT cid) FILTER (WHERE cid <> '') + 2 AS expected_requests FROM hr;

-- EXPLAIN ANALYZE without buffers, actual rows per loop rounded to a whole
-- number as before PostgreSQL 18 (which shows two decimals)
CREATE FUNCTION regress_analyze(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  line text;
  rows text[];
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) '
                      || query
  LOOP
    rows := regexp_match(line, 'actual rows=([0-9.]+) ');
    IF rows IS NOT NULL THEN
      line := regexp_replace(line, 'actual rows=[0-9.]+ ',
                             'actual rows=' || round(rows[1]::numeric) || ' ');
    END IF;
    RETURN NEXT line;
  END LOOP;
END $$;
-- EXPLAIN ANALYZE: batches, outer rows, the distinct ids of each batch and the
-- requests; the first batch is small, the following ones double
SELECT * FROM regress_analyze($$
  SELECT count(*) FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid $$);

-- outer rows keep their order
SELECT string_agg(e.emp_id::text, ',') = string_agg(e.emp_id::text, ',' ORDER BY e.emp_id)
       AS in_order
  FROM (SELECT * FROM hr ORDER BY emp_id OFFSET 0) e
  JOIN candidate_documents d ON d.candidate_id = e.cid;

-- LIMIT: the first outer row's listing, and the first page of the next
-- row's, ahead: 2 requests (the plain loop sends 1, the whole join 44); no
-- warning names "missing-fay", a row the join does not reach
:reset
SELECT count(*) FROM (SELECT d.id FROM hr e
  JOIN candidate_documents d ON d.candidate_id = e.cid LIMIT 3) x;
:count

-- rescans: the batched join inside another nested loop, its parameter changing
SELECT * FROM both_ways($$SELECT v.k, x.n FROM (VALUES (0), (1), (2)) v(k),
  LATERAL (SELECT count(d.id) AS n FROM hr e
             JOIN candidate_documents d ON d.candidate_id = e.cid
            WHERE e.emp_id % 3 = v.k) x$$);
EXPLAIN (COSTS OFF)
SELECT v.k, x.n FROM (VALUES (0), (1), (2)) v(k),
  LATERAL (SELECT count(d.id) AS n FROM hr e
             JOIN candidate_documents d ON d.candidate_id = e.cid
            WHERE e.emp_id % 3 = v.k) x;

-- Kombo: the integration header values multiply the listings of a batch
CREATE TABLE hr_kombo (n int, cid text);
INSERT INTO hr_kombo VALUES (1, 'BTbkvY2w5ou3z3hdwuKcKzDh'), (2, 'missing-k1'),
  (3, 'BTbkvY2w5ou3z3hdwuKcKzDh'), (4, NULL);
SELECT * FROM both_ways($$SELECT k.n, a.id, a.integration_id FROM hr_kombo k
  JOIN candidate_attachments a ON a.candidate_id = k.cid
   AND a.integration_id IN ('workday:HWUTwvyx2wLoSUHphiWVrp28', 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ')$$);
SELECT k.n, a.id, a.integration_id FROM hr_kombo k
  LEFT JOIN candidate_attachments a ON a.candidate_id = k.cid
   AND a.integration_id IN ('workday:HWUTwvyx2wLoSUHphiWVrp28', 'greenhouse:8Xi6iZrwusZqJmDGXs49GBmJ')
 ORDER BY 1, 2, 3;

-- content with a batch: downloaded for the rows that pass the other conditions
:reset
SELECT e.emp_id, d.id, length(d.content) FROM hr e
  JOIN candidate_documents d ON d.candidate_id = e.cid
 WHERE e.emp_id IN (1, 2) AND d.type = 'driver_license' ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- content over many outer rows, with conditions on the row, on the outer
-- row, and inside a rescanned join
SELECT * FROM both_ways($$SELECT e.emp_id, d.id, md5(d.content) FROM hr e
  LEFT JOIN candidate_documents d ON d.candidate_id = e.cid AND d.filesize % 3 <> 0
  WHERE e.emp_id BETWEEN 5 AND 30$$);
SELECT * FROM both_ways($$SELECT e.emp_id, d.id, length(d.content) FROM hr e
  JOIN candidate_documents d ON d.candidate_id = e.cid AND d.filesize > e.emp_id * 200
  WHERE e.emp_id BETWEEN 5 AND 30$$);
SELECT * FROM both_ways($$SELECT v.k, x.n FROM (VALUES (0), (1)) v(k),
  LATERAL (SELECT sum(length(d.content)) AS n FROM hr e
             JOIN candidate_documents d ON d.candidate_id = e.cid
            WHERE e.emp_id % 2 = v.k AND e.emp_id BETWEEN 9 AND 40) x$$);

-- content: the conditions that do not need the file run once per document
-- and outer row (twice here: two outer rows share an id), batched or not.
-- The rows keep the table's oid and system columns.
CREATE SEQUENCE regress_calls;
CREATE FUNCTION regress_count_stable(text) RETURNS boolean STABLE LANGUAGE plpgsql
  AS $$ BEGIN PERFORM nextval('regress_calls'); RETURN true; END $$;
CREATE FUNCTION regress_removed(query text) RETURNS SETOF text
  LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN SELECT regress_analyze(query)
  LOOP
    IF line ~ 'Rows Removed|Batch Loads|CandidateDocsBatch' THEN
      RETURN NEXT line;
    END IF;
  END LOOP;
END $$;
SELECT setval('regress_calls', 1, false);
SELECT e.emp_id, d.id, length(d.content), d.tableoid::regclass, d.xmin, d.cmax
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.filesize > 5000 AND regress_count_stable(d.id)
 WHERE e.emp_id IN (1, 2, 4) ORDER BY 1, 2;
SELECT nextval('regress_calls') - 1 AS calls;
SELECT regress_removed($$SELECT e.emp_id, d.id, length(d.content)
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.filesize > 5000 AND regress_count_stable(d.id)
 WHERE e.emp_id IN (1, 2, 4)$$);
SELECT setval('regress_calls', 1, false);
SET candidate_docs.enable_batched_join = off;
SELECT e.emp_id, d.id, length(d.content), d.tableoid::regclass, d.xmin, d.cmax
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.filesize > 5000 AND regress_count_stable(d.id)
 WHERE e.emp_id IN (1, 2, 4) ORDER BY 1, 2;
SELECT nextval('regress_calls') - 1 AS calls;
SELECT regress_removed($$SELECT e.emp_id, d.id, length(d.content)
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.filesize > 5000 AND regress_count_stable(d.id)
 WHERE e.emp_id IN (1, 2, 4)$$);
RESET candidate_docs.enable_batched_join;
-- system columns in conditions and results, with and without content
SELECT * FROM both_ways($$SELECT e.emp_id, d.id, d.tableoid::regclass::text AS t,
  d.ctid::text AS c, d.xmin::text AS x
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.tableoid = 'candidate_documents'::regclass AND d.xmin = '0'::xid$$);
SELECT * FROM both_ways($$SELECT e.emp_id, d.id, md5(d.content),
  d.tableoid::regclass::text AS t, d.cmin::text AS c
  FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.tableoid = 'candidate_documents'::regclass AND d.cmin = '0'::cid
 WHERE e.emp_id BETWEEN 1 AND 20$$);
SELECT count(*) FROM hr e JOIN candidate_documents d ON d.candidate_id = e.cid
   AND d.tableoid = 'candidate_documents'::regclass AND d.xmax = '0'::xid
 WHERE e.emp_id BETWEEN 1 AND 20 AND length(d.content) > 0;
-- a volatile condition: the scan checks it, once per document and outer row
SELECT setval('regress_calls', 1, false);
CREATE FUNCTION regress_count_volatile(text) RETURNS boolean VOLATILE LANGUAGE plpgsql
  AS $$ BEGIN PERFORM nextval('regress_calls'); RETURN true; END $$;
SELECT count(*), count(d.content) FROM hr e JOIN candidate_documents d
    ON d.candidate_id = e.cid AND regress_count_volatile(d.id)
 WHERE e.emp_id IN (1, 2, 4);
SELECT nextval('regress_calls') - 1 AS calls;
DROP FUNCTION regress_count_stable(text), regress_count_volatile(text),
  regress_removed(text), regress_analyze(text);
DROP SEQUENCE regress_calls;

DROP FUNCTION both_ways(text);
DROP TABLE hr, hr_kombo;
RESET enable_memoize;
\i sql/include/teardown.sql
