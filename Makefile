# retail_crm: PGXS build.  The install script is assembled from sql/ parts in
# dependency order; upgrade scripts are hand-written sql/retail_crm--A--B.sql.
EXTENSION = retail_crm
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = retail_crm
OBJS = \
	src/retail_crm.o \
	src/customer_facts.o \
	src/rfm_score.o \
	src/lifecycle.o

# Order matters: later parts use objects created by earlier ones.
SQL_PARTS = \
	sql/header.sql \
	sql/tables.sql \
	sql/settings.sql \
	sql/customer_facts.sql \
	sql/rfm.sql \
	sql/lifecycle.sql \
	sql/segment_rules.sql \
	sql/source.sql \
	sql/refresh.sql \
	sql/views.sql \
	sql/schedule.sql

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard sql/$(EXTENSION)--*--*.sql)

# Tests run in this order in one database; install comes first.
REGRESS = \
	install \
	customer_facts \
	rfm_score \
	lifecycle \
	segment_rules \
	source \
	refresh \
	views \
	schedule \
	bad_input \
	parallel
REGRESS_OPTS = --inputdir=test

PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@
