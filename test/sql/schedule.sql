-- Scheduling without pg_cron in this database: clear errors with the steps to
-- take. (The pg_cron path runs in test/integration/cron_refresh.sh.) The
-- hint depends on whether pg_cron is preloaded: expected/schedule_1.out holds
-- the output for a server without it.
\i test/fixtures/extension.sql
\set SHOW_CONTEXT never
SELECT count(*) AS pg_cron_here FROM pg_extension WHERE extname = 'pg_cron';
SELECT * FROM public.error_of($$SELECT crm.schedule_refresh()$$);
SELECT * FROM public.error_of($$SELECT crm.schedule_refresh('0 3 * * *')$$);
SELECT * FROM public.error_of($$SELECT crm.schedule_refresh(NULL)$$);
SELECT * FROM public.error_of($$SELECT crm.schedule_refresh('  ')$$);
SELECT crm.unschedule_refresh();
