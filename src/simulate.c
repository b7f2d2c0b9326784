/*-------------------------------------------------------------------------
 *
 * simulate.c
 *	  Seeded purchase-history simulators: crm.bgnbd_simulate,
 *	  crm.mbgnbd_simulate and crm.pareto_nbd_simulate (BTYD summary rows of
 *	  the BG/NBD, MBG/NBD and Pareto/NBD processes) and
 *	  crm.simulate_transactions (rows shaped for crm.transactions).
 *
 * Both are value-per-call set-returning functions that generate customer by
 * customer, so their own memory stays constant however many rows they make.
 *
 * Reproducibility.  Every customer has its own pg_prng (xoshiro128**)
 * stream, seeded from a hash of (seed, customer number).  A customer's rows
 * therefore depend only on the seed, the model parameters and the customer
 * number, not on how many customers were asked for: the first 1000
 * customers of a 10M-customer run are the 1000 customers of a small run.
 * No platform random source is used.  Gamma variates come from our own
 * Marsaglia-Tsang sampler (normals by the Marsaglia polar method, since
 * pg_prng has no normal generator before PostgreSQL 16).  The Makefile
 * compiles this file with -ffp-contract=off so that compilers for CPUs with
 * fused multiply-add (arm64) round like x86-64; what remains platform
 * dependent is the last bit of libm's log() and exp(), which could in rare
 * cases move a simulated time by a microsecond or an amount by a cent.
 *
 * The model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
 * Way"): a customer's purchase rate is lambda ~ Gamma(shape r, rate alpha),
 * the dropout probability p ~ Beta(a, b); purchases follow a Poisson process
 * of rate lambda from a first purchase at time 0, and after every repeat
 * purchase the customer drops out with probability p.  No dropout can follow
 * the first purchase: that is what makes P(X(t) = 0) = (alpha/(alpha+t))^r
 * in the paper's likelihood.  Spend follows the Gamma-Gamma model (Fader,
 * Hardie & Lee 2005, "RFM and CLV"): nu ~ Gamma(shape q, rate v) per
 * customer, each purchase ~ Gamma(shape p, rate nu), population mean
 * p v / (q - 1).
 *
 * MBG/NBD (Batislam, Denizel & Filiztekin 2007) differs only in that the
 * dropout may also come right after the first purchase, at time 0.
 * Pareto/NBD (Schmittlein, Morrison & Colombo 1987) replaces the dropout
 * after purchases by a lifetime ~ Exp(mu) from the first purchase, with
 * mu ~ Gamma(shape s, rate beta).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "common/pg_prng.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"

#include "retail_crm.h"

/* Most customers one call may simulate; customer ids keep 10 digits. */
#define SIM_MAX_CUSTOMERS	INT64CONST(1000000000)

/*
 * Model parameters must lie within [SIM_MIN_PARAM, SIM_MAX_PARAM]: beyond
 * that the log-scale samplers below lose every significant digit (a Gamma
 * shape of 1e-300 makes log(U)/shape infinite), and no real customer base
 * needs them.
 */
#define SIM_MIN_PARAM		1e-12
#define SIM_MAX_PARAM		1e12

/*
 * Most expected purchases of one Pareto/NBD customer: it buys until its
 * lifetime or t ends, with no dropout draw to stop it earlier, so a huge
 * lambda * t would loop for minutes before the frequency overflows.
 */
#define SIM_MAX_EXPECTED_PURCHASES	1e8

/* Channel names, most frequent first; channel k is drawn with weight 1/(k+1). */
static const char *const SimChannelNames[] = {
	"store", "online", "app", "phone", "marketplace", "social", "catalog", "kiosk"
};

#define SIM_MAX_CHANNELS	lengthof(SimChannelNames)
#define SIM_MAX_STORES		99999

/* Share of a customer's purchases made in the home store. */
#define SIM_HOME_STORE_SHARE	0.8
/* A return comes 1 to 1 + SIM_RETURN_SPREAD_DAYS days after its purchase. */
#define SIM_RETURN_SPREAD_DAYS	13.0
/* Share of returns that take back the whole purchase; the rest take 10-100 %. */
#define SIM_FULL_RETURN_SHARE	0.5
/* Largest simulated amount, in cents: keeps cents exact in a double. */
#define SIM_MAX_CENTS		1e15

