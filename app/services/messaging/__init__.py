"""Messaging agents (issue 22, spec page 11): SMS and WhatsApp assistants that book by text."""
