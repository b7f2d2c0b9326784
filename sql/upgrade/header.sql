-- retail_crm upgrade script, assembled by the Makefile from sql/upgrade/ and
-- the parts the new version adds.
\echo Use "ALTER EXTENSION retail_crm UPDATE" to load this file. \quit
