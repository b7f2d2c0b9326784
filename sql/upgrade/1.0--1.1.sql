-- Changes to the objects of 1.0.  What 1.1 adds comes from its own parts,
-- which the Makefile appends (see UPGRADE_1.0_1.1_PARTS).

-- 1.0 granted crm_admin every right on every relation of the schema, views
-- included; 1.1 grants table by table, and admins read views as analysts.
REVOKE ALL ON
	@extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics
FROM crm_admin;
