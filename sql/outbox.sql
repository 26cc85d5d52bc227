--
-- outbox: under delivery 'after_commit', INSERT INTO candidate_documents and
-- create_candidate_story() validate as 'immediate' does and queue a row in
-- candidate_docs.outbox; nothing is sent before COMMIT; deliver() sends each
-- committed row once, with its own Idempotency-Key and its role's identity.
--
\i sql/include/setup.sql
\set SHOW_CONTEXT never
SET timezone = 'UTC';
-- this file calls deliver() itself: no background deliverer
ALTER SYSTEM SET candidate_docs.delivery_worker = off;
SELECT pg_reload_conf();
-- wait until no deliverer is left in this database
DO $$
BEGIN
  FOR i IN 1..200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
                           WHERE backend_type = 'candidate_docs deliverer'
                             AND datname = current_database());
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
SELECT pg_sleep(0.5);

-- The POSTs the mock received: path, status and Idempotency-Key.
CREATE FUNCTION regress_posts(log jsonb,
  OUT path text, OUT status int, OUT idem_key text)
RETURNS SETOF record LANGUAGE sql AS $$
  SELECT r->>'path', (r->>'status')::int, r->'headers'->>'idempotency-key'
    FROM jsonb_array_elements(log) AS r
   WHERE r->>'method' = 'POST'
   ORDER BY (r->>'seq')::int
$$;
CREATE TEMP TABLE regress_keys (id bigint, key text);

--
-- the option and the setting
--
ALTER SERVER regress_checkr OPTIONS (ADD delivery 'later');  -- ERROR
ALTER FOREIGN TABLE candidate_documents OPTIONS (ADD delivery 'sometimes');  -- ERROR
SET candidate_docs.delivery = 'eventually';  -- ERROR
SHOW candidate_docs.delivery;
\d candidate_docs.deliveries

-- EXPLAIN says when an INSERT is queued
EXPLAIN (COSTS OFF) INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c1', 'consent', 'a.pdf', '%PDF-1.4');
SET candidate_docs.delivery = 'after_commit';
EXPLAIN (COSTS OFF) INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c1', 'consent', 'a.pdf', '%PDF-1.4');

--
-- bad input is refused at once and queues nothing, even when only the
-- third row of one INSERT is bad
--
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c1', 'no_such_type', 'a.pdf', '%PDF-1.4');  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  SELECT 'c' || i, 'consent', CASE WHEN i = 3 THEN '' ELSE 'f' || i || '.pdf' END, '%PDF-1.4'
    FROM generate_series(1, 4) AS i;  -- ERROR
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c1', 'consent', 'a.txt', 'plain text');  -- ERROR
SELECT candidate_docs.create_candidate_story('rpt-1', '{"content": ""}');  -- ERROR
SELECT count(*) AS queued FROM candidate_docs.deliveries;

--
-- ROLLBACK, and a failed statement, queue nothing
--
BEGIN;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-rb', 'consent', 'rolled-back.pdf', '%PDF-1.4')
  RETURNING candidate_id, filename, content_type, filesize, id,
            attrs->>'delivery_status' AS status;
SELECT candidate_docs.create_candidate_story('rpt-rb', '{"content": "rolled back"}',
                                           server => 'regress_checkr') ? 'delivery_id' AS queued;
ROLLBACK;
BEGIN;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-fail', 'consent', 'failed.pdf', '%PDF-1.4');
SELECT 1 / 0;  -- ERROR
ROLLBACK;
SELECT count(*) AS queued FROM candidate_docs.deliveries;
SELECT * FROM candidate_docs.deliver();

--
-- committed writes: nothing is sent before COMMIT; deliver() sends each once
--
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
-- the INSERT of two documents and a story, with the keys they return
CREATE FUNCTION regress_queue() RETURNS void LANGUAGE sql AS $$
  WITH q AS (
    INSERT INTO candidate_documents (candidate_id, type, filename, content)
      VALUES ('c-ok-1', 'consent', 'one.pdf', '%PDF-1.4 one'),
             ('c-ok-2', 'passport', 'two.pdf', '%PDF-1.4 two')
      RETURNING attrs)
  INSERT INTO regress_keys
    SELECT (attrs->>'delivery_id')::bigint, attrs->>'idempotency_key' FROM q;
  INSERT INTO regress_keys
    SELECT (s->>'delivery_id')::bigint, s->>'idempotency_key'
      FROM candidate_docs.create_candidate_story('rpt-ok', '{"content": "queued story"}',
                                                  'regress-story-key', 'regress_checkr') AS s;
$$;
BEGIN;
SELECT regress_queue();
SELECT * FROM candidate_docs.deliver();  -- ERROR
ROLLBACK;
SELECT count(*) AS queued FROM candidate_docs.deliveries;
-- the same, committed
SELECT regress_queue();
SELECT count(*) AS keys, count(DISTINCT key) AS distinct_keys,
       count(*) FILTER (WHERE regress_is_uuid4(key)) AS uuid4_keys
  FROM regress_keys;
