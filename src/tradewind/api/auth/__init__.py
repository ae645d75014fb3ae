"""Who is calling and what they may do: users, password hashes, tokens and roles."""
