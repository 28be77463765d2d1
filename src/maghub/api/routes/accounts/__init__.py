"""Routes for accounts: sign-in (``auth``), users (``users``) and API keys (``keys``)."""