#define SIM_USECS_PER_WEEK	(7.0 * (double) USECS_PER_DAY)

/* Columns of simulate_transactions, in order. */
#define ST_NATTS			6

/* One customer's random stream. */
typedef struct SimRandom
{
	pg_prng_state prng;			/* xoshiro128** state */
	bool		has_spare;		/* the polar method makes normals in pairs */
	double		spare;			/* the second normal of the last pair */
} SimRandom;

/* Parameters of the BG/NBD process and the Gamma-Gamma spend model. */
typedef struct SimModel
{
	int64		seed;
	double		r;				/* shape of the purchase rate */
	double		log_alpha;		/* log of the rate of the purchase rate */
	double		a;				/* dropout Beta(a, b) */
	double		b;
	double		spend_p;		/* shape of one purchase's amount */
	double		spend_q;		/* shape of the customer's nu */
	double		log_spend_v;	/* log of the rate of the customer's nu */
} SimModel;

/* How a simulated customer drops out. */
typedef enum SimDropout
{
	SIM_DROPOUT_BGNBD,			/* with probability p after each repeat purchase */
	SIM_DROPOUT_MBGNBD,			/* ... and right after the first purchase */
	SIM_DROPOUT_PARETO_NBD		/* after an Exp(mu) lifetime */
} SimDropout;

/* Cross-call state of the BTYD summary simulators. */
typedef struct BtydSimState
{
	SimModel	model;
	SimDropout	dropout;
	double		s;				/* Pareto/NBD: shape of the dropout rate */
	double		log_beta;		/* Pareto/NBD: log of its rate */
	int64		customers;		/* customers to simulate */
	double		t;				/* longest observation period */
	double		t_spread;		/* observation periods spread over [t - t_spread, t] */
} BtydSimState;

/* Cross-call state of simulate_transactions. */
typedef struct SimTxState
{
	SimModel	model;
	int64		customers;		/* customers to simulate */
	TimestampTz window_start;	/* first_day 00:00 UTC */
	TimestampTz window_end;		/* last_day 00:00 UTC, exclusive */
	double		return_share;	/* probability that a purchase is returned */
	int			nchannels;
	int			nstores;
	double		channel_cdf[SIM_MAX_CHANNELS];	/* cumulative channel weights */
	Datum	   *channel_text;	/* text datums of the channel names */
	Datum	   *store_text;		/* text datums S001, S002, ... */

	/* The customer being generated. */
	int64		customer;		/* 1-based; 0 before the first */
	bool		customer_done;	/* no more purchases for this customer */
	SimRandom	rnd;
	double		lambda_per_usec;	/* purchase rate */
	double		p;				/* dropout probability */
	double		log_nu;			/* log of the spend rate */
	int			home_store;
	TimestampTz first_at;		/* first purchase */
	double		offset_usecs;	/* last purchase, after first_at */
	int32		seq;			/* purchases emitted so far */

	/* A return waiting to be emitted after its purchase. */
	bool		return_pending;
	TimestampTz return_at;
	int64		return_cents;	/* positive; emitted negated */
	int			return_channel;
	int			return_store;
} SimTxState;

/*
 * Reject a model parameter that is not a finite number in the supported
 * range; "hint" says what the parameter is.
 */
static inline double
CheckModelParameter(double value, const char *what, const char *hint)
{
	CheckFinite(value, what);
	if (!(value >= SIM_MIN_PARAM && value <= SIM_MAX_PARAM))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g, not %g",
						what, SIM_MIN_PARAM, SIM_MAX_PARAM, value),
				 errhint("%s", hint)));
	return value;
}

