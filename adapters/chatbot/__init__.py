"""The chat-bot channel (§3.8): a signed webhook translated into the intake gate."""
