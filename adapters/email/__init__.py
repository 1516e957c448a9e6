"""Email intake: parse letters, thread them onto tickets, quarantine what cannot be read."""
