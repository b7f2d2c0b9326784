/*-------------------------------------------------------------------------
 *
 * pareto_nbd.c
 *	  The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987; Fader,
 *	  Hardie & Lee 2005, "A Note on Implementing the Pareto/NBD Model in
 *	  MATLAB"): the crm.pareto_nbd_fit aggregate, the per-customer
 *	  log-likelihood and its gradient, P(alive) now and later, churn risk
 *	  over a horizon and conditional expected purchases.
 *
 * Purchase rates lambda ~ Gamma(r, alpha) and dropout rates
 * mu ~ Gamma(s, beta), independent; a customer buys as a Poisson process
 * of rate lambda while alive and lives an Exp(mu) time after the first
 * purchase.  For one customer (x, t_x, T):
 *
 *	 L = G(r+x) alpha^r beta^s / G(r) [E1 + s I],
 *	 E1 = (alpha+T)^-(r+x) (beta+T)^-s,
 *	 I = int_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau
 *
 * (I is the paper's A0 / (r+s+x)).  Everything below rests on
 *
 *	 G_{P,Q}(t) = int_t^inf (A+tau)^-P (B+tau)^-Q dtau,	P + Q > 1,
 *
 * so that I = G_{r+x,s+1}(t_x) - G_{r+x,s+1}(T), taken in logs as
 * ln G(t_x) + log1p(-G(T) / G(t_x)), and ln L a log-sum-exp of E1 and s I
 * like bgnbd.c's: nothing overflows for heavy buyers or long-lapsed
 * customers.  The log-odds that the customer is dead, lo = ln(s I / E1),
 * gives P(alive) = 1 / (1 + e^lo), which is below 1 also for x = 0.
 *
 * G is evaluated by a series where it converges quickly and by a
 * quadrature elsewhere (see ParetoTailIntegral), both with the analytic
 * derivatives of ln G with respect to P, Q, A and B that the fit needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/float.h"

#include "btyd.h"
#include "grouped_points.h"

/* crm.pareto_nbd_model has the purchase model columns. */
#define PARETO_NPARAMS		4

static const char *const pareto_param_names[PARETO_NPARAMS] = {"r", "alpha", "s", "beta"};

static const ModelSpec pareto_spec = {
	"pareto_nbd", PARETO_NPARAMS, pareto_param_names, PURCHASE_NATTS,
	"Pareto/NBD parameters r, alpha, s and beta must all be greater than 0; fit them with crm.pareto_nbd_fit() or pass published ones to crm.pareto_nbd_model().",
	PURCHASE_COL_SE
};

/* Model arguments and the fit read ParetoNbdParams as an array of parameters. */
StaticAssertDecl(sizeof(ParetoNbdParams) == PARETO_NPARAMS * sizeof(double),
				 "ParetoNbdParams must be an array of doubles");

/*
 * ln G_{P,Q}(t) and its derivatives with respect to P, Q, A and B (equal
 * to those with respect to a = A + t and b = B + t).
 */
typedef struct ParetoTail
{
	double		log;
	double		dP;
	double		dQ;
	double		dA;
	double		dB;
} ParetoTail;

/* How G is evaluated: the series if quick, else the quadrature; or forced. */
typedef enum ParetoMethod
{
	PARETO_AUTO,
	PARETO_SERIES,
	PARETO_QUADRATURE
} ParetoMethod;

/*
 * The series.  With A >= B (else swap (A, P) with (B, Q)), Euler's
 * transformation of the integral gives
 *
 *	 G = a^-P b^(1-Q) S(z) / (P+Q-1),	z = (A-B)/(A+t) in [0, 1),
 *	 S(z) = 2F1(1, P; P+Q; z) = sum_n c_n z^n,
 *	 c_n = prod_{k<n} (P+k) / (P+Q+k),
 *
 * whose coefficients all lie in (0, 1]: no overflow for any x, and the
 * term ratio is below z, so the tail after a term is bounded by that term
 * times z / (1 - z).  It needs about 40 / (1 - z) terms; when z is close to
 * 1 (beta huge against alpha + t, where a fit drives the dropout towards 0)
 * that is too many and the quadrature takes over.
 */
#define PARETO_SERIES_MAX_Z		0.95
/* terms summed before falling back: enough for z <= 0.95 */
#define PARETO_SERIES_BUDGET	1500

/*
 * Sum the series for G_{P,Q}(t), a = A + t >= b = B + t, diff = A - B >= 0
 * (passed so that z keeps its precision when t is large).  Returns false if
 * it has not converged within the budget.
 */
