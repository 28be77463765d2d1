"""Users, passwords, JWTs and login throttling. Domain code: the HTTP layer lives in maghub.api."""
