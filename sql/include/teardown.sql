--
-- Drops what sql/include/setup.sql made.
--
DROP FUNCTION regress_error(text), regress_is_uuid4(text);
RESET regress.mock_port;
DROP FOREIGN TABLE candidate_documents, candidate_attachments;
DROP USER MAPPING FOR CURRENT_USER SERVER regress_checkr;
DROP USER MAPPING FOR CURRENT_USER SERVER regress_kombo;
DROP SERVER regress_checkr, regress_kombo;
DROP EXTENSION candidate_docs;