/* Reject a negative customer count or one above SIM_MAX_CUSTOMERS. */
static inline int64
CheckCustomers(int64 customers)
{
	if (customers < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customers must be zero or more, not " INT64_FORMAT, customers),
				 errhint("customers is the number of customers to simulate.")));
	if (customers > SIM_MAX_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("customers must be at most " INT64_FORMAT ", not " INT64_FORMAT,
						SIM_MAX_CUSTOMERS, customers),
				 errhint("Simulate in several calls with different seeds and offset the customer ids.")));
	return customers;
}

/* Reject a count (channels, stores) below 1 or above its cap. */
static inline int
CheckCategories(int32 value, int32 max, const char *what)
{
	if (value < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1, not %d", what, value),
				 errhint("Every simulated transaction gets one of the %s.", what)));
	if (value > max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s must be at most %d, not %d", what, max, value),
				 errhint("The simulator names at most %d %s.", max, what)));
	return value;
}

/*
 * A date as a timestamp at 00:00 UTC.  UTC, not the session TimeZone, keeps
 * the output a function of the arguments alone (hence IMMUTABLE).
 */
static inline TimestampTz
CheckDayToTimestamp(DateADT day, const char *what)
{
	if (DATE_NOT_FINITE(day) ||
		day >= (DateADT) (TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite date within the timestamp range, not %s",
						what, DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(day)))),
				 errhint("Pass the first and the last day of the simulated period as ordinary dates.")));
	return (TimestampTz) day * USECS_PER_DAY;
}