static bool
ParetoTailSeries(double P, double Q, double lambda, double a, double b,
				 double log_a, double log_b, double diff, bool want_grad,
				 ParetoTail *out)
{
	double		z = diff / a;
	double		term = 1.0;		/* c_n z^n */
	double		sum = 1.0;		/* S */
	double		sum_dP = 0.0;	/* dS/dP */
	double		sum_dQ = 0.0;	/* dS/dQ */
	double		sum_dz = 0.0;	/* dS/dz */
	double		dlog_c_P = 0.0; /* d ln c_n / dP */
	double		dlog_c_Q = 0.0; /* d ln c_n / dQ */
	int			n;

	for (n = 1;; n++)
	{
		double		c = P + Q + n - 1;
		double		coefficient = term * ((P + n - 1) / c);	/* c_n z^(n-1) */

		if (n > PARETO_SERIES_BUDGET)
			return false;
		term = coefficient * z;
		sum += term;
		if (want_grad)
		{
			dlog_c_P += 1.0 / (P + n - 1) - 1.0 / c;
			dlog_c_Q -= 1.0 / c;
			sum_dP += term * dlog_c_P;
			sum_dQ += term * dlog_c_Q;
			sum_dz += n * coefficient;
		}

		/*
		 * What is left of S is below term z / (1 - z), of dS/dz below
		 * coefficient (n + 1/(1-z)) z / (1-z), and of dS/dP, dS/dQ below
		 * that of S times the growing |d ln c_n|.
		 */
		if (want_grad)
		{
			if (coefficient * (n + 1 / (1 - z)) / (1 - z) * (1 + dlog_c_P - dlog_c_Q) <=
				DBL_EPSILON / 4 * sum)
				break;
		}
		else if (term * z <= DBL_EPSILON / 4 * sum * (1 - z))
			break;
	}
	out->log = -P * log_a + (1 - Q) * log_b + log(sum) - log(lambda);
	if (want_grad)
	{
		double		dlog_S_dz = sum_dz / sum;

		out->dP = -log_a + sum_dP / sum - 1 / lambda;
		out->dQ = -log_b + sum_dQ / sum - 1 / lambda;
		/* z = 1 - b / a */
		out->dA = -P / a + dlog_S_dz * (b / a) / a;
		out->dB = (1 - Q) / b - dlog_S_dz / a;
	}
	return true;
}

/*
 * The quadrature.  In v = ln(tau - t) the integrand of G is
 *
 *	 f(v) = e^v (a + e^v)^-P (b + e^v)^-Q,
 *	 ln f = -lambda v - P ln(1 + a e^-v) - Q ln(1 + b e^-v),
 *
 * lambda = P + Q - 1, log-concave (its second derivative is
 * -P wa (1-wa) - Q wb (1-wb), wa = a / (a + e^v)), rising like e^v on the
 * left and falling like e^(-lambda v) on the right, with its changes of
 * slope at v = ln b, ln a and its mode.  Its singularities lie at
 * |Im v| = pi, so the trapezoidal rule with step h converges like
 * e^(-pi^2 / h) (bounded in |Im v| < pi/2) on nodes spaced uniformly in
 * v around those features.  Beyond them v = phi(s) with
 *
 *	 phi(s) = s + sigma (e^(g (s - s_R) / sigma) - e^(g (s_L - s) / sigma)),
 *
 * g = 1/2, grows exponentially (as in bgnbd.c's quadrature), so a tail that
 * decays slowly (lambda small: few purchases, slow dropout) costs a few
 * nodes rather than thousands.  sigma is the width of the integrand in v
 * where it is narrower than 1 (heavy buyers).  Nodes stop where ln f falls
 * PARETO_QUAD_CUT below its mode.  The derivatives of ln G are moments of
 * the same nodes: d/dP = -E[ln(a + u)], d/dA = -P E[1 / (a + u)], ...
 */
/* h / sigma; about e^-40 relative error */
#define PARETO_QUAD_STEP		0.25
/* around the features of the integrand, in e-folds of v */
#define PARETO_QUAD_MARGIN		4.0
/* cut, in e-folds below the mode */
#define PARETO_QUAD_CUT			45.0
/* growth of the map beyond the features */
#define PARETO_QUAD_GROWTH		0.5
/* a bound on the nodes, far above what any valid input needs */
#define PARETO_QUAD_MAX_NODES	100000

/* ln(1 + c e^-v) and c / (c + e^v) from d = v - ln c, without overflow */
static inline void
ParetoLogTerm(double d, double *log_term, double *weight)
{
	if (d >= 0)
	{
		double		e = exp(-d);

		*log_term = log1p(e);
		*weight = e / (1 + e);
	}
	else
	{
		double		e = exp(d);

		*log_term = -d + log1p(e);
		*weight = 1 / (1 + e);
	}
}

/*
 * ln f(v); if terms is not NULL, terms[0..3] = ln(1 + a e^-v),
 * ln(1 + b e^-v), wa, wb.
 */
static inline double
ParetoLogIntegrand(double P, double Q, double lambda, double log_a,
				   double log_b, double v, double *terms)
{
	double		t[4];

	ParetoLogTerm(v - log_a, &t[0], &t[2]);
	ParetoLogTerm(v - log_b, &t[1], &t[3]);
	if (terms != NULL)
		memcpy(terms, t, sizeof(t));
	return -lambda * v - P * t[0] - Q * t[1];
}

/*
 * The v where ln f falls to target, walking from the mode v0 in direction
 * dir: ln f is concave, so it is unique; doubling, then bisection.
 */
static double
ParetoLevel(double P, double Q, double lambda, double log_a, double log_b,
			double v0, double target, double dir, double width)
{
	double		inner = v0;
	double		outer = v0 + dir * width;
	int			i;

	for (i = 0; i < 2100 &&
		 ParetoLogIntegrand(P, Q, lambda, log_a, log_b, outer, NULL) > target; i++)
	{
		inner = outer;
		width *= 2;
		outer = v0 + dir * width;
	}
	for (i = 0; i < 200 && fabs(outer - inner) > PARETO_QUAD_STEP / 16 * Min(1.0, width); i++)
	{
		double		mid = (inner + outer) / 2;

		if (ParetoLogIntegrand(P, Q, lambda, log_a, log_b, mid, NULL) > target)
			inner = mid;
		else
			outer = mid;
	}
	return outer;
}

