# retail_crm: PGXS build.  The install script of the current version is
# assembled from the sql/ parts in dependency order; the upgrade script from
# the previous version is assembled from the parts it adds and the
# hand-written changes in sql/upgrade/.  Released install scripts are kept
# verbatim in sql/released/, so every released version can still be
# installed and updated (test/integration/upgrade.sh).
EXTENSION = retail_crm
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = retail_crm
OBJS = \
	src/retail_crm.o \
	src/customer_facts.o \
	src/rfm_score.o \
	src/lifecycle.o \
	src/grouped_points.o \
	src/optimize.o \
	src/btyd.o \
	src/bgnbd.o \
	src/gamma_gamma.o \
	src/clv.o \
	src/simulate.o \
	src/satisfaction.o

# Numbered in dependency order: later parts use objects of earlier ones.
# Parts added after 1.0 (110 and up) come after 97_grants.sql, which grants on every
# table and view that exists when it runs: they grant on their own objects,
# so a fresh install and an update from 1.0 give the same privileges.
# (Numbers also keep part names apart from test names: pg_regress looks for
# ./sql/<test>.sql before test/sql/<test>.sql.)
SQL_PARTS = \
	sql/00_header.sql \
	sql/05_roles.sql \
	sql/10_tables.sql \
	sql/20_settings.sql \
	sql/30_customer_facts.sql \
	sql/40_rfm.sql \
	sql/50_lifecycle.sql \
	sql/55_btyd_models.sql \
	sql/57_simulate.sql \
	sql/60_segment_rules.sql \
	sql/70_source.sql \
	sql/75_churn.sql \
	sql/80_refresh.sql \
	sql/90_views.sql \
	sql/95_schedule.sql \
	sql/97_grants.sql \
	sql/110_satisfaction.sql \
	sql/120_complaints.sql \
	sql/130_call_list.sql

# 1.0 -> 1.1: the header, then what 1.1 adds, then the changes to 1.0's
# objects.  Every part listed here must also be in SQL_PARTS; the upgrade
# test compares the catalog of an updated 1.0 with a fresh install.
UPGRADE_1.0_1.1_PARTS = \
	sql/upgrade/header.sql \
	sql/110_satisfaction.sql \
	sql/120_complaints.sql \
	sql/130_call_list.sql \
	sql/upgrade/1.0--1.1.sql

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--1.0--1.1.sql
DATA = $(wildcard sql/released/$(EXTENSION)--*.sql)

# Tests run in this order in one database; install comes first.
REGRESS = \
	install \
	customer_facts \
	rfm_score \
	lifecycle \
	bgnbd \
	gamma_gamma \
	clv \
	simulate \
	segment_rules \
	source \
	refresh \
	views \
	churn \
	schedule \
	roles \
	bad_input \
	parallel \
	satisfaction \
	complaints \
	satisfaction_parallel
REGRESS_OPTS = --inputdir=test

# Concurrency specs (test/specs/*.spec) for pg_isolation_regress.
ISOLATION = refresh_atomic
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

sql/$(EXTENSION)--1.0--1.1.sql: $(UPGRADE_1.0_1.1_PARTS)
	cat $(UPGRADE_1.0_1.1_PARTS) > $@

# Header dependencies (PGXS tracks none without --enable-depend; a stale
# object with an old struct layout breaks silently).
$(OBJS): src/retail_crm.h
src/btyd.o src/grouped_points.o src/optimize.o src/bgnbd.o src/gamma_gamma.o src/clv.o: \
	src/btyd.h src/grouped_points.h src/optimize.h
