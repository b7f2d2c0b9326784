/*-------------------------------------------------------------------------
 *
 * retail_crm.c
 *	  Module entry point of the retail_crm extension.
 *
 * The extension needs no shared memory or background workers of its own:
 * scheduling is delegated to pg_cron when it is installed, so there is no
 * _PG_init and the library loads on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
