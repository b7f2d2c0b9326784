-- Grants on the objects of the parts above (roles: 05_roles.sql).  Views
-- run with the owner's rights, so an analyst reads the BI views without any
-- right on the tables that hold personal data.
-- crm_analyst: the views, results and logs; no personal data.
GRANT SELECT ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics,
	@extschema@.segment_history, @extschema@.refresh_runs,
	@extschema@.rfm_break_points, @extschema@.models, @extschema@.model_calibration,
	@extschema@.settings, @extschema@.rfm_fixed_breaks, @extschema@.segment_rules,
	@extschema@.segment_map
TO crm_analyst;

-- crm_admin: the data, the configuration, the refresh and its schedule.
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.customers, @extschema@.transactions, @extschema@.transaction_items,
	@extschema@.settings, @extschema@.rfm_fixed_breaks, @extschema@.segment_rules,
	@extschema@.segment_map, @extschema@.models, @extschema@.model_calibration,
	@extschema@.refresh_runs, @extschema@.rfm_break_points,
	@extschema@.segment_history
TO crm_admin;
GRANT USAGE, SELECT ON @extschema@.models_model_id_seq, @extschema@.refresh_runs_run_id_seq TO crm_admin;

-- Routines that change configuration, models or the snapshot: crm_admin only.
DO $grants$
DECLARE
	routine regprocedure;
BEGIN
	FOREACH routine IN ARRAY ARRAY[
		'@extschema@.activate_segment_rules(text)',
		'@extschema@.set_transaction_source(regclass)',
		'@extschema@.reset_transaction_source()',
		'@extschema@.schedule_refresh(text)',
		'@extschema@.unschedule_refresh()']::pg_catalog.regprocedure[]
	LOOP
		EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO crm_admin', routine);
	END LOOP;
END
$grants$;
