--
-- user_mappings: a query uses the role's own user mapping, else the one FOR
-- PUBLIC, else fails. The failure's message is PostgreSQL's own, which 17
-- reworded: expected/user_mappings_1.out has 15's.
--
\i sql/include/setup.sql

CREATE ROLE regress_um_role;
GRANT SELECT ON candidate_documents TO regress_um_role;
-- no mapping for the role, none for PUBLIC: nothing is sent
SET ROLE regress_um_role;
SELECT count(*) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';  -- ERROR
RESET ROLE;
\! curl -s "$MOCK_URL/_mock/requests" | python3 -c "$REQUESTS"
-- a mapping FOR PUBLIC serves it
CREATE USER MAPPING FOR PUBLIC SERVER regress_checkr
  OPTIONS (api_key 'test_checkr_key');
SET ROLE regress_um_role;
SELECT count(*) FROM candidate_documents
 WHERE candidate_id = 'e44aa283528e6fde7d542194';
RESET ROLE;
-- its own mapping wins over PUBLIC's: its (wrong) key is the one sent
CREATE USER MAPPING FOR regress_um_role SERVER regress_checkr
  OPTIONS (api_key 'regress_wrong_key');
SET ROLE regress_um_role;
SELECT state, message, detail, key_shown FROM regress_error($$
  SELECT count(*) FROM candidate_documents
   WHERE candidate_id = 'e44aa283528e6fde7d542194' $$);
RESET ROLE;

DROP USER MAPPING FOR regress_um_role SERVER regress_checkr;
DROP USER MAPPING FOR PUBLIC SERVER regress_checkr;
REVOKE ALL ON candidate_documents FROM regress_um_role;
DROP ROLE regress_um_role;
\i sql/include/teardown.sql
