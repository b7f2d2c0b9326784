-- test/integration/citus_sweep.sql: every write path and view, run by
-- citus.sh once on a single server and once on Citus after crm.distribute()
-- (both loaded with the Online Retail sample and refreshed): each line is
-- "name|result" (or an md5 of ordered rows), so that the two outputs compare
-- line by line.  Only what does not depend on the clock or on identity
-- values (which Citus gives each node its own range of) is printed.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
-- the draws of the control groups are random per database: fixed here
UPDATE crm.settings SET global_control_salt = 'citus sweep';

-- every foreign key between crm tables kept by crm.distribute()
SELECT 'foreign_keys', count(*), string_agg(c.conname, ',' ORDER BY c.conname) FROM pg_constraint AS c
WHERE c.contype = 'f' AND c.connamespace = 'crm'::regnamespace AND c.conparentid = 0
  -- of the extension's tables, not of the reference tables' shards on the coordinator
  AND EXISTS (SELECT 1 FROM pg_depend AS d
			  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.conrelid
				AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e');

-- consent and contacts
SELECT 'set_contact', crm.set_contact(12347, 'email', 'b@example.com') IS NULL;
SELECT 'record_consent', crm.record_consent(12347, 'email', true, 'sweep', '2011-12-01') IS NOT NULL;
SELECT 'record_consent again', crm.record_consent(12347, 'email', true, 'sweep', '2011-12-01') IS NOT NULL;
SELECT 'record_consent withdraw', crm.record_consent(12348, 'email', false, 'sweep', '2011-12-02') IS NOT NULL;
-- many at once: the consent triggers log each
INSERT INTO crm.customer_contacts (customer_id, channel, handle, consent, consent_updated_at)
SELECT c.customer_id, 'email', format('c%s@example.com', c.customer_id), true, '2011-10-01'
FROM crm.customers AS c WHERE c.customer_id % 7 = 0 OR c.customer_id = 12349
ON CONFLICT DO NOTHING;
UPDATE crm.customer_contacts SET consent = false, consent_updated_at = '2011-12-03' WHERE customer_id % 49 = 0;
SELECT 'consent_status', md5(string_agg(concat_ws(',', customer_id, channel, granted, recorded_at, source), E'\n'
	ORDER BY customer_id, channel)) FROM crm.consent_status;

-- loyalty
INSERT INTO crm.loyalty_programs (program_id) VALUES ('club');
INSERT INTO crm.loyalty_tiers (program_id, tier_rank, tier_name, threshold) VALUES ('club', 1, 'Bronze', 0), ('club', 2, 'Silver', 500);
-- from a list, not from a query of crm.customers: Citus would send the
-- calls to the workers, where a function cannot read distributed tables
SELECT 'enrol', crm.enrol_member(v.customer_id, 'club', '2011-01-01')
FROM (VALUES (12347), (12348), (12349), (12350), (12352)) AS v (customer_id) ORDER BY v.customer_id;
SELECT 'earn', (crm.earn_points(12347, 100, 'e1')).points;
SELECT 'earn replay', (crm.earn_points(12347, 100, 'e1')).points;
SELECT 'earn merged', (crm.earn_points(12349, 40, 'e2')).points;
SELECT 'redeem', (crm.redeem_points(12347, 30, 'r1')).points;
SELECT 'balance', crm.points_balance(12347);
SELECT 'adjust', (crm.adjust_points(12347, -5, 'a1', 'sweep')).points;
SELECT 'clawback', (crm.claw_back_points(12347, 10, 'c1')).points;
SELECT 'award', (crm.award_transaction_points('536365')).points;
SELECT 'review', program_id, members, upgrades, downgrades FROM crm.review_tiers('2011-12-10');
SELECT 'expire', members, lots_expired, points_expired FROM crm.expire_points();
SELECT 'liability', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.points_liability AS t;
SELECT 'statement', md5(string_agg(concat_ws(',', customer_id, kind, points, running_balance, idempotency_key), E'\n'
	ORDER BY customer_id, created_at, running_balance)) FROM crm.points_statement;
SELECT 'tier_summary', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.loyalty_tier_summary AS t;
SELECT 'tier_changes', md5(string_agg(concat_ws(',', customer_id, from_rank, to_rank, qualifying_metric), E'\n' ORDER BY customer_id))
FROM crm.loyalty_tier_changes;

-- campaigns
SELECT crm.create_campaign('c1', 'all', 'email', starts_at => '2011-11-01', ends_at => now() + interval '1 day') AS cid \gset
UPDATE crm.campaigns SET assignment_seed = 42 WHERE campaign_id = :cid;
SELECT 'launch', outcome, customers FROM crm.launch_campaign(:cid);
SELECT min(customer_id) AS member FROM crm.campaign_members WHERE campaign_id = :cid AND assigned_group = 'treatment' \gset
SELECT 'sends', count(*) FROM crm.campaign_sends(:cid);
SELECT 'event', crm.record_campaign_event(:cid, :member, 'delivered', '2011-11-02');
SELECT 'unsubscribe', crm.record_campaign_event(:cid, :member, 'unsubscribed', '2011-11-03');
SELECT 'member_outcomes', md5(string_agg(t::text, E'\n' ORDER BY t.customer_id)) FROM crm.campaign_member_outcomes AS t;
SELECT 'results_by_segment', md5(string_agg(t::text, E'\n' ORDER BY t.breakdown, t.breakdown_value)) FROM crm.campaign_results_by_segment AS t;
SELECT 'results', md5(string_agg(concat_ws(',', treatment_members, control_members, treatment_converters, control_converters,
	treatment_revenue, control_revenue, revenue_uplift, cuped_revenue_uplift, delivered, unsubscribed), E'\n'))
FROM crm.campaign_results;

-- identity: a merge with sales, contacts, points and a membership, then erasure
SELECT 'merge', merge_id, keep_id, fields_filled, transactions_moved, points_moved FROM crm.merge_customers(12348, 12349);
SELECT 'merge replay', transactions_moved FROM crm.merge_customers(12348, 12349);
SELECT 'merged sales', count(*), sum(amount) FROM crm.transactions WHERE customer_id = 12348;
SELECT 'merged lines', count(*) FROM crm.transaction_items WHERE customer_id = 12348;
SELECT 'merged balance', crm.points_balance(12348);
SELECT 'forget', crm.forget_customer(12350) IS NOT NULL;
SELECT 'forgotten', count(*) FROM crm.customer_contacts WHERE customer_id = 12350 AND (consent OR handle IS NOT NULL);
SELECT 'consent_events', md5(string_agg(concat_ws(',', customer_id, channel, granted, source), E'\n'
	ORDER BY customer_id, channel, granted, source)) FROM crm.consent_events;
SELECT 'contacts', md5(string_agg(concat_ws(',', customer_id, channel, handle, consent, preferred), E'\n'
	ORDER BY customer_id, channel)) FROM crm.customer_contacts;

-- baskets
SELECT 'affinity', baskets, skipped_baskets, pairs FROM crm.refresh_affinity(0.01, 100);
SELECT 'recommend', md5(string_agg(concat_ws(',', rank, product_id, source, score), E'\n' ORDER BY rank)) FROM crm.recommend(12347, 5);
SELECT 'recommend fallback', md5(string_agg(concat_ws(',', rank, product_id, source, score), E'\n' ORDER BY rank)) FROM crm.recommend(12348, 40);
-- to 10 decimals: Citus sums the shards' floating-point partial sums, in
-- another order than one server (the last bits differ from run to run)
SELECT 'next_best', md5(string_agg(concat_ws(',', t.segment, t.rank, t.product_id, round(t.score::numeric, 10), round(t.pull::numeric, 10), round(t.buyer_share::numeric, 10)), E'\n' ORDER BY t.segment, t.rank)) FROM crm.segment_next_best AS t;
SELECT 'product_affinity', md5(string_agg(t::text, E'\n' ORDER BY t.product_a, t.product_b)) FROM crm.product_affinity AS t;

-- audiences and the rest
SELECT 'audience', count(*) FROM crm.audience('Champions', 'email');
SELECT 'dupes', count(*) FROM crm.duplicate_candidates;
SELECT 'data_quality', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.data_quality AS t;
SELECT 'call', count(*) FROM crm.customers_to_call;
SELECT 'global_control_monthly', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.global_control_monthly AS t;

-- sales written after distribution reach the queue and the incremental refresh
INSERT INTO crm.transactions VALUES ('NEW-1', 12352, '2011-12-09', 10, NULL, NULL);
INSERT INTO crm.anonymous_transactions VALUES ('ANON-1', '2011-12-09', 5, NULL, NULL);
UPDATE crm.transactions SET amount = 11 WHERE transaction_id = 'NEW-1';
SELECT 'queue', count(DISTINCT customer_id) FROM crm.changed_customers;
CALL crm.refresh_segments('2011-12-10', incremental => true);
SELECT 'incremental', mode, status, customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;
SELECT 'fit', kind FROM crm.fit_models('2011-12-10', '2011-09-09') ORDER BY kind;
SELECT 'activate', count(*) FROM crm.activate_segment_rules('default');
SELECT 'set_source', crm.set_transaction_source('crm.transactions');
SELECT 'reset_source', crm.reset_transaction_source();
CALL crm.refresh_segments('2011-12-10');
SELECT 'drop_old', crm.drop_old_partitions();
SELECT 'full', mode, status, customers FROM crm.refresh_runs ORDER BY run_id DESC LIMIT 1;

-- the views, as of the full refresh after distribution
SELECT 'customer_segments', md5(string_agg(t::text, E'\n' ORDER BY t.customer_id)) FROM (SELECT customer_id, as_of, run_id, first_purchase_at, last_purchase_at, recency_days, frequency, monetary, returns, r_score, f_score, m_score, fm_score, rfm_code, segment, lifecycle_stage, tenure_days, purchase_days, btyd_frequency, btyd_recency, btyd_t, avg_repeat_spend, last_gap_days, median_gap_days, one_time_buyer, p_alive, churn_risk, expected_purchases, expected_spend, clv FROM crm.customer_segments) t;
SELECT 'segment_summary', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.segment_summary t;
SELECT 'rfm_grid', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.rfm_grid t;
SELECT 'lifecycle_summary', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.lifecycle_summary t;
SELECT 'clv_by_segment', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.clv_by_segment t;
SELECT 'churn_watch_list', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.churn_watch_list t;
SELECT 'customer_360', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.customer_360 t;
SELECT 'monthly_kpis', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.monthly_kpis t;
SELECT 'cohort_retention', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.cohort_retention t;
SELECT 'segment_migration', md5(string_agg(t::text, E'\n' ORDER BY t::text)) FROM crm.segment_migration t;
