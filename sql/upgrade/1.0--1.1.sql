-- Changes to the objects of 1.0.  What 1.1 adds comes from its own parts,
-- which the Makefile appends (see UPGRADE_1.0_1.1_PARTS).

-- crm.customer_segments becomes a view over one partition per full refresh,
-- crm.segment_history a table partitioned by run (83_snapshots.sql).  The
-- 1.0 views are dropped and created again from 90_views.sql (with their
-- grants, 97_grants.sql, which also drops 1.0's grant of every right on
-- every view to crm_admin); the 1.0 tables are set aside here and their
-- rows move into partitions at the end (1.0--1.1-partitions.sql).  Views of
-- the user's reading these would follow the tables set aside, so the update
-- refuses to run while there are any.
DO $upgrade$
DECLARE
	replaced regclass[] := ARRAY['@extschema@.customer_segments', '@extschema@.segment_history', '@extschema@.segment_summary',
		'@extschema@.rfm_grid', '@extschema@.lifecycle_summary', '@extschema@.segment_migration',
		'@extschema@.customer_360', '@extschema@.rfm_breaks', '@extschema@.churn_watch_list',
		'@extschema@.clv_by_segment', '@extschema@.model_diagnostics']::pg_catalog.regclass[];
	dependents text;
BEGIN
	SELECT pg_catalog.string_agg(DISTINCT r.ev_class::pg_catalog.regclass::text, ', ')
	INTO dependents
	FROM pg_catalog.pg_depend AS d
	JOIN pg_catalog.pg_rewrite AS r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
	WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
	  AND d.refobjid = ANY (replaced)
	  AND NOT r.ev_class = ANY (replaced)
	  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS e
					  WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = r.ev_class
						AND e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND e.deptype = 'e');
	IF dependents IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
			MESSAGE = pg_catalog.format('retail_crm 1.1 replaces crm.customer_segments, crm.segment_history and the views built on them, and these views read them: %s', dependents),
			HINT = 'Save their definitions (SELECT pg_get_viewdef(''name''::regclass)), drop them, run ALTER EXTENSION retail_crm UPDATE again and create them again.';
	END IF;
END
$upgrade$;
DROP VIEW @extschema@.segment_summary, @extschema@.rfm_grid, @extschema@.lifecycle_summary,
	@extschema@.segment_migration, @extschema@.customer_360, @extschema@.rfm_breaks,
	@extschema@.churn_watch_list, @extschema@.clv_by_segment, @extschema@.model_diagnostics;
ALTER EXTENSION retail_crm DROP TABLE @extschema@.customer_segments;
ALTER TABLE @extschema@.customer_segments RENAME TO customer_segments_1_0;
ALTER EXTENSION retail_crm DROP TABLE @extschema@.segment_history;
ALTER TABLE @extschema@.segment_history RENAME TO segment_history_1_0;
ALTER INDEX @extschema@.segment_history_pkey RENAME TO segment_history_1_0_pkey;
-- PostgreSQL 18 and later keep NOT NULL constraints in pg_constraint, named
-- <table>_<column>_not_null: renamed like the index, so that the new
-- crm.segment_history gets the names a fresh install gives it (before 18
-- there are none to rename).
DO $not_null$
DECLARE
	constraint_name name;
BEGIN
	FOR constraint_name IN SELECT c.conname FROM pg_catalog.pg_constraint AS c
		WHERE c.conrelid = '@extschema@.segment_history_1_0'::pg_catalog.regclass AND c.contype = 'n' LOOP
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.segment_history_1_0 RENAME CONSTRAINT %I TO %I',
								  constraint_name, constraint_name || '_1_0');
	END LOOP;
END
$not_null$;

-- The incremental refresh (82_incremental.sql, 81_refresh.sql).
ALTER TABLE @extschema@.refresh_runs
	ADD COLUMN mode text CONSTRAINT refresh_runs_mode_known CHECK (mode IN ('full', 'incremental')),
	ADD COLUMN settings_fingerprint text;
COMMENT ON COLUMN @extschema@.refresh_runs.mode IS 'full (every customer) or incremental (the customers in crm.changed_customers); an incremental call that had to run in full says full. NULL for runs before version 1.1.';
COMMENT ON COLUMN @extschema@.refresh_runs.settings_fingerprint IS 'crm.settings_fingerprint() at the run: an incremental refresh builds on the last full run only while it is unchanged.';
-- Routines whose arguments changed; 81_refresh.sql creates them anew.
DROP PROCEDURE @extschema@.refresh_segments(timestamptz);
DROP FUNCTION @extschema@.refresh_start(timestamptz);
DROP FUNCTION @extschema@.build_facts(timestamptz, regclass);

-- The pg_cron helpers are shared by every job (91_cron_jobs.sql): the
-- refresh's scheduling functions (95_schedule.sql, run again below) delegate
-- to them, and the one-job require_pg_cron(text) gives way to
-- require_pg_cron(job_name, ...).
DROP FUNCTION @extschema@.require_pg_cron(text);

