-- RFM scoring: map recency, frequency and monetary value to scores 1..5 against given break points

CREATE TYPE @extschema@.rfm_scores AS (
	r_score smallint,
	f_score smallint,
	m_score smallint,
	fm_score smallint,
	rfm_code smallint
);

COMMENT ON TYPE @extschema@.rfm_scores IS
'RFM scores of one customer, each 1..5 with 5 = best, as returned by rfm_score.';
COMMENT ON COLUMN @extschema@.rfm_scores.r_score IS
'Recency score 1..5: 6 - rfm_band(recency_days, r_breaks), so fewer days since the last purchase scores higher.';
COMMENT ON COLUMN @extschema@.rfm_scores.f_score IS
'Frequency score 1..5: rfm_band(frequency, f_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.m_score IS
'Monetary score 1..5: rfm_band(monetary, m_breaks).';
COMMENT ON COLUMN @extschema@.rfm_scores.fm_score IS
'FM score 1..5: (f_score + m_score + 1) / 2 in integer arithmetic, the mean of F and M rounded half up; the FM axis of the 11-segment scheme.';
COMMENT ON COLUMN @extschema@.rfm_scores.rfm_code IS
'Composite code r_score * 100 + f_score * 10 + m_score, 111..555.';

CREATE FUNCTION @extschema@.rfm_band(value double precision, breaks double precision[])
RETURNS smallint
AS 'MODULE_PATHNAME', 'rfm_band'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_band(double precision, double precision[]) IS
'Band 1..5 of value: 1 + the number of break points that value strictly exceeds. breaks must be a one-dimensional array of exactly 4 finite, non-decreasing values without NULLs; a value equal to a break stays in the lower band, equal values always share a band, and equal breaks leave the bands between them empty. value must be finite. NULL in, NULL out.';

CREATE FUNCTION @extschema@.rfm_score(
	recency_days double precision,
	frequency double precision,
	monetary double precision,
	r_breaks double precision[],
	f_breaks double precision[],
	m_breaks double precision[])
RETURNS @extschema@.rfm_scores
AS 'MODULE_PATHNAME', 'rfm_score'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.rfm_score(double precision, double precision, double precision, double precision[], double precision[], double precision[]) IS
'RFM scores of one customer (5 = best): F = rfm_band(frequency, f_breaks), M = rfm_band(monetary, m_breaks), R = 6 - rfm_band(recency_days, r_breaks), FM = (F + M + 1) / 2 (mean rounded half up), rfm_code = R*100 + F*10 + M. Each break array holds exactly 4 finite, non-decreasing values; ties at a break never split. recency_days (days from the last purchase to the analysis date) and frequency (number of orders) must be finite and >= 0; monetary (net spend) must be finite and may be negative after returns. NULL in, NULL out.';