/* murmur3's 64-bit finalizer: a bijective mix of all bits. */
static inline uint64
Mix64(uint64 x)
{
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* Start customer number "customer"'s own stream. */
static void
SimSeedCustomer(SimRandom *rnd, int64 seed, int64 customer)
{
	pg_prng_seed(&rnd->prng, Mix64(Mix64((uint64) seed) + (uint64) customer));
	rnd->has_spare = false;
}

/* Uniform in [0, 1). */
static inline double
SimUniform(SimRandom *rnd)
{
	return pg_prng_double(&rnd->prng);
}

/* Uniform in (0, 1]: safe to take the log of. */
static inline double
SimUniformPositive(SimRandom *rnd)
{
	return 1.0 - pg_prng_double(&rnd->prng);
}

/* Standard exponential. */
static inline double
SimExponential(SimRandom *rnd)
{
	return -log(SimUniformPositive(rnd));
}

/* Standard normal by the Marsaglia polar method. */
static double
SimNormal(SimRandom *rnd)
{
	double		u;
	double		v;
	double		s;
	double		m;

	if (rnd->has_spare)
	{
		rnd->has_spare = false;
		return rnd->spare;
	}
	do
	{
		u = 2.0 * SimUniform(rnd) - 1.0;
		v = 2.0 * SimUniform(rnd) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	m = sqrt(-2.0 * log(s) / s);
	rnd->spare = v * m;
	rnd->has_spare = true;
	return u * m;
}

/*
 * Log of a Gamma(shape, 1) variate, by Marsaglia & Tsang (2000).  Shapes
 * below 1 use their boost: Gamma(k) = Gamma(k + 1) * U^(1/k).  Working on
 * the log scale keeps tiny shapes (a, r of 0.01) from underflowing to 0,
 * which would make a Beta variate 0/0.
 */
static double
SimLogGamma(SimRandom *rnd, double shape)
{
	double		log_boost = 0.0;
	double		d;
	double		c;

	if (shape < 1.0)
	{
		log_boost = log(SimUniformPositive(rnd)) / shape;
		shape += 1.0;
	}
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		x;
		double		v;
		double		u;

		do
		{
			x = SimNormal(rnd);
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		u = SimUniformPositive(rnd);
		/* the cheap squeeze accepts about 98 % without a log */
		if (u < 1.0 - 0.0331 * (x * x) * (x * x) ||
			log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return log(d * v) + log_boost;
	}
}

/* Beta(a, b) as X / (X + Y) from two log-Gamma variates, without underflow. */
static double
SimBeta(SimRandom *rnd, double a, double b)
{
	double		log_x = SimLogGamma(rnd, a);
	double		log_y = SimLogGamma(rnd, b);

	return 1.0 / (1.0 + exp(log_y - log_x));
}

/* Read and check the purchase rate arguments shared by every simulator. */
static void
GetSimPurchaseRate(SimModel *model, double r, double alpha, int64 seed)
{
	model->seed = seed;
	model->r = CheckModelParameter(r, "r",
								   "r is the shape of the Gamma distribution of purchase rates.");
	model->log_alpha = log(CheckModelParameter(alpha, "alpha",
											   "alpha is the rate (inverse scale) of the Gamma distribution of purchase rates, in the time unit of the simulation."));
}

/* Read and check the five BG/NBD arguments. */
static void
GetSimModel(SimModel *model, double r, double alpha, double a, double b, int64 seed)
{
	GetSimPurchaseRate(model, r, alpha, seed);
	model->a = CheckModelParameter(a, "a",
								   "a and b are the parameters of the Beta distribution of dropout probabilities.");
	model->b = CheckModelParameter(b, "b",
								   "a and b are the parameters of the Beta distribution of dropout probabilities.");
}

/*
 * A customer's purchase rate (per time unit) and dropout probability.  Drawn
 * first from the customer's stream so both functions agree on them.
 */
static void
SimCustomerProcess(SimRandom *rnd, const SimModel *model, double *lambda, double *p)
{
	*lambda = exp(SimLogGamma(rnd, model->r) - model->log_alpha);
	*p = SimBeta(rnd, model->a, model->b);
}

/*
 * BTYD summary (frequency, recency, T) of simulated customers: the shared
 * body of bgnbd_simulate, mbgnbd_simulate and pareto_nbd_simulate, whose
 * arguments are (customers, t, r, alpha, two dropout parameters, seed,
 * t_spread).  A customer's stream gives, in order: lambda, the dropout
 * parameter (p, or mu), the observation period, then per purchase a wait
 * and (BG/NBD, MBG/NBD) a dropout draw.
 */
static Datum
BtydSimulate(FunctionCallInfo fcinfo, SimDropout dropout)
{
	FuncCallContext *funcctx;
	BtydSimState *st;
	SimRandom	rnd;
	int64		customer;
	double		lambda;
	double		p = 0.0;
	double		t;
	double		end;
	double		now = 0.0;
	double		last = 0.0;
	int32		frequency = 0;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);

		st = palloc0(sizeof(BtydSimState));
		st->dropout = dropout;
		st->customers = CheckCustomers(PG_GETARG_INT64(0));
		st->t = PG_GETARG_FLOAT8(1);
		CheckNonNegative(st->t, "t",
						 "t is the observation period after each customer's first purchase, in the time unit of alpha.");
		if (dropout == SIM_DROPOUT_PARETO_NBD)
		{
			GetSimPurchaseRate(&st->model, PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3),
							   PG_GETARG_INT64(6));
			st->s = CheckModelParameter(PG_GETARG_FLOAT8(4), "s",
										"s is the shape of the Gamma distribution of dropout rates.");
			st->log_beta = log(CheckModelParameter(PG_GETARG_FLOAT8(5), "beta",
												   "beta is the rate (inverse scale) of the Gamma distribution of dropout rates, in the time unit of the simulation."));
		}
		else
			GetSimModel(&st->model, PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3),
						PG_GETARG_FLOAT8(4), PG_GETARG_FLOAT8(5), PG_GETARG_INT64(6));
		st->t_spread = PG_GETARG_FLOAT8(7);
		CheckNonNegative(st->t_spread, "t_spread",
						 "t_spread spreads the observation periods over [t - t_spread, t]; 0 gives every customer the period t.");
		if (st->t_spread > st->t)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("t_spread must not exceed t, not %g > %g", st->t_spread, st->t),
					 errhint("Observation periods lie in [t - t_spread, t] and cannot be negative.")));

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "BTYD simulators must return a composite type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		funcctx->max_calls = (uint64) st->customers;
		funcctx->user_fctx = st;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	st = (BtydSimState *) funcctx->user_fctx;
	if (funcctx->call_cntr >= funcctx->max_calls)
		SRF_RETURN_DONE(funcctx);

	customer = (int64) funcctx->call_cntr + 1;
	SimSeedCustomer(&rnd, st->model.seed, customer);
	if (st->dropout == SIM_DROPOUT_PARETO_NBD)
	{
		double		log_mu;
		double		lifetime;

		lambda = exp(SimLogGamma(&rnd, st->model.r) - st->model.log_alpha);
		log_mu = SimLogGamma(&rnd, st->s) - st->log_beta;
		/* drawn even when t_spread = 0, so t_spread does not shift the stream */
		t = st->t - st->t_spread * SimUniform(&rnd);
		/* mu = 0 (underflow) makes the lifetime infinite */
		lifetime = SimExponential(&rnd) * exp(-log_mu);
		end = Min(t, lifetime);
		if (lambda * end > SIM_MAX_EXPECTED_PURCHASES)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("simulated customer " INT64_FORMAT " expects %g purchases, more than %g",
							customer, lambda * end, SIM_MAX_EXPECTED_PURCHASES),
					 errhint("Lower r/alpha or t: the mean number of purchases is at most r/alpha*t.")));
	}
	else
	{
		SimCustomerProcess(&rnd, &st->model, &lambda, &p);
		t = st->t - st->t_spread * SimUniform(&rnd);
		end = t;
		/* MBG/NBD: a dropout may follow the first purchase too */
		if (st->dropout == SIM_DROPOUT_MBGNBD && SimUniform(&rnd) < p)
			end = 0.0;
	}

	/* lambda = 0 (underflow) makes the wait infinite: no repeat purchase */
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		now += SimExponential(&rnd) / lambda;
		if (!(now <= end))
			break;
		if (frequency == PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("simulated frequency exceeds %d purchases", PG_INT32_MAX),
					 errhint("Lower r/alpha or t: the mean number of purchases is about r/alpha*t.")));
		frequency++;
		last = now;
		if (st->dropout != SIM_DROPOUT_PARETO_NBD && SimUniform(&rnd) < p)
			break;
	}

	values[0] = Int64GetDatum(customer);
	values[1] = Int32GetDatum(frequency);
	values[2] = Float8GetDatum(last);
	values[3] = Float8GetDatum(t);
	SRF_RETURN_NEXT(funcctx,
					HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
}