SELECT queued_by = current_user AS mine, server, kind, target, status, attempts,
       delivered_at IS NULL AS not_delivered, last_error, result
  FROM candidate_docs.deliveries ORDER BY id;
\set log `curl -s "$MOCK_URL/_mock/requests"`
SELECT count(*) AS posts_before_deliver FROM regress_posts(:'log');
SELECT * FROM candidate_docs.deliver();
SELECT * FROM candidate_docs.deliver();
\set log `curl -s "$MOCK_URL/_mock/requests"`
-- one POST per row, each with the row's key
SELECT p.path, p.status, k.id IS NOT NULL AS key_of_a_row
  FROM regress_posts(:'log') AS p LEFT JOIN regress_keys k ON k.key = p.idem_key
 ORDER BY p.path;
SELECT kind, target, status, attempts, delivered_at IS NOT NULL AS delivered,
       last_error, result->>'object' AS object, result ? 'id' AS has_id
  FROM candidate_docs.deliveries ORDER BY id;
SELECT candidate_docs.await_delivery(id)->>'content' AS story
  FROM regress_keys WHERE key = 'regress-story-key';
-- the bytes are dropped once delivered
SELECT count(*) AS rows_with_bytes FROM candidate_docs.outbox
 WHERE content IS NOT NULL OR request IS NOT NULL;

--
-- the table's option, and the setting over it
--
RESET candidate_docs.delivery;
ALTER FOREIGN TABLE candidate_documents OPTIONS (ADD delivery 'after_commit');
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-opt', 'consent', 'option.pdf', '%PDF-1.4');
SET candidate_docs.delivery = 'immediate';
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-now', 'consent', 'now.pdf', '%PDF-1.4')
  RETURNING candidate_id, filename, id IS NOT NULL AS created;
RESET candidate_docs.delivery;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
SELECT target, status FROM candidate_docs.deliveries WHERE target IN ('c-opt', 'c-now');
-- SET LOCAL for one transaction
ALTER FOREIGN TABLE candidate_documents OPTIONS (DROP delivery);
BEGIN;
SET LOCAL candidate_docs.delivery = 'after_commit';
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-local', 'consent', 'local.pdf', '%PDF-1.4');
COMMIT;
SHOW candidate_docs.delivery;
SELECT target, status FROM candidate_docs.deliveries WHERE target = 'c-local';
SELECT * FROM candidate_docs.deliver();

--
-- a read-only transaction queues nothing
--
SET candidate_docs.delivery = 'after_commit';
BEGIN READ ONLY;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-ro', 'consent', 'ro.pdf', '%PDF-1.4');  -- ERROR
ROLLBACK;
BEGIN READ ONLY;
SELECT candidate_docs.create_candidate_story('rpt-ro', '{"content": "read only"}',
                                           server => 'regress_checkr');  -- ERROR
ROLLBACK;
SELECT count(*) AS queued_read_only FROM candidate_docs.deliveries WHERE target IN ('c-ro', 'rpt-ro');

--
-- cancel and retry; an API error fails the row with the API's message
--
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-cancel', 'consent', 'cancel.pdf', '%PDF-1.4'),
         ('missing-cand', 'consent', 'missing.pdf', '%PDF-1.4');
SELECT candidate_docs.cancel_delivery(id) FROM candidate_docs.deliveries WHERE target = 'c-cancel';
SELECT candidate_docs.cancel_delivery(id) FROM candidate_docs.deliveries WHERE target = 'c-cancel';  -- ERROR
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT * FROM candidate_docs.deliver();
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
SELECT target, status, attempts, last_error FROM candidate_docs.deliveries
 WHERE target IN ('c-cancel', 'missing-cand') ORDER BY id;
SELECT candidate_docs.await_delivery(id) FROM candidate_docs.deliveries WHERE target = 'c-cancel';  -- ERROR
SELECT candidate_docs.await_delivery(id) FROM candidate_docs.deliveries WHERE target = 'missing-cand';  -- ERROR
SELECT candidate_docs.retry_delivery(id) FROM candidate_docs.deliveries WHERE target = 'missing-cand';
SELECT target, status, attempts FROM candidate_docs.deliveries WHERE target = 'missing-cand';
SELECT candidate_docs.retry_delivery(id) FROM candidate_docs.deliveries WHERE target = 'missing-cand';  -- ERROR
SELECT * FROM candidate_docs.deliver();
SELECT target, status, attempts FROM candidate_docs.deliveries WHERE target = 'missing-cand';
SELECT candidate_docs.await_delivery(0);  -- ERROR

--
-- roles: each sees and acts on its own rows; the outbox itself is closed;
-- a row is sent with its role's user mapping, checked again at delivery
--
CREATE ROLE regress_outbox_a;
CREATE ROLE regress_outbox_b;
CREATE ROLE regress_outbox_c;
CREATE ROLE regress_outbox_d;
GRANT USAGE ON FOREIGN SERVER regress_checkr
  TO regress_outbox_a, regress_outbox_b, regress_outbox_c, regress_outbox_d;
GRANT INSERT ON candidate_documents
  TO regress_outbox_a, regress_outbox_b, regress_outbox_c, regress_outbox_d;
