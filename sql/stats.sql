--
-- stats: candidate_docs.stats counts every request per server by response
-- class, with retries, bytes, budget waits and latency, and its counts equal
-- what the mock API received; stats_reset() zeroes them.
--
\i sql/include/setup.sql
\set SHOW_CONTEXT never
SELECT candidate_docs.stats_reset();

\d candidate_docs.stats

-- 2xx: two candidates at once, then one's content (a download, counted too)
SELECT count(*) FROM candidate_documents
 WHERE candidate_id IN ('e44aa283528e6fde7d542194', '5f1c2e3a4b5c6d7e8f901234');
SELECT id, length(content) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194' AND type = 'consent';
-- 404: an unknown candidate
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'missing-stats';
-- 429, then a retry that succeeds
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/5f1c2e3a4b5c6d7e8f901234/", "times": 1, "action": "respond", "status": 429, "headers": {"Retry-After": "0", "Content-Type": "application/json"}, "body": "{\"error\": \"Too many requests\"}"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = '5f1c2e3a4b5c6d7e8f901234';
-- 5xx twice, then success
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/e44aa283528e6fde7d542194/", "times": 2, "action": "respond", "status": 503, "body": "unavailable"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194';
-- a connection reset: a network error, then a retry
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/e44aa283528e6fde7d542194/", "times": 1, "action": "reset"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194';
-- another 4xx: not retried, the query fails
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/faults" -d '{"path_contains": "/candidates/e44aa283528e6fde7d542194/", "times": 1, "action": "respond", "status": 400, "headers": {"Content-Type": "application/json"}, "body": "{\"error\": \"Bad request\"}"}'
SELECT count(*) FROM candidate_documents WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
-- Kombo
SELECT count(*) FROM candidate_attachments WHERE candidate_id = 'BTbkvY2w5ou3z3hdwuKcKzDh';

SELECT server, requests, responses_2xx, responses_404, responses_429,
       responses_4xx, responses_5xx, responses_other, network_errors, retries,
       bytes > 0 AS bytes, budget_waits, latency_p50_ms > 0 AS p50,
       latency_p50_ms <= latency_p95_ms AND latency_p95_ms <= latency_p99_ms AS ordered,
       inflight, shared
  FROM candidate_docs.stats ORDER BY server;

-- the same counts from the mock's own log, per server (a reset connection
-- is logged with the status it began to send), and the response bytes it
-- sent
\set mock_log `curl -s "$MOCK_URL/_mock/requests"`
CREATE TEMP VIEW mock_counts AS
SELECT CASE WHEN e->>'path' LIKE '/kombo/%' THEN 'regress_kombo'
            ELSE 'regress_checkr' END::name AS server,
       count(*) AS requests,
       count(*) FILTER (WHERE e->>'fault' IS DISTINCT FROM 'reset'
                        AND (e->>'status')::int BETWEEN 200 AND 299) AS responses_2xx,
       count(*) FILTER (WHERE (e->>'status')::int = 404) AS responses_404,
       count(*) FILTER (WHERE (e->>'status')::int = 429) AS responses_429,
       count(*) FILTER (WHERE (e->>'status')::int BETWEEN 400 AND 499
                        AND (e->>'status')::int NOT IN (404, 429)) AS responses_4xx,
       count(*) FILTER (WHERE (e->>'status')::int >= 500) AS responses_5xx,
       count(*) FILTER (WHERE e->>'fault' = 'reset') AS network_errors,
       sum((e->>'resp_bytes')::bigint) AS bytes
  FROM json_array_elements(:'mock_log'::json) e
 GROUP BY 1;
SELECT s.server,
       s.requests = m.requests AS requests,
       s.responses_2xx = m.responses_2xx AS "2xx",
       s.responses_404 = m.responses_404 AS "404",
       s.responses_429 = m.responses_429 AS "429",
       s.responses_4xx = m.responses_4xx AS "4xx",
       s.responses_5xx = m.responses_5xx AS "5xx",
       s.network_errors = m.network_errors AS network,
       s.bytes = m.bytes AS bytes
  FROM candidate_docs.stats s JOIN mock_counts m USING (server)
 ORDER BY 1;

-- the view writes nothing: it works in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT server, requests FROM candidate_docs.stats ORDER BY server;
COMMIT;

-- the rate budget: 60 requests a minute hold six at once, then one a
-- second, so two of eight candidates wait about a second each
\! curl -s -o /dev/null -X POST "$MOCK_URL/_mock/reset"
SELECT candidate_docs.stats_reset();
ALTER SERVER regress_checkr OPTIONS (ADD requests_per_minute '60');
SELECT count(*) FROM candidate_documents
 WHERE candidate_id IN ('b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8');
SELECT server, requests, budget_waits, budget_wait_ms >= 1500 AS waited
  FROM candidate_docs.stats WHERE server = 'regress_checkr';
ALTER SERVER regress_checkr OPTIONS (DROP requests_per_minute);

-- stats_reset() zeroes the counters; it is not for everyone
SELECT candidate_docs.stats_reset();
SELECT server, requests, responses_2xx, retries, bytes, budget_waits,
       latency_p50_ms FROM candidate_docs.stats ORDER BY server;
CREATE ROLE regress_stats_reader;
SET ROLE regress_stats_reader;
SELECT candidate_docs.stats_reset();  -- ERROR
-- a role sees the servers it may use, or all with pg_read_all_stats
SELECT server FROM candidate_docs.stats;
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER regress_kombo TO regress_stats_reader;
SET ROLE regress_stats_reader;
SELECT server FROM candidate_docs.stats;
RESET ROLE;
GRANT pg_read_all_stats TO regress_stats_reader;
SET ROLE regress_stats_reader;
SELECT server FROM candidate_docs.stats ORDER BY server;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER regress_kombo FROM regress_stats_reader;
DROP ROLE regress_stats_reader;

DROP VIEW mock_counts;
\i sql/include/teardown.sql

-- the view and stats_reset() came with version 1.1: an update from 1.0 adds
-- them (1.0 and 1.1 were installed into a schema candidate_docs that
-- CREATE EXTENSION made; 1.2 makes it itself)
CREATE SCHEMA candidate_docs;
CREATE EXTENSION candidate_docs VERSION '1.0' SCHEMA candidate_docs;
SELECT count(*) FROM candidate_docs.stats;  -- ERROR
ALTER EXTENSION candidate_docs UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'candidate_docs';
SELECT count(*) FROM candidate_docs.stats WHERE requests < 0;
-- 1.2 gives every function a fixed search_path
ALTER EXTENSION candidate_docs UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'candidate_docs';
SELECT p.proname, p.proconfig FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
  JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
 WHERE e.extname = 'candidate_docs' ORDER BY 1;
DROP EXTENSION candidate_docs;
DROP SCHEMA candidate_docs;
