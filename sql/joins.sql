--
-- joins: a local table joined on candidate_id drives a nested loop whose
-- outer side is read in batches, one request per distinct outer id; LEFT
-- JOIN, semi-join, = ANY of a sub-select; results equal those of the same
-- ids given as a list.  (batched_joins compares it with the plain loop.)
--
\i sql/include/setup.sql
\setenv COUNT 'import collections, json, sys; rs = json.load(sys.stdin); c = collections.Counter(r["path"] for r in rs); print(len(rs), "requests,", len(c), "distinct paths, most requests for one path:", max(c.values(), default=0))'

-- Ann and Dee share a candidate; Eve has none; Fay's is unknown to Checkr
CREATE TABLE hr_employees (emp_id int PRIMARY KEY, name text, candidate_id text);
INSERT INTO hr_employees VALUES
  (1, 'Ann', 'e44aa283528e6fde7d542194'),
  (2, 'Bob', '5f1c2e3a4b5c6d7e8f901234'),
  (3, 'Cid', 'empty0000000000000000000'),
  (4, 'Dee', 'e44aa283528e6fde7d542194'),
  (5, 'Eve', NULL),
  (6, 'Fay', 'missing-fay');
ANALYZE hr_employees;

--
-- inner join: a nested loop whose inner foreign scan takes the outer id
--
EXPLAIN (COSTS OFF)
SELECT e.name, d.id FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.candidate_id;
SELECT e.name, d.id, d.candidate_id = e.candidate_id AS same
  FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.candidate_id
 ORDER BY 1, 2;
-- one request per distinct id (4), whether or not Memoize caches them
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

SET enable_memoize = off;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
EXPLAIN (COSTS OFF)
SELECT e.name, d.id FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.candidate_id;
SELECT e.name, d.id FROM hr_employees e
  JOIN candidate_documents d ON d.candidate_id = e.candidate_id
 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- the same outer id later in the loop is not fetched again either
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT e.name, count(d.id)
  FROM (VALUES (1, 'x', '5f1c2e3a4b5c6d7e8f901234'), (2, 'y', 'e44aa283528e6fde7d542194'),
               (3, 'z', '5f1c2e3a4b5c6d7e8f901234')) AS e(n, name, candidate_id)
  JOIN candidate_documents d ON d.candidate_id = e.candidate_id
 GROUP BY e.name ORDER BY 1;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- LEFT JOIN: employees without documents stay, with NULLs
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
EXPLAIN (COSTS OFF)
SELECT e.name, d.id FROM hr_employees e
  LEFT JOIN candidate_documents d ON d.candidate_id = e.candidate_id;
SELECT e.name, d.id, d.type FROM hr_employees e
  LEFT JOIN candidate_documents d ON d.candidate_id = e.candidate_id
 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a condition on the foreign side of the join clause stays there
SELECT e.name, d.id FROM hr_employees e
  LEFT JOIN candidate_documents d ON d.candidate_id = e.candidate_id AND d.type = 'consent'
 WHERE e.emp_id <= 3
 ORDER BY 1, 2;
RESET enable_memoize;

--
-- semi-join: WHERE candidate_id IN (SELECT ...)
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
EXPLAIN (COSTS OFF)
SELECT id FROM candidate_documents
 WHERE candidate_id IN (SELECT candidate_id FROM hr_employees WHERE emp_id <> 6);
SELECT candidate_id, id FROM candidate_documents
 WHERE candidate_id IN (SELECT candidate_id FROM hr_employees WHERE emp_id <> 6)
 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- = ANY(ARRAY(SELECT ...)): one scan, ids from an initplan
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- EXPLAIN (COSTS OFF) with an initplan named as PostgreSQL 17 and later name
-- it ("InitPlan 1"; 15 adds "(returns $0)")
CREATE FUNCTION regress_plan(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  ln text;
BEGIN
  FOR ln IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    RETURN NEXT regexp_replace(ln, '^( *InitPlan [0-9]+) \(returns \$[0-9]+\)$', '\1');
  END LOOP;
END $$;
SELECT * FROM regress_plan($$
  SELECT id FROM candidate_documents
   WHERE candidate_id = ANY (ARRAY(SELECT candidate_id FROM hr_employees)) $$);
SELECT candidate_id, id FROM candidate_documents
 WHERE candidate_id = ANY (ARRAY(SELECT candidate_id FROM hr_employees))
 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"

--
-- many outer rows: the join returns exactly the rows of the same ids given
-- as a list, and sends one request per distinct id
--
CREATE TABLE regress_outer AS
  SELECT g AS n, 'gen-' || (g % 40) AS candidate_id FROM generate_series(1, 120) g;
ANALYZE regress_outer;
CREATE TABLE regress_by_list AS
  SELECT d.candidate_id, d.id, d.type, d.filename FROM candidate_documents d
   WHERE d.candidate_id = ANY (ARRAY(SELECT DISTINCT candidate_id FROM regress_outer));
SELECT count(*) AS listed_rows, count(DISTINCT candidate_id) AS listed_ids
  FROM regress_by_list;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
CREATE TABLE regress_by_join AS
  SELECT d.candidate_id, d.id, d.type, d.filename
    FROM (SELECT DISTINCT candidate_id FROM regress_outer) o
    JOIN candidate_documents d ON d.candidate_id = o.candidate_id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$COUNT"
SELECT (SELECT count(*) FROM regress_by_join) AS join_rows,
       (SELECT count(*) FROM (TABLE regress_by_join EXCEPT ALL TABLE regress_by_list) x) AS only_in_join,
       (SELECT count(*) FROM (TABLE regress_by_list EXCEPT ALL TABLE regress_by_join) x) AS only_in_list;
-- every outer row (each id three times), with and without Memoize
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT count(*) AS rows, count(DISTINCT d.id) AS documents,
       count(*) = 3 * (SELECT count(*) FROM regress_by_list) AS three_each
  FROM regress_outer o JOIN candidate_documents d ON d.candidate_id = o.candidate_id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$COUNT"
SET enable_memoize = off;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
EXPLAIN (COSTS OFF)
SELECT count(*) FROM regress_outer o
  JOIN candidate_documents d ON d.candidate_id = o.candidate_id;
SELECT count(*) AS rows, count(DISTINCT d.id) AS documents,
       count(*) = 3 * (SELECT count(*) FROM regress_by_list) AS three_each
  FROM regress_outer o JOIN candidate_documents d ON d.candidate_id = o.candidate_id;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$COUNT"
RESET enable_memoize;

--
-- Kombo joins the same way; unknown ids in a join: one WARNING for the scan
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT o.c, a.id, a.type FROM (VALUES ('BTbkvY2w5ou3z3hdwuKcKzDh'), ('missing-1'),
                                       ('missing-2')) o(c)
  LEFT JOIN candidate_attachments a ON a.candidate_id = o.c
 ORDER BY 1, 2;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a join between the two foreign tables
SELECT d.id AS document, a.id AS attachment
  FROM candidate_documents d
  JOIN candidate_attachments a ON a.candidate_id = d.candidate_id
 WHERE d.candidate_id = 'e44aa283528e6fde7d542194'
 ORDER BY 1, 2 LIMIT 4;

DROP FUNCTION regress_plan(text);
DROP TABLE regress_outer, regress_by_list, regress_by_join, hr_employees;
\i sql/include/teardown.sql