/* BTYD summary of simulated BG/NBD customers. */
PG_FUNCTION_INFO_V1(bgnbd_simulate);
Datum
bgnbd_simulate(PG_FUNCTION_ARGS)
{
	return BtydSimulate(fcinfo, SIM_DROPOUT_BGNBD);
}

/* BTYD summary of simulated MBG/NBD customers. */
PG_FUNCTION_INFO_V1(mbgnbd_simulate);
Datum
mbgnbd_simulate(PG_FUNCTION_ARGS)
{
	return BtydSimulate(fcinfo, SIM_DROPOUT_MBGNBD);
}

/* BTYD summary of simulated Pareto/NBD customers. */
PG_FUNCTION_INFO_V1(pareto_nbd_simulate);
Datum
pareto_nbd_simulate(PG_FUNCTION_ARGS)
{
	return BtydSimulate(fcinfo, SIM_DROPOUT_PARETO_NBD);
}

/*
 * Write value in decimal, zero-padded to at least width digits, and return
 * the end of the digits.  Zero padding makes transaction ids sort in the
 * order they are generated, so the primary key index grows at its right
 * edge.
 */
static char *
WritePadded(char *dst, uint64 value, int width)
{
	char		digits[24];
	int			n = pg_ulltoa_n(value, digits);

	while (width-- > n)
		*dst++ = '0';
	memcpy(dst, digits, n);
	return dst + n;
}

/* Amount in cents, Gamma(shape p, rate nu), at least one cent. */
static int64
SimAmountCents(SimTxState *st)
{
	double		cents = round(100.0 * exp(SimLogGamma(&st->rnd, st->model.spend_p) - st->log_nu));

	if (!(cents <= SIM_MAX_CENTS))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("simulated amount exceeds %.0f", SIM_MAX_CENTS / 100.0),
				 errhint("Raise spend_q or lower spend_v: the mean amount is spend_p*spend_v/(spend_q-1).")));
	return cents < 1.0 ? 1 : (int64) cents;
}