static void
ParetoTailQuadrature(double P, double Q, double lambda, double a, double b,
					 double log_a, double log_b, bool want_grad, ParetoTail *out)
{
	const double g = PARETO_QUAD_GROWTH;
	double		lo;
	double		hi;
	double		mode;
	double		terms[4];
	double		log_mode;
	double		kappa;
	double		sigma;
	double		h;
	double		v_lo,
				v_hi;
	double		s_L,
				s_R;
	double		total = 0.0;
	double		m_la = 0.0,
				m_lb = 0.0,
				m_wa = 0.0,
				m_wb = 0.0;
	int			dir;
	int			nodes = 0;
	int			i;

	/*
	 * The mode: the root of d ln f / dv = -lambda + P wa + Q wb, which
	 * falls from 1 to -lambda.  Bracket it by doubling from the features,
	 * then bisect.
	 */
	lo = Min(log_a, log_b) - 1;
	hi = Max(log_a, log_b) + 1;
	for (i = 0; i < 1000; i++)
	{
		ParetoLogIntegrand(P, Q, lambda, log_a, log_b, lo, terms);
		if (-lambda + P * terms[2] + Q * terms[3] > 0)
			break;
		lo -= ldexp(2.0, Min(i, 60));
	}
	for (i = 0; i < 1000; i++)
	{
		ParetoLogIntegrand(P, Q, lambda, log_a, log_b, hi, terms);
		if (-lambda + P * terms[2] + Q * terms[3] < 0)
			break;
		/* the root lies near ln((P a + Q b) / lambda) when lambda is small */
		hi += ldexp(2.0, Min(i, 60)) * Max(1.0, 1 / lambda);
	}
	/* to 1e-6 of |v|: the mode only places the nodes */
	for (i = 0; i < 200 && hi - lo > 1e-6 * Max(1.0, fabs(lo)); i++)
	{
		double		mid = (lo + hi) / 2;

		if (mid == lo || mid == hi)
			break;
		ParetoLogIntegrand(P, Q, lambda, log_a, log_b, mid, terms);
		if (-lambda + P * terms[2] + Q * terms[3] > 0)
			lo = mid;
		else
			hi = mid;
	}
	mode = (lo + hi) / 2;
	log_mode = ParetoLogIntegrand(P, Q, lambda, log_a, log_b, mode, terms);
	kappa = P * terms[2] * (1 - terms[2]) + Q * terms[3] * (1 - terms[3]);
	sigma = Min(1.0, 2 / sqrt(kappa));
	h = PARETO_QUAD_STEP * sigma;

	v_lo = ParetoLevel(P, Q, lambda, log_a, log_b, mode, log_mode - PARETO_QUAD_CUT, -1, sigma);
	v_hi = ParetoLevel(P, Q, lambda, log_a, log_b, mode, log_mode - PARETO_QUAD_CUT, 1, sigma);
	s_L = Max(Min(mode, Min(log_a, log_b)), v_lo) - PARETO_QUAD_MARGIN * sigma;
	s_R = Min(Max(mode, Max(log_a, log_b)), v_hi) + PARETO_QUAD_MARGIN * sigma;

	/* nodes s = mode + j h, walking out both ways until phi(s) leaves [v_lo, v_hi] */
	for (dir = -1; dir <= 1; dir += 2)
	{
		double		s = (dir < 0) ? mode : mode + h;
		double		right = exp(g * (s - s_R) / sigma);
		double		left = exp(g * (s_L - s) / sigma);
		double		step_right = exp(dir * g * h / sigma);
		double		step_left = 1 / step_right;

		for (;;)
		{
			double		v = s + sigma * (right - left);
			double		weight;
			double		lf;

			if (dir < 0 ? v < v_lo : v > v_hi)
				break;
			/* reached only by parameters or times far out of scale (s = 9e18) */
			if (++nodes > PARETO_QUAD_MAX_NODES)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the Pareto/NBD integral needs more than %d quadrature nodes", PARETO_QUAD_MAX_NODES),
						 errhint("A model parameter or a time lies far outside the scale of customer data; check units and the model parameters.")));
			lf = ParetoLogIntegrand(P, Q, lambda, log_a, log_b, v, terms);
			weight = exp(lf - log_mode) * (1 + g * (right + left));
			total += weight;
			if (want_grad)
			{
				/* ln(a + u) = v + ln(1 + a e^-v) */
				m_la += weight * (v + terms[0]);
				m_lb += weight * (v + terms[1]);
				m_wa += weight * terms[2];
				m_wb += weight * terms[3];
			}
			s += dir * h;
			right *= step_right;
			left *= step_left;
		}
	}
	out->log = log_mode + log(total * h);
	if (want_grad)
	{
		out->dP = -m_la / total;
		out->dQ = -m_lb / total;
		out->dA = -P * (m_wa / total) / a;
		out->dB = -Q * (m_wb / total) / b;
	}
}

