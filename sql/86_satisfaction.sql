-- Voice of the customer, part 1: survey answers and free-text feedback, the
-- satisfaction aggregates (C, src/satisfaction.c) and their BI views.

-- Result types of the aggregates that return several numbers.  BI views
-- expand them into columns.
CREATE TYPE @extschema@.nps_result AS (
	nps double precision,
	promoters bigint,
	passives bigint,
	detractors bigint,
	responses bigint,
	std_error double precision,
	ci_low double precision,
	ci_high double precision
);
COMMENT ON TYPE @extschema@.nps_result IS
	'Net Promoter Score of a group of 0-10 answers, returned by crm.nps.';
COMMENT ON COLUMN @extschema@.nps_result.nps IS 'NPS = 100 * (promoters - detractors) / responses, -100 to 100.';
COMMENT ON COLUMN @extschema@.nps_result.promoters IS 'Answers 9 or 10.';
COMMENT ON COLUMN @extschema@.nps_result.passives IS 'Answers 7 or 8.';
COMMENT ON COLUMN @extschema@.nps_result.detractors IS 'Answers 0 to 6.';
COMMENT ON COLUMN @extschema@.nps_result.responses IS 'Answers counted (NULL scores are skipped).';
COMMENT ON COLUMN @extschema@.nps_result.std_error IS 'Standard error of the NPS, 100 * sqrt((p + d - (p - d)^2) / n) with p, d the promoter and detractor shares.';
COMMENT ON COLUMN @extschema@.nps_result.ci_low IS 'Lower end of the 95 % interval, nps - 1.96 * std_error, not below -100.';
COMMENT ON COLUMN @extschema@.nps_result.ci_high IS 'Upper end of the 95 % interval, nps + 1.96 * std_error, not above 100.';

CREATE TYPE @extschema@.ces_result AS (
	ces_mean double precision,
	agree_pct double precision,
	responses bigint
);
COMMENT ON TYPE @extschema@.ces_result IS
	'Customer Effort Score 2.0 of a group of 1-7 agreement answers ("the company made it easy to handle my issue"), returned by crm.ces.';
COMMENT ON COLUMN @extschema@.ces_result.ces_mean IS 'Mean answer, 1 to 7; higher is easier.';
COMMENT ON COLUMN @extschema@.ces_result.agree_pct IS 'Share of answers 5, 6 or 7 (agree), 0-100.';
COMMENT ON COLUMN @extschema@.ces_result.responses IS 'Answers counted (NULL scores are skipped).';

-- satisfaction_index(score, scale_min, scale_max [, weight])
CREATE FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision) IS
	'Transition function of satisfaction_index(score, scale_min, scale_max). Not strict: a NULL score is skipped, a NULL scale is an error.';

CREATE FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_accum(bytea, double precision, double precision, double precision, double precision) IS
	'Transition function of satisfaction_index(score, scale_min, scale_max, weight). Not strict: a NULL score is skipped, a NULL scale or weight is an error.';

CREATE FUNCTION @extschema@.satisfaction_index_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'satisfaction_index_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_combine(bytea, bytea) IS
	'Combine function of satisfaction_index: adds two partial states.';

CREATE FUNCTION @extschema@.satisfaction_index_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'satisfaction_index_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.satisfaction_index_final(bytea) IS
	'Final function of satisfaction_index: the 0-100 index of a state, NULL when it holds no answer.';

