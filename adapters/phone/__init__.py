"""Telephone intake: the PBX's call-event webhook and the agent's "log this call" command."""