/*
 * ln G_{P,Q}(t) and, if want_grad, its derivatives, for A, B > 0 and
 * t >= 0; lambda = P + Q - 1 > 0, passed computed from the model's
 * parameters so that it keeps its digits when it is small.  method PARETO_AUTO
 * takes the series if quick; *used says which method served.
 */
static void
ParetoTailIntegral(double P, double Q, double lambda, double A, double B,
				   double t, bool want_grad, ParetoMethod method,
				   ParetoMethod *used, ParetoTail *out)
{
	double		a = A + t;
	double		b = B + t;
	double		log_a = log(a);
	double		log_b = log(b);
	bool		swap = A < B;

	if (method != PARETO_QUADRATURE &&
		(method == PARETO_SERIES || fabs(A - B) / Max(a, b) <= PARETO_SERIES_MAX_Z))
	{
		bool		done;

		if (swap)
		{
			done = ParetoTailSeries(Q, P, lambda, b, a, log_b, log_a, B - A, want_grad, out);
			if (done && want_grad)
			{
				double		d;

				d = out->dP;
				out->dP = out->dQ;
				out->dQ = d;
				d = out->dA;
				out->dA = out->dB;
				out->dB = d;
			}
		}
		else
			done = ParetoTailSeries(P, Q, lambda, a, b, log_a, log_b, A - B, want_grad, out);
		if (done)
		{
			*used = PARETO_SERIES;
			return;
		}
	}
	ParetoTailQuadrature(P, Q, lambda, a, b, log_a, log_b, want_grad, out);
	*used = PARETO_QUADRATURE;
}

/*
 * ln G with its gradient at whole-day times, for the fit.  The refresh's
 * t_x and T are whole days and the points of one x share them (a fit of
 * 236,000 distinct points has a few tens of thousands of distinct (x, t)),
 * so each is evaluated once per x and parameters instead of once per
 * point.  An entry is valid while its stamp is the cache's: a new x or new
 * parameters invalidate them all at once.  Entries of PARETO_AUTO
 * evaluations and of forced quadratures are kept apart (see
 * ParetoTailDifference).
 */
#define PARETO_DAY_TABLE	4096

typedef struct ParetoDayEntry
{
	int64		stamp;
	ParetoMethod used;
	ParetoTail	tail;
} ParetoDayEntry;

typedef struct ParetoTailCache
{
	int64		stamp;
	ParetoDayEntry by_auto[PARETO_DAY_TABLE];
	ParetoDayEntry by_quadrature[PARETO_DAY_TABLE];
} ParetoTailCache;

/*
 * ParetoTailIntegral with its gradient, through cache when there is one
 * and t is a whole day it covers.  A forced series (the method that
 * served an earlier t) takes a PARETO_AUTO entry that the series served:
 * both sum the same series.
 */
static void
ParetoTailCached(ParetoTailCache *cache, double P, double Q, double lambda,
				 double A, double B, double t, ParetoMethod method,
				 ParetoMethod *used, ParetoTail *out)
{
	ParetoDayEntry *entry = NULL;

	if (cache != NULL && t >= 0 && t < PARETO_DAY_TABLE && t == floor(t))
	{
		entry = (method == PARETO_QUADRATURE) ? &cache->by_quadrature[(int) t]
			: &cache->by_auto[(int) t];
		if (entry->stamp == cache->stamp && (method == PARETO_AUTO || entry->used == method))
		{
			*used = entry->used;
			*out = entry->tail;
			return;
		}
		if (method == PARETO_SERIES)
			entry = NULL;		/* a forced series is not what PARETO_AUTO gives here */
	}
	ParetoTailIntegral(P, Q, lambda, A, B, t, true, method, used, out);
	if (entry != NULL)
	{
		entry->stamp = cache->stamp;
		entry->used = *used;
		entry->tail = *out;
	}
}

/*
 * ln G without gradient at whole-day times, for the scoring functions: a
 * query scores many customers with one model, and they share (x, t)
 * (a million customers, a few hundred thousand distinct (x, t) pairs of
 * both kinds of G), so each value is summed once per call site.  Keyed by
 * (P, Q, t, method): for one model's parameters P and Q give x and the
 * kind of G.  Kept in the model's scratch slot (fn_mcxt) while the
 * parameters stay the same; at most PARETO_MEMO_MAX_ENTRIES values.
 */
typedef struct ParetoMemoKey
{
	double		P;
	double		Q;
	double		t;
	int32		method;
	int32		zero;			/* keys are hashed and compared as bytes */
} ParetoMemoKey;

typedef struct ParetoMemoEntry
{
	ParetoMemoKey key;
	double		log;
	int32		used;			/* ParetoMethod that served */
	char		status;			/* simplehash slot status */
} ParetoMemoEntry;

#define SH_PREFIX		pareto_memo
#define SH_ELEMENT_TYPE ParetoMemoEntry
#define SH_KEY_TYPE		ParetoMemoKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) &(key), sizeof(ParetoMemoKey))
#define SH_EQUAL(tb, a, b) (memcmp(&(a), &(b), sizeof(ParetoMemoKey)) == 0)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define PARETO_MEMO_MAX_ENTRIES		(1 << 20)

