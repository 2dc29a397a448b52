"""Users, roles, password hashing (argon2), sessions and login rate limiting."""