CREATE USER MAPPING FOR regress_outbox_a SERVER regress_checkr OPTIONS (api_key 'test_checkr_key');
CREATE USER MAPPING FOR regress_outbox_b SERVER regress_checkr OPTIONS (api_key 'test_checkr_key');
CREATE USER MAPPING FOR regress_outbox_c SERVER regress_checkr OPTIONS (api_key 'test_checkr_key');
CREATE USER MAPPING FOR regress_outbox_d SERVER regress_checkr OPTIONS (api_key 'test_checkr_key');
-- a view's owner is the identity of the rows inserted through it
CREATE VIEW regress_docs_view AS
  SELECT candidate_id, type, filename, content FROM candidate_documents;
ALTER VIEW regress_docs_view OWNER TO regress_outbox_d;
GRANT INSERT ON regress_docs_view TO regress_outbox_a;
SET ROLE regress_outbox_a;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-role-a1', 'consent', 'a1.pdf', '%PDF-1.4'),
         ('c-role-a2', 'consent', 'a2.pdf', '%PDF-1.4');
INSERT INTO regress_docs_view VALUES ('c-role-view', 'consent', 'view.pdf', '%PDF-1.4');
SELECT queued_by, target, status FROM candidate_docs.deliveries ORDER BY id;
SELECT count(*) FROM candidate_docs.outbox;  -- ERROR
SET ROLE regress_outbox_b;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-role-b', 'consent', 'b.pdf', '%PDF-1.4');
SELECT queued_by, target, status FROM candidate_docs.deliveries ORDER BY id;
SET ROLE regress_outbox_c;
INSERT INTO candidate_documents (candidate_id, type, filename, content)
  VALUES ('c-role-c', 'consent', 'c.pdf', '%PDF-1.4');
RESET ROLE;
SELECT id AS a1 FROM candidate_docs.deliveries WHERE target = 'c-role-a1' \gset
SET ROLE regress_outbox_b;
SELECT candidate_docs.await_delivery(:a1, '0 s');  -- ERROR
SELECT candidate_docs.cancel_delivery(:a1);  -- ERROR
SELECT candidate_docs.retry_delivery(:a1);  -- ERROR
-- a role's deliver() sends its own rows only
SELECT * FROM candidate_docs.deliver();
RESET ROLE;
SELECT queued_by, target, status FROM candidate_docs.deliveries
 WHERE target LIKE 'c-role-%' ORDER BY id;
-- between COMMIT and delivery: a's mapping dropped, d's USAGE revoked
-- (the view's row), c dropped
DROP USER MAPPING FOR regress_outbox_a SERVER regress_checkr;
REVOKE USAGE ON FOREIGN SERVER regress_checkr FROM regress_outbox_d;
DROP USER MAPPING FOR regress_outbox_c SERVER regress_checkr;
REVOKE ALL ON FOREIGN SERVER regress_checkr FROM regress_outbox_c;
REVOKE ALL ON candidate_documents FROM regress_outbox_c;
DROP ROLE regress_outbox_c;
\! curl -s -w '\n' -X POST "$MOCK_URL/_mock/reset"
SELECT * FROM candidate_docs.deliver();
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
SELECT queued_by, target, status, attempts, last_error FROM candidate_docs.deliveries
 WHERE target LIKE 'c-role-%' ORDER BY id;

--
-- delivered and failed rows past candidate_docs.delivery_retention go
--
SET candidate_docs.delivery_retention = '1 s';
UPDATE candidate_docs.outbox SET queued_at = queued_at - interval '1 minute'
 WHERE target IN ('c-ok-1', 'missing-cand');
SELECT * FROM candidate_docs.deliver();
SELECT count(*) AS gone FROM (VALUES ('c-ok-1'), ('missing-cand')) AS v(t)
 WHERE NOT EXISTS (SELECT FROM candidate_docs.outbox WHERE target = v.t);
RESET candidate_docs.delivery_retention;

-- candidate_docs.stats counts the writes delivered and failed for good
-- (each attempt that ended a row: a failed row queued again by
-- retry_delivery() and then delivered counts once in each)
SELECT server, deliveries, delivery_failures FROM candidate_docs.stats
 WHERE deliveries + delivery_failures > 0 ORDER BY server;

-- clean up
RESET candidate_docs.delivery;
DROP USER MAPPING FOR regress_outbox_b SERVER regress_checkr;
DROP USER MAPPING FOR regress_outbox_d SERVER regress_checkr;
DROP VIEW regress_docs_view;
REVOKE ALL ON candidate_documents FROM regress_outbox_a, regress_outbox_b, regress_outbox_d;
REVOKE ALL ON FOREIGN SERVER regress_checkr FROM regress_outbox_a, regress_outbox_b;
DROP ROLE regress_outbox_a, regress_outbox_b, regress_outbox_d;
DROP FUNCTION regress_posts(jsonb), regress_queue();
ALTER SYSTEM RESET candidate_docs.delivery_worker;
SELECT pg_reload_conf();
\i sql/include/teardown.sql
