# retail_crm: PGXS build.  The install script of the current version is
# assembled from the sql/ parts in dependency order; the upgrade script from
# the previous version is assembled from the parts it adds and the
# hand-written changes in sql/upgrade/.  Released install scripts, and the
# upgrade scripts between released versions, are kept
# verbatim in sql/released/, so every released version can still be
# installed and updated (test/integration/upgrade.sh).
EXTENSION = retail_crm
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = retail_crm
OBJS = \
	src/retail_crm.o \
	src/bytea_state.o \
	src/customer_facts.o \
	src/rfm_score.o \
	src/lifecycle.o \
	src/grouped_points.o \
	src/optimize.o \
	src/btyd.o \
	src/nbd.o \
	src/bgnbd.o \
	src/expected_purchases.o \
	src/pareto_nbd.o \
	src/gamma_gamma.o \
	src/clv.o \
	src/simulate.o \
	src/affinity.o \
	src/progress.o \
	src/loyalty.o \
	src/satisfaction.o \
	src/campaign_stats.o \
	src/control_group.o

# Numbered in dependency order: later parts use objects of earlier ones (a
# letter after the number fits a part in between).
# A part holding only functions and views (and grants) may create them with
# CREATE OR REPLACE, so that an upgrade script can run the whole part again.
# (Numbers also keep part names apart from test names: pg_regress looks for
# ./sql/<test>.sql before test/sql/<test>.sql.)
SQL_PARTS = \
	sql/00_header.sql \
	sql/05_roles.sql \
	sql/10_tables.sql \
	sql/11_anonymous_sales.sql \
	sql/12_messages.sql \
	sql/12_channels.sql \
	sql/14_citus_session.sql \
	sql/15_consent.sql \
	sql/15a_consent_record.sql \
	sql/18_config_checks.sql \
	sql/20_settings.sql \
	sql/30_customer_facts.sql \
	sql/40_rfm_score.sql \
	sql/50_lifecycle.sql \
	sql/55_bgnbd.sql \
	sql/55a_gamma_gamma.sql \
	sql/55b_clv.sql \
	sql/56_mbgnbd.sql \
	sql/57_pareto_nbd.sql \
	sql/58_simulate.sql \
	sql/59_campaign_stats.sql \
	sql/60_segment_rules.sql \
	sql/70_source.sql \
	sql/75_churn.sql \
	sql/76_churn_models.sql \
	sql/76a_churn_model_fit.sql \
	sql/78_progress.sql \
	sql/80_refresh_tables.sql \
	sql/81_refresh.sql \
	sql/82_incremental.sql \
	sql/83_snapshots.sql \
	sql/84_baskets.sql \
	sql/85_affinity.sql \
	sql/85a_affinity_refresh.sql \
	sql/86_satisfaction.sql \
	sql/87_complaints.sql \
	sql/88_call_list.sql \
	sql/89_identity.sql \
	sql/89a_data_quality.sql \
	sql/89b_merge_customers.sql \
	sql/90_views.sql \
	sql/91_cron_jobs.sql \
	sql/92_kpis.sql \
	sql/92a_control_group.sql \
	sql/93_privacy.sql \
	sql/93a_forget_customer.sql \
	sql/94_audiences.sql \
	sql/95_schedule.sql \
	sql/96_loyalty.sql \
	sql/96_loyalty_metric.sql \
	sql/96_loyalty_points.sql \
	sql/96a_campaigns.sql \
	sql/96a_campaigns_launch.sql \
	sql/96b_campaign_results.sql \
	sql/99_citus.sql

# 1.1 -> 1.2: the header, the hand-written changes to 1.1's tables
# (sql/upgrade/1.1--1.2*.sql) around the parts 1.2 adds, then the parts of
# 1.1 that 1.2 changes and that can run again (CREATE OR REPLACE of
# functions and views, grants).  Released
# versions and their upgrade scripts are kept in sql/released/; the upgrade
# test compares the catalog of an updated 1.0 and 1.1 with a fresh install.
UPGRADE_1.1_1.2_PARTS = \
	sql/upgrade/header.sql \
	sql/upgrade/1.1--1.2.sql \
	sql/upgrade/1.1--1.2-loyalty.sql \
	sql/11_anonymous_sales.sql \
	sql/upgrade/1.1--1.2-anonymous.sql \
	sql/14_citus_session.sql \
	sql/15a_consent_record.sql \
	sql/70_source.sql \
	sql/76a_churn_model_fit.sql \
	sql/81_refresh.sql \
	sql/84_baskets.sql \
	sql/85a_affinity_refresh.sql \
	sql/89a_data_quality.sql \
	sql/89b_merge_customers.sql \
	sql/90_views.sql \
	sql/92_kpis.sql \
	sql/93a_forget_customer.sql \
	sql/96_loyalty_metric.sql \
	sql/96_loyalty_points.sql \
	sql/96a_campaigns_launch.sql \
	sql/99_citus.sql

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--1.1--1.2.sql
DATA = $(wildcard sql/released/$(EXTENSION)--*.sql)

# Tests run in this order in one database; install comes first.
REGRESS = \
	install \
	customer_facts \
	rfm_score \
	lifecycle \
	bgnbd \
	mbgnbd \
	gamma_gamma \
	pareto_nbd \
	clv \
	simulate \
	segment_rules \
	transaction_source \
	refresh \
	progress \
	views \
	churn \
	schedule \
	roles \
	refresh_bad_data \
	customer_facts_parallel \
	affinity \
	kpis \
	loyalty \
	satisfaction \
	complaints \
	satisfaction_parallel \
	privacy \
	channels \
	audiences \
	control_group \
	campaign_stats \
	campaigns \
	campaign_coverage \
	incremental \
	identity \
	merge_customers \
	bi_catalog \
	hostile_input
REGRESS_OPTS = --inputdir=test

# Concurrency specs (test/specs/*.spec) for pg_isolation_regress.
ISOLATION = refresh_atomic affinity_atomic incremental_queue merge_concurrent progress_visible launch_concurrent
# --outputdir=. keeps expected output in the top-level expected/ with the rest.
ISOLATION_OPTS = --inputdir=test --outputdir=. --load-extension=retail_crm

# The simulators promise the same rows on every platform: no fused
# multiply-add contraction (GCC contracts by default on arm64), also in the
# bitcode the JIT may inline.
src/simulate.o: override CFLAGS += -ffp-contract=off
src/simulate.bc: override BITCODE_CFLAGS += -ffp-contract=off

PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

EXTRA_CLEAN = $(DATA_built)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

sql/$(EXTENSION)--1.1--1.2.sql: $(UPGRADE_1.1_1.2_PARTS)
	cat $(UPGRADE_1.1_1.2_PARTS) > $@

# Header dependencies (PGXS tracks none without --enable-depend; a stale
# object with an old struct layout breaks silently).
$(OBJS): src/retail_crm.h
src/bytea_state.o src/customer_facts.o src/grouped_points.o src/satisfaction.o: src/bytea_state.h
src/grouped_points.o: src/grouped_points.h
src/optimize.o: src/optimize.h
# btyd.h includes grouped_points.h and optimize.h
src/btyd.o src/nbd.o src/bgnbd.o src/expected_purchases.o src/pareto_nbd.o src/gamma_gamma.o src/clv.o: \
	src/btyd.h src/grouped_points.h src/optimize.h
src/bgnbd.o src/expected_purchases.o: src/expected_purchases.h
