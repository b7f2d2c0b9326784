-- Identity: likely duplicate customers for review, and data-quality counts.
-- Contacts are compared normalised (email lower-cased and trimmed, phone as
-- its digits), by the rules enabled in crm.identity_rules.

CREATE FUNCTION @extschema@.normalized_email(email text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN lower(btrim(email)) ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN lower(btrim(email)) END;
COMMENT ON FUNCTION @extschema@.normalized_email(text) IS
	'An email address lower-cased and trimmed, or NULL when it does not look like one (local@domain.tld, no spaces).';

CREATE FUNCTION @extschema@.normalized_phone(phone text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN length(regexp_replace(phone, '\D', '', 'g')) BETWEEN 7 AND 15
			THEN regexp_replace(phone, '\D', '', 'g') END;
COMMENT ON FUNCTION @extschema@.normalized_phone(text) IS
	'A phone number as its digits, or NULL when it has fewer than 7 or more than 15 (E.164 allows 15).';

CREATE TABLE @extschema@.identity_rules (
	rule		text PRIMARY KEY CONSTRAINT identity_rules_known
		CHECK (rule IN ('same_email', 'same_phone', 'same_name_birth_date')),
	enabled		boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.identity_rules IS
	'Which rules crm.duplicate_candidates applies; switch one off with UPDATE crm.identity_rules SET enabled = false WHERE rule = ...';
COMMENT ON COLUMN @extschema@.identity_rules.rule IS 'same_email (normalised email), same_phone (phone digits) or same_name_birth_date (first and last name, case-insensitive, and birth date).';
COMMENT ON COLUMN @extschema@.identity_rules.enabled IS 'Whether the rule is applied.';
INSERT INTO @extschema@.identity_rules (rule) VALUES ('same_email'), ('same_phone'), ('same_name_birth_date');

-- Pairs of customers (lower id first) that an enabled rule matches, with the
-- shared value as evidence: personal data, so for crm_admin only.
CREATE VIEW @extschema@.duplicate_candidates AS
WITH keyed AS (
	SELECT c.customer_id, 'same_email' AS rule, @extschema@.normalized_email(c.email) AS match_key
	FROM @extschema@.customers AS c
	UNION ALL
	SELECT c.customer_id, 'same_phone', @extschema@.normalized_phone(c.phone)
	FROM @extschema@.customers AS c
	UNION ALL
	SELECT c.customer_id, 'same_name_birth_date',
		   lower(btrim(c.first_name)) || ' ' || lower(btrim(c.last_name)) || ' ' || to_char(c.birth_date, 'YYYY-MM-DD')
	FROM @extschema@.customers AS c
)
SELECT a.customer_id AS customer_id_a, b.customer_id AS customer_id_b, a.rule, a.match_key AS evidence
FROM keyed AS a
JOIN keyed AS b ON b.rule = a.rule AND b.match_key = a.match_key AND b.customer_id > a.customer_id
JOIN @extschema@.identity_rules AS r ON r.rule = a.rule AND r.enabled;
COMMENT ON VIEW @extschema@.duplicate_candidates IS
	'Pairs of customers an enabled rule of crm.identity_rules says may be one person, with the shared value as evidence, for review. Holds personal data: crm_admin only.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_a IS 'The lower customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.customer_id_b IS 'The higher customer key of the pair.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.rule IS 'The rule that matched.';
COMMENT ON COLUMN @extschema@.duplicate_candidates.evidence IS 'The normalised value both share.';

-- Counts only, but over the contact columns: crm_admin, like the contacts.
CREATE VIEW @extschema@.data_quality AS
SELECT (SELECT count(*) FROM @extschema@.customers) AS customers,
	   (SELECT count(*) FROM @extschema@.customers AS c WHERE nullif(btrim(c.email), '') IS NULL) AS missing_email,
	   (SELECT count(*) FROM @extschema@.customers AS c
		WHERE nullif(btrim(c.email), '') IS NOT NULL AND @extschema@.normalized_email(c.email) IS NULL) AS invalid_email,
	   (SELECT count(*) FROM @extschema@.customers AS c WHERE nullif(btrim(c.phone), '') IS NULL) AS missing_phone,
	   (SELECT count(*) FROM @extschema@.customers AS c
		WHERE nullif(btrim(c.phone), '') IS NOT NULL AND @extschema@.normalized_phone(c.phone) IS NULL) AS invalid_phone,
	   (SELECT count(*) FROM (SELECT DISTINCT d.customer_id_a, d.customer_id_b
							  FROM @extschema@.duplicate_candidates AS d) AS pairs) AS duplicate_pairs,
	   (SELECT count(*) FROM @extschema@.transactions AS t WHERE t.customer_id IS NULL) AS transactions_without_customer,
	   (SELECT count(*) FROM @extschema@.transactions AS t
		WHERE t.customer_id IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = t.customer_id)) AS transactions_unknown_customer;
COMMENT ON VIEW @extschema@.data_quality IS
	'One row of data-quality counts over crm.customers and crm.transactions (counts only; crm_admin, as it reads the contact columns).';
COMMENT ON COLUMN @extschema@.data_quality.customers IS 'Customers.';
COMMENT ON COLUMN @extschema@.data_quality.missing_email IS 'Customers without an email address.';
COMMENT ON COLUMN @extschema@.data_quality.invalid_email IS 'Customers whose email does not look like one (crm.normalized_email gives NULL).';
COMMENT ON COLUMN @extschema@.data_quality.missing_phone IS 'Customers without a phone number.';
COMMENT ON COLUMN @extschema@.data_quality.invalid_phone IS 'Customers whose phone has fewer than 7 or more than 15 digits.';
COMMENT ON COLUMN @extschema@.data_quality.duplicate_pairs IS 'Distinct pairs in crm.duplicate_candidates.';
COMMENT ON COLUMN @extschema@.data_quality.transactions_without_customer IS 'Sales without a customer_id (anonymous).';
COMMENT ON COLUMN @extschema@.data_quality.transactions_unknown_customer IS 'Sales whose customer_id is not in crm.customers.';

GRANT SELECT ON @extschema@.identity_rules TO crm_analyst;
GRANT SELECT ON @extschema@.duplicate_candidates, @extschema@.data_quality TO crm_admin;
GRANT SELECT, UPDATE ON @extschema@.identity_rules TO crm_admin;
