"""Outbound mail: a durable outbox, the SMTP sender, the notices (R18) and staff responses."""