typedef struct ParetoMemo
{
	ParetoNbdParams params;		/* the model the values belong to */
	pareto_memo_hash *table;
} ParetoMemo;

/* The memo of this call site for model p, emptied if p changed; or NULL. */
static ParetoMemo *
ParetoMemoFor(FunctionCallInfo fcinfo, const ParetoNbdParams *p)
{
	void	  **slot = ModelScratch(fcinfo);
	ParetoMemo *memo;

	if (slot == NULL)
		return NULL;
	memo = (ParetoMemo *) *slot;
	if (memo == NULL)
	{
		memo = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ParetoMemo));
		memo->table = pareto_memo_create(fcinfo->flinfo->fn_mcxt, 1024, NULL);
		memo->params = *p;
		*slot = memo;
	}
	else if (memcmp(&memo->params, p, sizeof(ParetoNbdParams)) != 0)
	{
		pareto_memo_reset(memo->table);
		memo->params = *p;
	}
	return memo;
}

/* ParetoTailIntegral without gradient, through memo for whole days. */
static void
ParetoTailMemoized(ParetoMemo *memo, double P, double Q, double lambda,
				   double A, double B, double t, ParetoMethod method,
				   ParetoMethod *used, ParetoTail *out)
{
	ParetoMemoKey key;
	ParetoMemoEntry *entry;
	bool		found;

	if (memo == NULL || !(t >= 0 && t < PARETO_DAY_TABLE && t == floor(t)))
	{
		ParetoTailIntegral(P, Q, lambda, A, B, t, false, method, used, out);
		return;
	}
	memset(&key, 0, sizeof(key));
	key.P = P;
	key.Q = Q;
	key.t = t;
	key.method = method;
	entry = pareto_memo_lookup(memo->table, key);
	if (entry != NULL)
	{
		*used = (ParetoMethod) entry->used;
		out->log = entry->log;
		return;
	}
	ParetoTailIntegral(P, Q, lambda, A, B, t, false, method, used, out);
	if (memo->table->members < PARETO_MEMO_MAX_ENTRIES)
	{
		entry = pareto_memo_insert(memo->table, key, &found);
		entry->log = out->log;
		entry->used = *used;
	}
}

/*
 * ln of G(t1) - G(t2) for t1 <= t2, both by one method (the one that
 * serves t1, where z is larger), so that their difference cancels
 * cleanly; -Infinity when t1 = t2.  rho = G(t2) / G(t1) in *rho.  With a
 * cache (the fit's; want_grad then true) or a memo (scoring; want_grad
 * false), whole days are looked up there.
 */
static double
ParetoTailDifference(double P, double Q, double lambda, double A, double B,
					 double t1, double t2, bool want_grad, ParetoTailCache *cache,
					 ParetoMemo *memo, ParetoTail *g1, ParetoTail *g2, double *rho)
{
	ParetoMethod used;

	Assert(cache == NULL || want_grad);
	Assert(memo == NULL || !want_grad);
	if (cache != NULL)
		ParetoTailCached(cache, P, Q, lambda, A, B, t1, PARETO_AUTO, &used, g1);
	else if (memo != NULL)
		ParetoTailMemoized(memo, P, Q, lambda, A, B, t1, PARETO_AUTO, &used, g1);
	else
		ParetoTailIntegral(P, Q, lambda, A, B, t1, want_grad, PARETO_AUTO, &used, g1);
	if (t2 == t1)
	{
		*g2 = *g1;
		*rho = 1.0;
		return -INFINITY;
	}
	if (cache != NULL)
		ParetoTailCached(cache, P, Q, lambda, A, B, t2, used, &used, g2);
	else if (memo != NULL)
		ParetoTailMemoized(memo, P, Q, lambda, A, B, t2, used, &used, g2);
	else
		ParetoTailIntegral(P, Q, lambda, A, B, t2, want_grad, used, &used, g2);
	/* rounding must not make the integral of a positive function negative */
	if (!(g2->log < g1->log))
	{
		*rho = 1.0;
		return -INFINITY;
	}
	*rho = exp(g2->log - g1->log);
	return g1->log + log1p(-*rho);
}

/* The parts of ln L and its gradient that depend on x only. */
typedef struct ParetoXTerms
{
	ParetoNbdParams params;		/* the parameters they were computed for */
	double		x;
	double		base;			/* ln G(r+x) - ln G(r) + r ln alpha + s ln beta */
	double		dr;				/* d base / dr */
} ParetoXTerms;

/* The fit's cache: the x-only terms of the current x, and its whole-day ln G. */
typedef struct ParetoFitCache
{
	ParetoXTerms xt;
	ParetoTailCache tails;
} ParetoFitCache;

static void
ParetoXTermsFor(const ParetoNbdParams *p, double x, ParetoXTerms *t)
{
	t->params = *p;
	t->x = x;
	t->base = lgamma(p->r + x) - lgamma(p->r) + p->r * log(p->alpha) + p->s * log(p->beta);
	t->dr = Digamma(p->r + x) - Digamma(p->r) + log(p->alpha);
}

/*
 * lo = ln(s I / E1), the log-odds that the customer is dead; -Infinity
 * when t_x = T (a purchase at the analysis date).  With grad, the
 * derivatives of ln(s I) in grad_sI and those of ln E1 in grad_E1.
 */
