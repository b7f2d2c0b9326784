-- retail_crm install script, assembled by the Makefile from the sql/ parts.
\echo Use "CREATE EXTENSION retail_crm" to load this file. \quit

-- The schema is fixed (control file: schema = crm, relocatable = false), so
-- BI tools and the parts below can rely on the name crm.
