-- What pg_dump saves.  The tables of an extension are not dumped unless
-- registered with pg_extension_config_dump; every table holding data a user
-- loaded, configured or produced is registered here, with the sequences
-- that number its rows.  Registering again only updates the filter, so the
-- upgrade script runs this part as it is.
--
-- pg_restore runs CREATE EXTENSION (which inserts the shipped configuration
-- rows) and then loads the saved rows with COPY.  On the tables whose rows the
-- extension ships and users UPDATE, a row inserted with the key of an
-- existing row replaces it, so the saved values win instead of failing on
-- the key.

CREATE FUNCTION @extschema@.replace_row_with_same_key()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key_match text;
BEGIN
	SELECT string_agg(format('%1$I IS NOT DISTINCT FROM ($1).%1$I', key_column), ' AND ')
	INTO key_match
	FROM unnest(TG_ARGV) AS key_column;
	EXECUTE format('DELETE FROM %I.%I WHERE %s', TG_TABLE_SCHEMA, TG_TABLE_NAME, key_match) USING NEW;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.replace_row_with_same_key() IS
	'Trigger (arguments: the key columns): an inserted row replaces the row with the same key, so pg_restore can load saved configuration over the rows CREATE EXTENSION ships.';

CREATE TRIGGER settings_replace BEFORE INSERT ON @extschema@.settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
CREATE TRIGGER rfm_fixed_breaks_replace BEFORE INSERT ON @extschema@.rfm_fixed_breaks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('metric');
CREATE TRIGGER segment_map_replace BEFORE INSERT ON @extschema@.segment_map
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rfm_code');
CREATE TRIGGER satisfaction_dimensions_replace BEFORE INSERT ON @extschema@.satisfaction_dimensions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('dimension');
CREATE TRIGGER voice_settings_replace BEFORE INSERT ON @extschema@.voice_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
CREATE TRIGGER complaint_sla_targets_replace BEFORE INSERT ON @extschema@.complaint_sla_targets
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('priority');
CREATE TRIGGER channels_replace BEFORE INSERT ON @extschema@.channels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('name');
CREATE TRIGGER identity_rules_replace BEFORE INSERT ON @extschema@.identity_rules
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('rule');

-- Data the retailer loads.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transactions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transaction_items', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_contacts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_merges', '');

-- Configuration.  The rule set 'default' belongs to the extension and comes
-- back with CREATE EXTENSION; the map follows whichever set is active.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_fixed_breaks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_rules', $$WHERE rule_set <> 'default'$$);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.segment_map', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.identity_rules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.channels', '');

-- Results: the models, the run log, the published snapshot and its history.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.model_calibration', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.refresh_runs_run_id_seq', '');
-- The partitions of the snapshot and the history (83_snapshots.sql) are
-- created by the refresh, not by this script: pg_dump dumps them, rows and
-- ATTACH, as it dumps any table outside the extension.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.published_snapshot', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rfm_break_points', '');

-- Product affinity and its run log.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.product_affinity', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.affinity_runs_run_id_seq', '');

-- Voice of the customer (the tables are registered in their parts): the
-- sequences that number answers, feedback, tickets and events.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.survey_responses_response_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.feedback_feedback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_tickets_ticket_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.complaint_events_event_id_seq', '');

-- Logs of erasures and audience pulls: evidence, kept.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.erasure_requests_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audience_pulls_pull_id_seq', '');

-- Campaigns: definitions, launches and frozen memberships, the sending
-- tool's events and the send-list log.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaigns_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_launches', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.campaign_send_pulls_pull_id_seq', '');