static double
ParetoLogOddsDeadGrad(const ParetoNbdParams *p, double x, double t_x, double T,
					  ParetoTailCache *cache, ParetoMemo *memo, double *log_E1,
					  double *grad_sI, double *grad_E1)
{
	double		lambda = p->r + p->s + x;
	double		log_aT = log(p->alpha + T);
	double		log_bT = log(p->beta + T);
	ParetoTail g1,
				g2;
	double		rho;
	double		log_I;

	*log_E1 = -(p->r + x) * log_aT - p->s * log_bT;
	log_I = ParetoTailDifference(p->r + x, p->s + 1, lambda, p->alpha, p->beta,
								 t_x, T, grad_sI != NULL, grad_sI != NULL ? cache : NULL,
								 grad_sI != NULL ? NULL : memo, &g1, &g2, &rho);
	if (grad_sI != NULL)
	{
		grad_E1[0] = -log_aT;
		grad_E1[1] = -(p->r + x) / (p->alpha + T);
		grad_E1[2] = -log_bT;
		grad_E1[3] = -p->s / (p->beta + T);
		if (isinf(log_I))
			memset(grad_sI, 0, PARETO_NPARAMS * sizeof(double));
		else
		{
			/* d ln(G1 - G2) = (d ln G1 - rho d ln G2) / (1 - rho) */
			double		k = 1 / (1 - rho);

			grad_sI[0] = (g1.dP - rho * g2.dP) * k;
			grad_sI[1] = (g1.dA - rho * g2.dA) * k;
			grad_sI[2] = (g1.dQ - rho * g2.dQ) * k + 1 / p->s;
			grad_sI[3] = (g1.dB - rho * g2.dB) * k;
		}
	}
	return log(p->s) + log_I - *log_E1;
}

/*
 * lo, the log-odds that a customer is dead; -Infinity for t_x = T.  memo
 * (or NULL) is the call site's.
 */
static double
ParetoLogOddsDead(const ParetoNbdParams *p, ParetoMemo *memo, double x,
				  double t_x, double T)
{
	double		log_E1;

	return ParetoLogOddsDeadGrad(p, x, t_x, T, NULL, memo, &log_E1, NULL, NULL);
}

/*
 * ln L of one customer, and its gradient with respect to (r, alpha, s,
 * beta) in grad if grad is not NULL: ln L = base + ln E1 + ln(1 + e^lo),
 * whose derivative weighs those of ln(s I) and ln E1 by w = 1 - P(alive)
 * and P(alive).
 */
static double
ParetoPointLogLik(const ParetoNbdParams *p, const ParetoXTerms *xt, double t_x,
				  double T, ParetoTailCache *cache, double *grad)
{
	double		grad_sI[PARETO_NPARAMS];
	double		grad_E1[PARETO_NPARAMS];
	double		log_E1;
	double		lo = ParetoLogOddsDeadGrad(p, xt->x, t_x, T, cache, NULL, &log_E1,
										   grad != NULL ? grad_sI : NULL, grad_E1);
	double		ll = xt->base + log_E1;
	double		w = 0.0;
	int			k;

	if (!isinf(lo))
	{
		/* Softplus(lo) and Logistic(lo) sharing one exp() of -|lo| */
		double		e = exp(-fabs(lo));

		ll += Max(lo, 0.0) + log1p(e);
		w = (lo >= 0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
	}
	if (grad != NULL)
	{
		for (k = 0; k < PARETO_NPARAMS; k++)
			grad[k] = (1 - w) * grad_E1[k] + w * grad_sI[k];
		grad[0] += xt->dr;
		grad[1] += p->r / p->alpha;
		grad[2] += log(p->beta);
		grad[3] += p->s / p->beta;
	}
	return ll;
}

/*
 * ln L of a distinct row for the fit.  Rows come sorted by x, so the x-only
 * terms (lgamma, digamma) are recomputed only when x or the parameters
 * change.
 */
static double
ParetoFitPointLogLik(const double *params, const GroupedPoint *point,
					 double *grad, void *cache)
{
	const ParetoNbdParams *p = (const ParetoNbdParams *) params;
	ParetoFitCache *fc = (ParetoFitCache *) cache;

	if (point->v[0] != fc->xt.x || memcmp(&fc->xt.params, p, sizeof(ParetoNbdParams)) != 0)
	{
		ParetoXTermsFor(p, point->v[0], &fc->xt);
		fc->tails.stamp++;
	}
	return ParetoPointLogLik(p, &fc->xt, point->v[1], point->v[2], &fc->tails, grad);
}

/* Read a crm.pareto_nbd_model argument; its parameters must be finite and > 0. */
void
GetParetoNbdModelArg(FunctionCallInfo fcinfo, int argno, ParetoNbdParams *params)
{
	GetModelParameters(fcinfo, argno, &pareto_spec, (double *) params);
}

/*
 * Transition function of pareto_nbd_fit: add one customer (x, t_x, T).
 * Not strict: a NULL raises 22004 rather than silently dropping a customer.
 */
PG_FUNCTION_INFO_V1(pareto_nbd_fit_accum);
Datum
pareto_nbd_fit_accum(PG_FUNCTION_ARGS)
{
	double		v[3];

	/* validate the row before touching the state */
	v[0] = GetDoubleArg(fcinfo, 1, "frequency", "crm.pareto_nbd_fit");
	v[1] = GetDoubleArg(fcinfo, 2, "recency", "crm.pareto_nbd_fit");
	v[2] = GetDoubleArg(fcinfo, 3, "t", "crm.pareto_nbd_fit");
	CheckBtydSummary(v[0], v[1], v[2]);

	PG_RETURN_BYTEA_P(GroupedPointsAdd(GroupedPointsForUpdate(fcinfo, GP_KIND_PARETO_NBD), v));
}

/* Combine function of pareto_nbd_fit: merge two partial states. */
PG_FUNCTION_INFO_V1(pareto_nbd_fit_combine);
Datum
pareto_nbd_fit_combine(PG_FUNCTION_ARGS)
{
	return GroupedPointsCombine(fcinfo, GP_KIND_PARETO_NBD);
}

/*
 * Final function of pareto_nbd_fit: the maximum likelihood model (see
 * PurchaseModelFitFinal; beta starts at mean T, a time scale).  Without any
 * repeat purchase the data cannot tell a low purchase rate from an early
 * dropout: the model is returned with NULL parameters and converged = false.
 */
PG_FUNCTION_INFO_V1(pareto_nbd_fit_final);
Datum
pareto_nbd_fit_final(PG_FUNCTION_ARGS)
{
	GroupedPoints *state = GroupedPointsArg(fcinfo, 0, GP_KIND_PARETO_NBD);
	/* zeroed: no entry of the day tables is valid at stamp 1 */
	ParetoFitCache *cache = palloc0(sizeof(ParetoFitCache));
	ModelFitData fit;
	Datum		model;

	fit.spec = &pareto_spec;
	fit.points = GroupedPointsDistinct(state, &fit.npoints);
	fit.weight = (double) state->rows;
	fit.loglik = ParetoFitPointLogLik;
	fit.cache = cache;
	cache->xt.x = -1;			/* no x yet */
	cache->tails.stamp = 1;
	if (fit.npoints == 0)
		PG_RETURN_NULL();
	model = PurchaseModelFitFinal(fcinfo, &fit, true);
	pfree(cache);
	PG_RETURN_DATUM(model);
}

/* crm.pareto_nbd_model(r, alpha, s, beta): a model from known parameters. */
PG_FUNCTION_INFO_V1(pareto_nbd_model);
Datum
pareto_nbd_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(ModelFromArguments(fcinfo, &pareto_spec));
}

