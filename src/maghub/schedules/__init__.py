"""Schedules (SPEC §14): graph runs that fire on a cron expression or an interval, once per period
across every instance sharing the database."""