/* Index of a channel drawn with weights 1, 1/2, 1/3, ... */
static int
SimChannel(SimTxState *st)
{
	double		u = SimUniform(&st->rnd);
	int			k;

	for (k = 0; k < st->nchannels - 1; k++)
	{
		if (u < st->channel_cdf[k])
			break;
	}
	return k;
}

/* Start the next customer: rates, spend level, home store, first purchase. */
static void
SimStartCustomer(SimTxState *st)
{
	double		lambda;

	st->customer++;
	SimSeedCustomer(&st->rnd, st->model.seed, st->customer);
	SimCustomerProcess(&st->rnd, &st->model, &lambda, &st->p);
	st->lambda_per_usec = lambda / SIM_USECS_PER_WEEK;
	st->log_nu = SimLogGamma(&st->rnd, st->model.spend_q) - st->model.log_spend_v;
	st->home_store = (int) (SimUniform(&st->rnd) * st->nstores);
	st->first_at = st->window_start +
		(int64) floor(SimUniform(&st->rnd) * (double) (st->window_end - st->window_start));
	st->offset_usecs = 0.0;
	st->seq = 0;
	st->customer_done = false;
}

/* Form one row of simulate_transactions. */
static Datum
SimTxRow(FuncCallContext *funcctx, SimTxState *st, TimestampTz at,
		 int64 cents, int channel, int store, bool is_return)
{
	char		id[64];
	char	   *end;
	Datum		values[ST_NATTS];
	bool		nulls[ST_NATTS] = {false, false, false, false, false, false};

	/* C0000000042-000003, its return C0000000042-000003R */
	id[0] = 'C';
	end = WritePadded(id + 1, (uint64) st->customer, 10);
	*end++ = '-';
	end = WritePadded(end, (uint64) st->seq, 6);
	if (is_return)
		*end++ = 'R';

	values[0] = PointerGetDatum(cstring_to_text_with_len(id, end - id));
	values[1] = Int64GetDatum(st->customer);
	values[2] = TimestampTzGetDatum(at);
	values[3] = NumericGetDatum(int64_div_fast_to_numeric(is_return ? -cents : cents, 2));
	values[4] = st->channel_text[channel];
	values[5] = st->store_text[store];
	return HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls));
}

/* Set up the cross-call state of simulate_transactions from its arguments. */
static SimTxState *
InitSimTxState(FunctionCallInfo fcinfo)
{
	SimTxState *st = palloc0(sizeof(SimTxState));
	double		weight_sum = 0.0;
	double		cumulative = 0.0;
	int			k;

	st->customers = CheckCustomers(PG_GETARG_INT64(0));
	st->window_start = CheckDayToTimestamp(PG_GETARG_DATEADT(1), "first_day");
	st->window_end = CheckDayToTimestamp(PG_GETARG_DATEADT(2), "last_day");
	if (st->window_end <= st->window_start)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("last_day must be after first_day"),
				 errhint("Transactions fall in [first_day, last_day): last_day is the first day not simulated.")));
	GetSimModel(&st->model, PG_GETARG_FLOAT8(4), PG_GETARG_FLOAT8(5),
				PG_GETARG_FLOAT8(6), PG_GETARG_FLOAT8(7), PG_GETARG_INT64(3));
	st->model.spend_p = CheckModelParameter(PG_GETARG_FLOAT8(8), "spend_p",
											"spend_p is the shape of the Gamma distribution of one purchase's amount.");
	st->model.spend_q = CheckModelParameter(PG_GETARG_FLOAT8(9), "spend_q",
											"spend_q and spend_v are the shape and rate of the Gamma distribution of the customers' spend rates; the mean amount is spend_p*spend_v/(spend_q-1).");
	st->model.log_spend_v = log(CheckModelParameter(PG_GETARG_FLOAT8(10), "spend_v",
													"spend_q and spend_v are the shape and rate of the Gamma distribution of the customers' spend rates; the mean amount is spend_p*spend_v/(spend_q-1)."));
	st->return_share = PG_GETARG_FLOAT8(11);
	CheckFinite(st->return_share, "return_share");
	if (!(st->return_share >= 0.0 && st->return_share < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("return_share must be at least 0 and less than 1, not %g", st->return_share),
				 errhint("return_share is the probability that a purchase is followed by a return.")));
	st->nchannels = CheckCategories(PG_GETARG_INT32(12), SIM_MAX_CHANNELS, "channels");
	st->nstores = CheckCategories(PG_GETARG_INT32(13), SIM_MAX_STORES, "stores");

	/* Built once: every row shares these datums, heap_form_tuple copies them. */
	st->channel_text = palloc(st->nchannels * sizeof(Datum));
	for (k = 0; k < st->nchannels; k++)
	{
		st->channel_text[k] = CStringGetTextDatum(SimChannelNames[k]);
		weight_sum += 1.0 / (k + 1);
	}
	for (k = 0; k < st->nchannels; k++)
	{
		cumulative += 1.0 / (k + 1);
		st->channel_cdf[k] = cumulative / weight_sum;
	}
	st->store_text = palloc(st->nstores * sizeof(Datum));
	for (k = 0; k < st->nstores; k++)
	{
		char		name[16];

		snprintf(name, sizeof(name), "S%03d", k + 1);
		st->store_text[k] = CStringGetTextDatum(name);
	}
	st->customer_done = true;	/* start with customer 1 */
	return st;
}