/* Read (frequency, recency, t) at argno.. and the model after them. */
static void
GetCustomerAndModel(FunctionCallInfo fcinfo, int argno, double *x, double *t_x,
					double *T, ParetoNbdParams *p, ParetoMemo **memo)
{
	*x = PG_GETARG_FLOAT8(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*T = PG_GETARG_FLOAT8(argno + 2);
	CheckBtydSummary(*x, *t_x, *T);
	GetParetoNbdModelArg(fcinfo, argno + 3, p);
	if (memo != NULL)
		*memo = ParetoMemoFor(fcinfo, p);
}

/* ln L of the customer and model in the arguments, gradient in grad if not NULL. */
static double
ParetoArgumentsLogLik(FunctionCallInfo fcinfo, double *grad)
{
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoXTerms xt;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p, NULL);
	ParetoXTermsFor(&p, x, &xt);
	return ParetoPointLogLik(&p, &xt, t_x, T, NULL, grad);
}

/* The log-likelihood of one customer under a model. */
PG_FUNCTION_INFO_V1(pareto_nbd_loglik);
Datum
pareto_nbd_loglik(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, ParetoArgumentsLogLik(fcinfo, NULL)));
}

/*
 * The analytic gradient of one customer's log-likelihood with respect to
 * (r, alpha, s, beta): the one the fit uses, exposed so that a test can
 * compare it with finite differences of pareto_nbd_loglik.
 */
PG_FUNCTION_INFO_V1(pareto_nbd_loglik_gradient);
Datum
pareto_nbd_loglik_gradient(PG_FUNCTION_ARGS)
{
	double		grad[PARETO_NPARAMS];

	ParetoArgumentsLogLik(fcinfo, grad);
	PG_RETURN_DATUM(FiniteFloat8ArrayResult(fcinfo, grad, PARETO_NPARAMS));
}

/* P(alive at T) = 1 / (1 + e^lo); 1 only for t_x = T. */
PG_FUNCTION_INFO_V1(pareto_nbd_p_alive);
Datum
pareto_nbd_p_alive(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoMemo *memo;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p, &memo);
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, Logistic(-ParetoLogOddsDead(&p, memo, x, t_x, T))));
}

/* 1 - P(alive) = e^lo / (1 + e^lo), computed directly to keep small risks exact. */
PG_FUNCTION_INFO_V1(pareto_nbd_churn_risk);
Datum
pareto_nbd_churn_risk(PG_FUNCTION_ARGS)
{
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoMemo *memo;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p, &memo);
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, Logistic(ParetoLogOddsDead(&p, memo, x, t_x, T))));
}

/*
 * P(alive at T + future | x, t_x, T) = P(alive) ((beta+T)/(beta+T+future))^s:
 * given alive at T, mu ~ Gamma(s, beta+T) and the customer survives
 * another future with probability E[e^(-mu future)].
 */
