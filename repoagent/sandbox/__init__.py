"""Sandboxes that run untrusted code: a Docker container, or a local subprocess where no engine runs."""
