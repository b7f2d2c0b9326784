-- BI views over the snapshot the refresh test left (as of 2024-03-01).
\set this_test views
\i test/fixtures/earlier_tests.sql
SET timezone = 'UTC';

SELECT * FROM crm.segment_summary ORDER BY revenue DESC, segment;
SELECT sum(customers) AS scored, sum(customer_share) AS share_total FROM crm.segment_summary;

-- The 5x5 grid: 25 cells even when most are empty.
SELECT count(*) AS cells, sum(customers) AS customers FROM crm.rfm_grid;
SELECT r_score, fm_score, segment FROM crm.rfm_grid ORDER BY r_score DESC, fm_score
\crosstabview r_score fm_score segment
SELECT r_score, fm_score, customers FROM crm.rfm_grid ORDER BY r_score DESC, fm_score
\crosstabview r_score fm_score customers

SELECT * FROM crm.lifecycle_summary ORDER BY lifecycle_stage;

-- customer_360 has no personal data: no names, contacts, birth date, gender, postal code.
SELECT attname FROM pg_attribute
WHERE attrelid = 'crm.customer_360'::regclass AND attnum > 0
  AND attname IN ('first_name', 'last_name', 'email', 'phone', 'handle', 'birth_date', 'gender', 'postal_code');
SELECT customer_id, joined_at, consented_channels, preferred_channel, segment, lifecycle_stage, rfm_code, frequency, monetary
FROM crm.customer_360 ORDER BY customer_id;
-- No text column of the view carries a customer's name or email.
SELECT count(*) AS leaks
FROM crm.customer_360 AS v
WHERE v::text LIKE '%Ada%' OR v::text LIKE '%example.com%';

SELECT metric, method FROM crm.rfm_breaks ORDER BY metric;

-- An empty shop: views return no rows (grid: 25 empty cells), no errors.
BEGIN;
DELETE FROM crm.customer_segments;
SELECT count(*) FROM crm.segment_summary;
SELECT count(*), sum(customers) FROM crm.rfm_grid;
SELECT count(*) FROM crm.lifecycle_summary;
ROLLBACK;