-- Three purchase models, validated and chosen (56_mbgnbd.sql,
-- 57_pareto_nbd.sql, 76_churn_models.sql): crm.models takes the kinds and
-- the Pareto/NBD dropout parameters; the fit of the facts takes the kinds
-- to fit.
ALTER TABLE @extschema@.models
	DROP CONSTRAINT models_kind_known,
	ADD CONSTRAINT models_kind_known CHECK (kind IN ('bgnbd', 'gamma_gamma', 'mbgnbd', 'pareto_nbd')),
	ADD COLUMN s double precision,
	ADD COLUMN beta double precision,
	ADD COLUMN r_se double precision,
	ADD COLUMN alpha_se double precision,
	ADD COLUMN a_se double precision,
	ADD COLUMN b_se double precision,
	ADD COLUMN s_se double precision,
	ADD COLUMN beta_se double precision,
	ADD COLUMN p_se double precision,
	ADD COLUMN q_se double precision,
	ADD COLUMN v_se double precision,
	ADD COLUMN dropout_log_likelihood_gain double precision;
COMMENT ON TABLE @extschema@.models IS
	'Every fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD) and spend model (Gamma-Gamma) with its diagnostics. Time is in days: frequency = repeat purchase days, recency and T in days.';
COMMENT ON COLUMN @extschema@.models.kind IS 'bgnbd, mbgnbd or pareto_nbd (purchase and dropout process), or gamma_gamma (spend per purchase).';
COMMENT ON COLUMN @extschema@.models.r IS 'Purchase models: shape of the purchase-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.alpha IS 'Purchase models: scale of the purchase-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.a IS 'BG/NBD and MBG/NBD: first shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.b IS 'BG/NBD and MBG/NBD: second shape of the dropout-probability beta distribution.';
COMMENT ON COLUMN @extschema@.models.holdout_end IS 'End of the holdout period when the model was calibrated; see crm.model_calibration and crm.model_validation.';
COMMENT ON COLUMN @extschema@.models.s IS 'Pareto/NBD: shape of the dropout-rate gamma distribution.';
COMMENT ON COLUMN @extschema@.models.beta IS 'Pareto/NBD: scale of the dropout-rate gamma distribution, in days.';
COMMENT ON COLUMN @extschema@.models.r_se IS 'Standard error of r (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.alpha_se IS 'Standard error of alpha (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.a_se IS 'Standard error of a (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.b_se IS 'Standard error of b (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.s_se IS 'Standard error of s (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.beta_se IS 'Standard error of beta (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.p_se IS 'Standard error of p (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.q_se IS 'Standard error of q (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.v_se IS 'Standard error of v (observed information); NULL where not identified.';
COMMENT ON COLUMN @extschema@.models.dropout_log_likelihood_gain IS 'Purchase models: log-likelihood gain over the NBD fit without dropout; below 3 the data do not identify dropout.';
COMMENT ON TABLE @extschema@.model_calibration IS
	'Holdout check of a calibrated purchase model: per number of repeat purchase days in the calibration period, the mean repeat purchase days actually made in the holdout period and the mean the model predicted.';
COMMENT ON COLUMN @extschema@.model_calibration.model_id IS 'Purchase model (crm.models).';
DROP FUNCTION @extschema@.fit_models_from_facts(timestamptz, text);

-- Standard errors of every fit and, for the purchase models, the gain over
-- a fit without dropout (55_btyd_models.sql).
ALTER TYPE @extschema@.bgnbd_model
	ADD ATTRIBUTE r_se double precision,
	ADD ATTRIBUTE alpha_se double precision,
	ADD ATTRIBUTE a_se double precision,
	ADD ATTRIBUTE b_se double precision,
	ADD ATTRIBUTE dropout_log_likelihood_gain double precision;
COMMENT ON COLUMN @extschema@.bgnbd_model.r_se IS
'Standard error of r from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.alpha_se IS
'Standard error of alpha from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.a_se IS
'Standard error of a from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.b_se IS
'Standard error of b from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.bgnbd_model.dropout_log_likelihood_gain IS
'Log-likelihood of the fit minus that of the NBD model (the same purchase process without any dropout) fitted on the same customers: how much the data say about dropout. Below 3 (twice it below the 5 % point of chi-square with 2 degrees of freedom) dropout is not identified and P(alive) reflects the model''s assumption rather than the data. NULL for a model built from parameters.';
ALTER TYPE @extschema@.gamma_gamma_model
	ADD ATTRIBUTE p_se double precision,
	ADD ATTRIBUTE q_se double precision,
	ADD ATTRIBUTE v_se double precision;
COMMENT ON COLUMN @extschema@.gamma_gamma_model.p_se IS
'Standard error of p from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.q_se IS
'Standard error of q from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';
COMMENT ON COLUMN @extschema@.gamma_gamma_model.v_se IS
'Standard error of v from the observed information (the inverse Hessian of the log-likelihood at the fit); NULL for a model built from parameters, or where the Hessian is not positive definite (a parameter the data cannot identify).';

-- The settings the churn risk over a horizon changed the meaning of
-- (20_settings.sql; churn_model itself comes from 76_churn_models.sql).
COMMENT ON COLUMN @extschema@.settings.churn_horizon_days IS 'Horizon in days of crm.customer_segments.churn_risk (no purchase within it) and expected_purchases.';
COMMENT ON COLUMN @extschema@.settings.churn_risk_threshold IS 'Churn risk (probability of no purchase in churn_horizon_days) from which a valuable customer enters crm.churn_watch_list and the churn:high audience.';
COMMENT ON COLUMN @extschema@.settings.model_refit IS
	'every_refresh (default): each refresh fits a new purchase model (the one churn_model chooses) and Gamma-Gamma model; manual: the refresh scores with the latest models stored by crm.fit_models().';