PG_FUNCTION_INFO_V1(simulate_transactions);

/* Transactions of simulated customers, shaped like crm.transactions. */
Datum
simulate_transactions(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SimTxState *st;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		funcctx->user_fctx = InitSimTxState(fcinfo);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "simulate_transactions must return a composite type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	st = (SimTxState *) funcctx->user_fctx;

	if (st->return_pending)
	{
		st->return_pending = false;
		SRF_RETURN_NEXT(funcctx, SimTxRow(funcctx, st, st->return_at, st->return_cents,
										  st->return_channel, st->return_store, true));
	}

	for (;;)
	{
		TimestampTz at;
		int64		cents;
		int			channel;
		int			store;

		CHECK_FOR_INTERRUPTS();
		if (st->customer_done)
		{
			if (st->customer >= st->customers)
				SRF_RETURN_DONE(funcctx);
			SimStartCustomer(st);
		}
		else
		{
			/* the next repeat purchase, unless it falls after the window */
			st->offset_usecs += SimExponential(&st->rnd) / st->lambda_per_usec;
			if (!(st->offset_usecs < (double) (st->window_end - st->first_at)))
			{
				st->customer_done = true;
				continue;
			}
		}

		at = st->first_at + (int64) st->offset_usecs;
		channel = SimChannel(st);
		store = SimUniform(&st->rnd) < SIM_HOME_STORE_SHARE ? st->home_store :
			(int) (SimUniform(&st->rnd) * st->nstores);
		cents = SimAmountCents(st);
		st->seq++;

		if (SimUniform(&st->rnd) < st->return_share)
		{
			double		delay_days = 1.0 + SIM_RETURN_SPREAD_DAYS * SimUniform(&st->rnd);
			double		part = SimUniform(&st->rnd);

			/* returns stay inside the window like every other row */
			st->return_at = at + (int64) (delay_days * (double) USECS_PER_DAY);
			st->return_pending = st->return_at < st->window_end;
			st->return_cents = cents;
			if (part >= SIM_FULL_RETURN_SHARE)
			{
				int64		partial = (int64) round(cents * (0.1 + 0.9 * SimUniform(&st->rnd)));

				st->return_cents = Max(partial, 1);
			}
			st->return_channel = channel;
			st->return_store = store;
		}

		/* BG/NBD: dropout may follow a repeat purchase, never the first */
		if (st->seq > 1 && SimUniform(&st->rnd) < st->p)
			st->customer_done = true;

		SRF_RETURN_NEXT(funcctx, SimTxRow(funcctx, st, at, cents, channel, store, false));
	}
}
