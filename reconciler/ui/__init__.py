"""Views: how plans, reports and problems look in text, markdown and JSON. No decisions, no I/O but output."""