CREATE AGGREGATE @extschema@.satisfaction_index(score double precision, scale_min double precision, scale_max double precision) (
	SFUNC = @extschema@.satisfaction_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.satisfaction_index_combine,
	FINALFUNC = @extschema@.satisfaction_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.satisfaction_index(double precision, double precision, double precision) IS
	'0-100 satisfaction index: the mean of the answers, each rescaled on its own scale, (score - scale_min) / (scale_max - scale_min) * 100. NULL scores are skipped; NULL without answers. A score outside its scale, scale_min >= scale_max, NaN or infinity raise 22023.';

CREATE AGGREGATE @extschema@.satisfaction_index(score double precision, scale_min double precision, scale_max double precision, weight double precision) (
	SFUNC = @extschema@.satisfaction_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.satisfaction_index_combine,
	FINALFUNC = @extschema@.satisfaction_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.satisfaction_index(double precision, double precision, double precision, double precision) IS
	'Weighted 0-100 satisfaction index: sum(weight * rescaled score) / sum(weight) * 100, each answer rescaled on its own scale. Weights are relative, between 1e-9 and 1e9, kept to 9 decimals. NULL scores are skipped; NULL without answers.';

-- multi_dimension_index(dimension_no, dimension_weight, score, scale_min, scale_max)
CREATE FUNCTION @extschema@.multi_dimension_index_accum(bytea, integer, double precision, double precision, double precision, double precision)
RETURNS bytea
AS 'MODULE_PATHNAME', 'multi_dimension_index_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_accum(bytea, integer, double precision, double precision, double precision, double precision) IS
	'Transition function of multi_dimension_index. Not strict: a NULL score is skipped, any other NULL next to a score is an error.';

CREATE FUNCTION @extschema@.multi_dimension_index_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'multi_dimension_index_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_combine(bytea, bytea) IS
	'Combine function of multi_dimension_index: adds two partial states dimension by dimension; a dimension with two different weights raises 22023.';

CREATE FUNCTION @extschema@.multi_dimension_index_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'multi_dimension_index_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.multi_dimension_index_final(bytea) IS
	'Final function of multi_dimension_index: the weighted index of a state, NULL when no dimension of positive weight was answered.';

CREATE AGGREGATE @extschema@.multi_dimension_index(dimension_no integer, dimension_weight double precision, score double precision, scale_min double precision, scale_max double precision) (
	SFUNC = @extschema@.multi_dimension_index_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.multi_dimension_index_combine,
	FINALFUNC = @extschema@.multi_dimension_index_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.multi_dimension_index(integer, double precision, double precision, double precision, double precision) IS
	'0-100 index over several survey dimensions: each dimension (1-32) gets the mean of its rescaled answers, then sum(w_d * index_d) / sum(w_d) over the dimensions answered in the group, so the weights are renormalised when a dimension is unanswered. Dimensions of weight 0 are left out; every answer to one dimension must carry the same weight (22023 otherwise). NULL without answers.';

-- nps, csat, ces: one counting state, told apart by its kind
CREATE FUNCTION @extschema@.nps_accum(bytea, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'nps_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.nps_accum(bytea, integer) IS
	'Transition function of nps: counts a 0-10 answer as promoter, passive or detractor; a NULL score is skipped.';

CREATE FUNCTION @extschema@.csat_accum(bytea, integer, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'csat_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.csat_accum(bytea, integer, integer) IS
	'Transition function of csat: counts a 1..scale_max answer and whether it is in the top two boxes; a NULL score is skipped.';

CREATE FUNCTION @extschema@.ces_accum(bytea, integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'ces_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ces_accum(bytea, integer) IS
	'Transition function of ces: adds a 1-7 answer; a NULL score is skipped.';

CREATE FUNCTION @extschema@.survey_counts_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'survey_counts_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.survey_counts_combine(bytea, bytea) IS
	'Combine function of nps, csat and ces: adds two partial states of the same aggregate.';

CREATE FUNCTION @extschema@.nps_final(bytea)
RETURNS @extschema@.nps_result
AS 'MODULE_PATHNAME', 'nps_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.nps_final(bytea) IS
	'Final function of nps: the nps_result of a state, NULL when it holds no answer.';

CREATE FUNCTION @extschema@.csat_final(bytea)
RETURNS double precision
AS 'MODULE_PATHNAME', 'csat_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.csat_final(bytea) IS
	'Final function of csat: the top-2-box share, 0-100, NULL when the state holds no answer.';

CREATE FUNCTION @extschema@.ces_final(bytea)
RETURNS @extschema@.ces_result
AS 'MODULE_PATHNAME', 'ces_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ces_final(bytea) IS
	'Final function of ces: the ces_result of a state, NULL when it holds no answer.';

CREATE AGGREGATE @extschema@.nps(score integer) (
	SFUNC = @extschema@.nps_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.nps_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.nps(integer) IS
	'Net Promoter Score of 0-10 "how likely are you to recommend us" answers, as a crm.nps_result row with counts, standard error and 95 % interval. NULL scores are skipped; NULL without answers; a score outside 0-10 raises 22023.';

CREATE AGGREGATE @extschema@.csat(score integer, scale_max integer) (
	SFUNC = @extschema@.csat_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.csat_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.csat(integer, integer) IS
	'CSAT: share of answers in the top two boxes of their own 1..scale_max scale (4-5 on 1-5), 0-100. scale_max must be 3 to 100. NULL scores are skipped; NULL without answers.';

CREATE AGGREGATE @extschema@.ces(score integer) (
	SFUNC = @extschema@.ces_accum,
	STYPE = bytea,
	COMBINEFUNC = @extschema@.survey_counts_combine,
	FINALFUNC = @extschema@.ces_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ces(integer) IS
	'Customer Effort Score 2.0 of 1-7 agreement answers, as a crm.ces_result row with both usual reports: the mean and the share of 5-7. NULL scores are skipped; NULL without answers; a score outside 1-7 raises 22023.';

-- Survey dimensions and their weights in the overall index.
CREATE TABLE @extschema@.satisfaction_dimensions (
	dimension		text PRIMARY KEY,
	dimension_no	integer NOT NULL UNIQUE
		CONSTRAINT satisfaction_dimensions_no_range CHECK (dimension_no BETWEEN 1 AND 32),
	weight			double precision NOT NULL
		CONSTRAINT satisfaction_dimensions_weight_range CHECK (weight = 0 OR weight BETWEEN 1e-9 AND 1e9),
	description		text NOT NULL
);
COMMENT ON TABLE @extschema@.satisfaction_dimensions IS
	'Survey dimensions (questions) and their weights in the multi-dimension satisfaction index. Weights are relative and renormalised over the dimensions a group answered; weight 0 keeps a dimension (such as the NPS question) out of the index. Edit with UPDATE or INSERT.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.dimension IS 'Dimension key, used in crm.survey_responses.dimension.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.dimension_no IS 'Slot 1-32 of the dimension in crm.multi_dimension_index.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.weight IS 'Relative weight in the overall index: 0, or 1e-9 to 1e9.';
COMMENT ON COLUMN @extschema@.satisfaction_dimensions.description IS 'What the question asks.';

INSERT INTO @extschema@.satisfaction_dimensions (dimension, dimension_no, weight, description) VALUES
	('product_quality', 1, 0.25, 'Satisfaction with the quality of the products bought.'),
	('service_quality', 2, 0.20, 'Satisfaction with the staff and the service.'),
	('price_fairness', 3, 0.15, 'Whether the prices felt fair for what was bought.'),
	('store_environment', 4, 0.10, 'The store or site: cleanliness, layout, ease of finding things.'),
	('after_sales_service', 5, 0.10, 'Returns, repairs, delivery and help after the purchase.'),
	('overall', 6, 0.20, 'Overall satisfaction.'),
	('recommend', 7, 0, 'NPS question: how likely the customer is to recommend the retailer, 0-10. Not in the index.'),
	('effort', 8, 0, 'CES question: the retailer made it easy to get what I wanted, 1-7. Not in the index.');

CREATE TABLE @extschema@.survey_responses (
	response_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	customer_id		bigint,
	survey_id		text,
	transaction_id	text,
	channel			text,
	store			text,
	responded_at	timestamptz NOT NULL,
	dimension		text NOT NULL REFERENCES @extschema@.satisfaction_dimensions (dimension) ON UPDATE CASCADE,
	score			double precision NOT NULL,
	scale_min		double precision NOT NULL,
	scale_max		double precision NOT NULL,
	CONSTRAINT survey_responses_scale_valid
		CHECK (scale_min > '-Infinity' AND scale_max < 'Infinity' AND scale_min < scale_max),
	CONSTRAINT survey_responses_score_on_scale CHECK (score BETWEEN scale_min AND scale_max)
);
COMMENT ON TABLE @extschema@.survey_responses IS
	'One row per answered survey question. An unanswered question has no row. Each answer carries its own scale, so answers on different scales can be combined after rescaling.';
COMMENT ON COLUMN @extschema@.survey_responses.response_id IS 'Answer key.';
COMMENT ON COLUMN @extschema@.survey_responses.customer_id IS 'Customer who answered; NULL for an anonymous survey.';
COMMENT ON COLUMN @extschema@.survey_responses.survey_id IS 'The retailer''s key of the questionnaire filled in (groups the answers of one sitting).';
COMMENT ON COLUMN @extschema@.survey_responses.transaction_id IS 'Order the survey was about, if any.';
COMMENT ON COLUMN @extschema@.survey_responses.channel IS 'Survey channel, e.g. email, sms, app, in-store, phone.';
COMMENT ON COLUMN @extschema@.survey_responses.store IS 'Store or site the answer is about.';
COMMENT ON COLUMN @extschema@.survey_responses.responded_at IS 'When the customer answered.';
COMMENT ON COLUMN @extschema@.survey_responses.dimension IS 'Question answered (crm.satisfaction_dimensions).';
COMMENT ON COLUMN @extschema@.survey_responses.score IS 'The answer, between scale_min and scale_max.';
COMMENT ON COLUMN @extschema@.survey_responses.scale_min IS 'Lowest possible answer of the question (worst).';
COMMENT ON COLUMN @extschema@.survey_responses.scale_max IS 'Highest possible answer of the question (best).';

CREATE INDEX survey_responses_customer_time_idx ON @extschema@.survey_responses (customer_id, responded_at);
CREATE INDEX survey_responses_time_idx ON @extschema@.survey_responses (responded_at);

CREATE TABLE @extschema@.feedback (
	feedback_id		bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	customer_id		bigint,
	transaction_id	text,
	channel			text,
	store			text,
	received_at		timestamptz NOT NULL,
	topic			text,
	comment			text NOT NULL
);
COMMENT ON TABLE @extschema@.feedback IS
	'Free-text feedback: survey comments, reviews, messages. comment is personal data and never reaches an analyst view.';
COMMENT ON COLUMN @extschema@.feedback.feedback_id IS 'Feedback key.';
COMMENT ON COLUMN @extschema@.feedback.customer_id IS 'Customer who wrote it; NULL when anonymous.';
COMMENT ON COLUMN @extschema@.feedback.transaction_id IS 'Order it is about, if any.';
COMMENT ON COLUMN @extschema@.feedback.channel IS 'Where it was received, e.g. survey, email, review site, in-store.';
COMMENT ON COLUMN @extschema@.feedback.store IS 'Store or site it is about.';
COMMENT ON COLUMN @extschema@.feedback.received_at IS 'When it was received.';
COMMENT ON COLUMN @extschema@.feedback.topic IS 'Topic chosen by the customer or tagged by staff, e.g. a dimension key.';
COMMENT ON COLUMN @extschema@.feedback.comment IS 'Personal data: the customer''s own words.';

CREATE INDEX feedback_customer_idx ON @extschema@.feedback (customer_id);

-- Settings of the voice-of-the-customer views.
CREATE TABLE @extschema@.voice_settings (
	singleton					boolean PRIMARY KEY DEFAULT true CONSTRAINT voice_settings_single_row CHECK (singleton),
	satisfaction_window_days	integer NOT NULL DEFAULT 90
		CONSTRAINT voice_settings_window_positive CHECK (satisfaction_window_days BETWEEN 1 AND 3660),
	satisfaction_drop_points	double precision NOT NULL DEFAULT 10
		CONSTRAINT voice_settings_drop_range CHECK (satisfaction_drop_points > 0 AND satisfaction_drop_points <= 100),
	call_min_m_score			smallint NOT NULL DEFAULT 4
		CONSTRAINT voice_settings_m_score_range CHECK (call_min_m_score BETWEEN 1 AND 5),
	call_min_clv				double precision
		CONSTRAINT voice_settings_clv_finite CHECK (call_min_clv >= 0 AND call_min_clv < 'Infinity')
);
COMMENT ON TABLE @extschema@.voice_settings IS
	'The one row of voice-of-the-customer settings (satisfaction windows and who counts as high value in crm.customers_to_call). Change with UPDATE.';
COMMENT ON COLUMN @extschema@.voice_settings.singleton IS 'Always true: keeps the table to one row.';
COMMENT ON COLUMN @extschema@.voice_settings.satisfaction_window_days IS 'Length of the current and the previous satisfaction window, in days back from the refresh''s as_of.';
COMMENT ON COLUMN @extschema@.voice_settings.satisfaction_drop_points IS 'A fall of the index by at least this many points from the previous to the current window puts a high-value customer on the call list.';
COMMENT ON COLUMN @extschema@.voice_settings.call_min_m_score IS 'High value: customers with at least this RFM monetary score...';
COMMENT ON COLUMN @extschema@.voice_settings.call_min_clv IS '...or with at least this CLV; NULL: CLV is not used.';
INSERT INTO @extschema@.voice_settings DEFAULT VALUES;

-- Satisfaction per calendar month (session TimeZone), store and dimension;
-- store '(all stores)' totals the month.
CREATE VIEW @extschema@.satisfaction_trend AS
SELECT date_trunc('month', r.responded_at) AS month,
	   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
	   r.dimension,
	   count(*) AS responses,
	   round(@extschema@.satisfaction_index(r.score, r.scale_min, r.scale_max)::numeric, 2)::numeric(5,2) AS satisfaction_index,
	   round(@extschema@.csat(r.score::integer, r.scale_max::integer)
			 FILTER (WHERE r.scale_min = 1 AND r.score = trunc(r.score)
					 AND r.scale_max IN (3, 4, 5, 6, 7, 8, 9, 10))::numeric, 2)::numeric(5,2) AS csat
FROM @extschema@.survey_responses AS r
GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at), r.dimension),
					   (date_trunc('month', r.responded_at), r.store, r.dimension));
COMMENT ON VIEW @extschema@.satisfaction_trend IS
	'Satisfaction per month, store and survey dimension: the 0-100 index (each answer rescaled on its own scale) and CSAT.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.dimension IS 'Survey dimension.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.responses IS 'Answers.';
COMMENT ON COLUMN @extschema@.satisfaction_trend.satisfaction_index IS 'Mean rescaled answer, 0-100 (crm.satisfaction_index).';
COMMENT ON COLUMN @extschema@.satisfaction_trend.csat IS 'Share of top-2-box answers, 0-100, over the answers on integer 1-3 to 1-10 scales; NULL when there are none.';

-- The weighted overall index per month and store.
CREATE VIEW @extschema@.satisfaction_index_monthly AS
SELECT date_trunc('month', r.responded_at) AS month,
	   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
	   count(*) FILTER (WHERE d.weight > 0) AS responses,
	   count(DISTINCT r.dimension) FILTER (WHERE d.weight > 0) AS dimensions_answered,
	   round(@extschema@.multi_dimension_index(d.dimension_no, d.weight, r.score, r.scale_min, r.scale_max)::numeric, 2)::numeric(5,2) AS satisfaction_index
FROM @extschema@.survey_responses AS r
JOIN @extschema@.satisfaction_dimensions AS d USING (dimension)
GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at)), (date_trunc('month', r.responded_at), r.store));
COMMENT ON VIEW @extschema@.satisfaction_index_monthly IS
	'The overall satisfaction index per month and store: dimension indexes weighted by crm.satisfaction_dimensions.weight, renormalised over the dimensions answered (crm.multi_dimension_index).';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.responses IS 'Answers to dimensions of positive weight.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.dimensions_answered IS 'Dimensions of positive weight with at least one answer.';
COMMENT ON COLUMN @extschema@.satisfaction_index_monthly.satisfaction_index IS 'Weighted index, 0-100; NULL when no dimension of positive weight was answered.';

-- NPS per month and store from the recommend question (0-10 answers).
CREATE VIEW @extschema@.nps_trend AS
SELECT g.month, g.store,
	   (g.result).responses,
	   (g.result).promoters,
	   (g.result).passives,
	   (g.result).detractors,
	   round((g.result).nps::numeric, 2)::numeric(5,2) AS nps,
	   round((g.result).std_error::numeric, 2)::numeric(5,2) AS std_error,
	   round((g.result).ci_low::numeric, 2)::numeric(5,2) AS ci_low,
	   round((g.result).ci_high::numeric, 2)::numeric(5,2) AS ci_high
FROM (
	SELECT date_trunc('month', r.responded_at) AS month,
		   CASE WHEN grouping(r.store) = 1 THEN '(all stores)' ELSE coalesce(r.store, '(no store)') END AS store,
		   @extschema@.nps(r.score::integer) AS result
	FROM @extschema@.survey_responses AS r
	WHERE r.dimension = 'recommend' AND r.scale_min = 0 AND r.scale_max = 10
	GROUP BY GROUPING SETS ((date_trunc('month', r.responded_at)), (date_trunc('month', r.responded_at), r.store))
) AS g;
COMMENT ON VIEW @extschema@.nps_trend IS
	'Net Promoter Score per month and store with its 95 % interval, from the answers to the recommend dimension on the 0-10 scale (scores rounded to whole numbers).';
COMMENT ON COLUMN @extschema@.nps_trend.month IS 'First instant of the calendar month, in the session TimeZone.';
COMMENT ON COLUMN @extschema@.nps_trend.store IS 'Store; (all stores) for the month''s total, (no store) for answers without one.';
COMMENT ON COLUMN @extschema@.nps_trend.responses IS 'Answers.';
COMMENT ON COLUMN @extschema@.nps_trend.promoters IS 'Answers 9-10.';
COMMENT ON COLUMN @extschema@.nps_trend.passives IS 'Answers 7-8.';
COMMENT ON COLUMN @extschema@.nps_trend.detractors IS 'Answers 0-6.';
COMMENT ON COLUMN @extschema@.nps_trend.nps IS 'NPS, -100 to 100.';
COMMENT ON COLUMN @extschema@.nps_trend.std_error IS 'Standard error of the NPS.';
COMMENT ON COLUMN @extschema@.nps_trend.ci_low IS 'Lower end of the 95 % interval.';
COMMENT ON COLUMN @extschema@.nps_trend.ci_high IS 'Upper end of the 95 % interval.';

-- Each customer's overall index in the current and the previous window
-- before the last refresh's as_of.
CREATE VIEW @extschema@.customer_satisfaction AS
WITH params AS (
	SELECT (SELECT max(cs.as_of) FROM @extschema@.customer_segments AS cs) AS as_of,
		   v.satisfaction_window_days * interval '1 day' AS window_length
	FROM @extschema@.voice_settings AS v
), windowed AS (
	SELECT r.customer_id, d.dimension_no, d.weight, r.score, r.scale_min, r.scale_max,
		   r.responded_at > p.as_of - p.window_length AS in_current,
		   p.as_of
	FROM @extschema@.survey_responses AS r
	JOIN @extschema@.satisfaction_dimensions AS d USING (dimension)
	CROSS JOIN params AS p
	WHERE r.customer_id IS NOT NULL
	  AND r.responded_at <= p.as_of
	  AND r.responded_at > p.as_of - 2 * p.window_length
	  AND d.weight > 0
), indexed AS (
	SELECT w.customer_id,
		   @extschema@.multi_dimension_index(w.dimension_no, w.weight, w.score, w.scale_min, w.scale_max)
			   FILTER (WHERE w.in_current) AS current_index,
		   count(*) FILTER (WHERE w.in_current) AS current_responses,
		   @extschema@.multi_dimension_index(w.dimension_no, w.weight, w.score, w.scale_min, w.scale_max)
			   FILTER (WHERE NOT w.in_current) AS previous_index,
		   count(*) FILTER (WHERE NOT w.in_current) AS previous_responses,
		   min(w.as_of) AS as_of
	FROM windowed AS w
	GROUP BY w.customer_id
)
SELECT i.customer_id,
	   round(i.current_index::numeric, 2)::numeric(5,2) AS current_index,
	   i.current_responses,
	   round(i.previous_index::numeric, 2)::numeric(5,2) AS previous_index,
	   i.previous_responses,
	   round((i.current_index - i.previous_index)::numeric, 2)::numeric(5,2) AS index_change,
	   i.as_of
FROM indexed AS i;
COMMENT ON VIEW @extschema@.customer_satisfaction IS
	'Each customer''s weighted satisfaction index in the current window (the crm.voice_settings.satisfaction_window_days days up to the last refresh''s as_of) and in the window before it. Empty before the first refresh.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.customer_id IS 'Customer key.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.current_index IS 'Weighted index, 0-100, over the current window; NULL without answers.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.current_responses IS 'Answers in the current window.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.previous_index IS 'Weighted index over the previous window; NULL without answers.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.previous_responses IS 'Answers in the previous window.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.index_change IS 'current_index - previous_index; negative when satisfaction fell.';
COMMENT ON COLUMN @extschema@.customer_satisfaction.as_of IS 'Analysis date of the last refresh, end of the current window.';

-- Rights and dump registration of the objects above.
GRANT SELECT ON @extschema@.satisfaction_trend, @extschema@.satisfaction_index_monthly,
	@extschema@.nps_trend, @extschema@.customer_satisfaction,
	@extschema@.satisfaction_dimensions, @extschema@.voice_settings
TO crm_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON
	@extschema@.satisfaction_dimensions, @extschema@.survey_responses,
	@extschema@.feedback, @extschema@.voice_settings
TO crm_admin;
GRANT USAGE, SELECT ON SEQUENCE @extschema@.survey_responses_response_id_seq,
	@extschema@.feedback_feedback_id_seq
TO crm_admin;
CREATE TRIGGER satisfaction_dimensions_replace BEFORE INSERT ON @extschema@.satisfaction_dimensions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('dimension');
CREATE TRIGGER voice_settings_replace BEFORE INSERT ON @extschema@.voice_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.replace_row_with_same_key('singleton');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.satisfaction_dimensions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.survey_responses', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.survey_responses_response_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.feedback', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.feedback_feedback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.voice_settings', '');