PG_FUNCTION_INFO_V1(pareto_nbd_p_alive_future);
Datum
pareto_nbd_p_alive_future(PG_FUNCTION_ARGS)
{
	double		future = PG_GETARG_FLOAT8(4);
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoMemo *memo;

	GetCustomerAndModel(fcinfo, 0, &x, &t_x, &T, &p, &memo);
	CheckNonNegative(future, "future",
					 "future is the time after t at which the customer should still be alive, in the time unit of t.");
	/* a product rather than one exp(), so that future = 0 gives P(alive) exactly */
	PG_RETURN_FLOAT8(FiniteResult(fcinfo, Logistic(-ParetoLogOddsDead(&p, memo, x, t_x, T)) *
								  exp(-p.s * log1p(future / (p.beta + T)))));
}

/*
 * P(no purchase in (T, T + horizon] | x, t_x, T) = 1 - P(alive) B, where B,
 * the probability that a live customer buys within the horizon, is
 *
 *	 E[lambda / (lambda+mu) (1 - e^(-(lambda+mu) horizon))]
 *	   = int_0^horizon E[lambda e^(-lambda tau)] E[e^(-mu tau)] dtau
 *	   = (r+x) (alpha+T)^(r+x) (beta+T)^s [G_{r+x+1,s}(T) - G_{r+x+1,s}(T+horizon)]
 *
 * with lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T) independent
 * given alive at T.  As the horizon grows it tends to
 * 1 - P(alive) E[lambda / (lambda + mu)], not to 1 - P(alive): a live
 * customer may still die before buying again.
 */
PG_FUNCTION_INFO_V1(pareto_nbd_horizon_churn_risk);
Datum
pareto_nbd_horizon_churn_risk(PG_FUNCTION_ARGS)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoMemo *memo;
	double		lo;
	double		k;
	ParetoTail g1,
				g2;
	double		rho;
	double		log_buy;
	double		risk;

	CheckHorizon(horizon);
	GetCustomerAndModel(fcinfo, 1, &x, &t_x, &T, &p, &memo);
	if (horizon == 0)
		PG_RETURN_FLOAT8(1.0);
	lo = ParetoLogOddsDead(&p, memo, x, t_x, T);
	k = p.r + x;
	log_buy = log(k) + k * log(p.alpha + T) + p.s * log(p.beta + T) +
		ParetoTailDifference(k + 1, p.s, p.r + p.s + x, p.alpha, p.beta, T, T + horizon,
							 false, NULL, memo, &g1, &g2, &rho);
	risk = 1 - Logistic(-lo) * exp(log_buy);
	PG_RETURN_FLOAT8(Min(Max(risk, 0.0), 1.0));
}

static void ParetoExpectedPurchasesMemo(const ParetoNbdParams *p, ParetoMemo *memo,
										const double *horizons, int n, double x,
										double t_x, double T, double *expected);

/*
 * E[Y(horizons[i]) | x, t_x, T] into expected[i] for n horizons:
 *
 *	 P(alive) (r+x) (beta+T) / ((alpha+T) (s-1)) [1 - ((beta+T)/(beta+T+h))^(s-1)]
 *
 * written as P(alive) (r+x) (beta+T) / (alpha+T) (-l) phi((s-1) l) with
 * l = -log1p(h / (beta+T)) and phi(u) = expm1(u) / u, which is exact at and
 * near s = 1 (the limit is a logarithm).  P(alive) is computed once.
 */
void
ParetoNbdExpectedPurchasesMany(const ParetoNbdParams *p, const double *horizons,
							   int n, double x, double t_x, double T, double *expected)
{
	ParetoExpectedPurchasesMemo(p, NULL, horizons, n, x, t_x, T, expected);
}

/* The same through a call site's memo (or NULL). */
static void
ParetoExpectedPurchasesMemo(const ParetoNbdParams *p, ParetoMemo *memo,
							const double *horizons, int n, double x, double t_x,
							double T, double *expected)
{
	double		alive = Logistic(-ParetoLogOddsDead(p, memo, x, t_x, T));
	double		scale = alive * (p->r + x) * (p->beta + T) / (p->alpha + T);
	int			i;

	for (i = 0; i < n; i++)
	{
		double		l = -log1p(horizons[i] / (p->beta + T));
		double		u = (p->s - 1) * l;
		double		phi = (u == 0) ? 1.0 : expm1(u) / u;

		expected[i] = scale * -l * phi;
	}
}

/* crm.expected_purchases(horizon, frequency, recency, t, pareto_nbd_model) */
PG_FUNCTION_INFO_V1(pareto_nbd_expected_purchases);
Datum
pareto_nbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		horizon = PG_GETARG_FLOAT8(0);
	double		x,
				t_x,
				T;
	ParetoNbdParams p;
	ParetoMemo *memo;
	double		result;

	CheckHorizon(horizon);
	GetCustomerAndModel(fcinfo, 1, &x, &t_x, &T, &p, &memo);
	ParetoExpectedPurchasesMemo(&p, memo, &horizon, 1, x, t_x, T, &result);
	PG_RETURN_FLOAT8(CheckedExpectedPurchases(result, horizon));
}
