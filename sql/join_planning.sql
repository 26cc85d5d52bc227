--
-- join_planning: a join on candidate_id always plans as a nested loop over
-- the parameterized scan, however many rows the outer side is estimated to
-- have; the scan without candidate ids is taken only when nothing else is
-- possible, and then planning fails with the usual error.
--
\i sql/include/setup.sql

-- a set-returning function estimated at a billion rows
CREATE FUNCTION regress_many_ids() RETURNS SETOF text ROWS 1e9 LANGUAGE sql
  AS $$ VALUES ('e44aa283528e6fde7d542194'), ('5f1c2e3a4b5c6d7e8f901234') $$;
-- a table the planner believes holds 10^12 rows
CREATE TABLE regress_big (candidate_id text) WITH (autovacuum_enabled = off);
INSERT INTO regress_big
  VALUES ('e44aa283528e6fde7d542194'), ('5f1c2e3a4b5c6d7e8f901234');
UPDATE pg_class SET reltuples = 1e12, relpages = 1e6
 WHERE oid = 'regress_big'::regclass;

-- inner join
EXPLAIN (COSTS OFF)
SELECT o.c, d.id FROM regress_many_ids() o(c)
  JOIN candidate_documents d ON d.candidate_id = o.c;
SELECT o.c, d.id FROM regress_many_ids() o(c)
  JOIN candidate_documents d ON d.candidate_id = o.c ORDER BY 2;
EXPLAIN (COSTS OFF)
SELECT b.candidate_id, d.id FROM regress_big b
  JOIN candidate_documents d ON d.candidate_id = b.candidate_id;
SELECT b.candidate_id, d.id FROM regress_big b
  JOIN candidate_documents d ON d.candidate_id = b.candidate_id ORDER BY 2;
-- LEFT JOIN
EXPLAIN (COSTS OFF)
SELECT o.c, d.id FROM regress_many_ids() o(c)
  LEFT JOIN candidate_documents d ON d.candidate_id = o.c;
SELECT b.candidate_id, d.id FROM regress_big b
  LEFT JOIN candidate_documents d ON d.candidate_id = b.candidate_id ORDER BY 2;
-- semi-joins: IN and EXISTS
EXPLAIN (COSTS OFF)
SELECT d.id FROM candidate_documents d
 WHERE d.candidate_id IN (SELECT c FROM regress_many_ids() c);
SELECT d.id FROM candidate_documents d
 WHERE d.candidate_id IN (SELECT c FROM regress_many_ids() c) ORDER BY 1;
SELECT d.id FROM candidate_documents d
 WHERE EXISTS (SELECT FROM regress_big b WHERE b.candidate_id = d.candidate_id)
 ORDER BY 1;
-- two huge relations: 10^24 outer rows
SELECT count(*) FROM regress_big b, regress_big b2, candidate_documents d
 WHERE d.candidate_id = b.candidate_id;

-- ORDER BY the outer side's index with a LIMIT: the batched join over the
-- index scan keeps the order, so no Sort has to read the whole join first
CREATE TABLE regress_hr5k (emp_id int PRIMARY KEY, cid text);
INSERT INTO regress_hr5k SELECT g, 'ord-' || g FROM generate_series(1, 5000) g;
ANALYZE regress_hr5k;
EXPLAIN (COSTS OFF)
SELECT e.emp_id, d.id FROM regress_hr5k e
  JOIN candidate_documents d ON d.candidate_id = e.cid ORDER BY e.emp_id LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT e.emp_id FROM regress_hr5k e
 WHERE EXISTS (SELECT 1 FROM candidate_documents d WHERE d.candidate_id = e.cid)
 ORDER BY e.emp_id LIMIT 5;
DROP TABLE regress_hr5k;

-- nothing can feed the scan candidate ids: the usual error
SELECT * FROM regress_error($$
  SELECT d.id FROM regress_big b
    FULL JOIN candidate_documents d ON d.candidate_id = b.candidate_id $$);
SELECT * FROM regress_error($$
  SELECT d.id FROM regress_big b
    JOIN candidate_documents d ON d.filename = b.candidate_id $$);

DROP TABLE regress_big;
DROP FUNCTION regress_many_ids();
\i sql/include/teardown.sql
