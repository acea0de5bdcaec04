"""Anonymised diagnosis data for the regional agency: exports now, reports next; small cells suppressed."""
