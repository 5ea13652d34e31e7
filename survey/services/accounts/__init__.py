"""Staff accounts, their passwords and roles, who may see which unit, and the API's bearer tokens."""
