-- Roles, created first so that every later part grants on its own objects
-- (an upgrade script then carries the grants of what it adds).  Created only
-- when missing: roles belong to the whole cluster and may exist from an
-- install in another database.  NOLOGIN: grant them to login roles.
--   crm_admin     configuration, data, refresh and scheduling
--   crm_analyst   views and results without personal data
--   crm_marketer  what analysts see, plus audience lists of consenting customers

DO $roles$
DECLARE
	role_name text;
BEGIN
	FOREACH role_name IN ARRAY ARRAY['crm_admin', 'crm_analyst', 'crm_marketer'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', role_name);
		END IF;
	END LOOP;
END
$roles$;

GRANT USAGE ON SCHEMA @extschema@ TO crm_admin, crm_analyst, crm_marketer;

-- Role inheritance: marketers and admins see what analysts see.
GRANT crm_analyst TO crm_marketer;
GRANT crm_analyst TO crm_admin;
