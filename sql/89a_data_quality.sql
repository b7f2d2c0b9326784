-- crm.data_quality.  Only a view here: an upgrade runs this part again.

-- Counts only, but over the handles: crm_admin, like the handles.  Email
-- and phone are handle kinds: a customer has an email when any channel of
-- kind email holds a non-blank handle, an invalid one when none of those
-- handles is valid.
CREATE OR REPLACE VIEW @extschema@.data_quality AS
WITH handles AS (
	SELECT c.customer_id,
		   bool_or(ch.handle_kind = 'email' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_email,
		   bool_or(ch.handle_kind = 'email' AND @extschema@.normalized_email(ct.handle) IS NOT NULL) AS valid_email,
		   bool_or(ch.handle_kind = 'phone' AND nullif(btrim(ct.handle), '') IS NOT NULL) AS has_phone,
		   bool_or(ch.handle_kind = 'phone' AND @extschema@.normalized_phone(ct.handle) IS NOT NULL) AS valid_phone
	FROM @extschema@.customers AS c
	LEFT JOIN @extschema@.customer_contacts AS ct ON ct.customer_id = c.customer_id
	LEFT JOIN @extschema@.channels AS ch ON ch.name = ct.channel
	GROUP BY c.customer_id
)
SELECT (SELECT count(*) FROM handles) AS customers,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_email, false)) AS missing_email,
	   (SELECT count(*) FROM handles AS h WHERE h.has_email AND NOT h.valid_email) AS invalid_email,
	   (SELECT count(*) FROM handles AS h WHERE NOT coalesce(h.has_phone, false)) AS missing_phone,
	   (SELECT count(*) FROM handles AS h WHERE h.has_phone AND NOT h.valid_phone) AS invalid_phone,
	   (SELECT count(*) FROM (SELECT DISTINCT d.customer_id_a, d.customer_id_b
							  FROM @extschema@.duplicate_candidates AS d) AS pairs) AS duplicate_pairs,
	   (SELECT count(*) FROM @extschema@.anonymous_transactions) AS transactions_without_customer,
	   (SELECT count(*) FROM @extschema@.transactions AS t
		WHERE NOT EXISTS (SELECT 1 FROM @extschema@.customers AS c WHERE c.customer_id = t.customer_id)) AS transactions_unknown_customer;
COMMENT ON VIEW @extschema@.data_quality IS
	'One row of data-quality counts over crm.customers, crm.customer_contacts, crm.transactions and crm.anonymous_transactions (counts only; crm_admin, as it reads the handles).';
COMMENT ON COLUMN @extschema@.data_quality.customers IS 'Customers.';
COMMENT ON COLUMN @extschema@.data_quality.missing_email IS 'Customers without an email address (no non-blank handle on a channel of handle kind email).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_email IS 'Customers with an email handle, none of which looks like an address (crm.normalized_email gives NULL).';
COMMENT ON COLUMN @extschema@.data_quality.missing_phone IS 'Customers without a phone number (no non-blank handle on a channel of handle kind phone).';
COMMENT ON COLUMN @extschema@.data_quality.invalid_phone IS 'Customers with a phone handle, none of which has 7 to 15 digits.';
COMMENT ON COLUMN @extschema@.data_quality.duplicate_pairs IS 'Distinct pairs in crm.duplicate_candidates.';
COMMENT ON COLUMN @extschema@.data_quality.transactions_without_customer IS 'Sales without a customer (crm.anonymous_transactions).';
COMMENT ON COLUMN @extschema@.data_quality.transactions_unknown_customer IS 'Sales whose customer_id is not in crm.customers.';

GRANT SELECT ON @extschema@.data_quality TO crm_admin;
