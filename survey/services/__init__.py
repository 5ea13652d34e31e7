"""The domain rules, one package per domain. Services take plain values and a session, never a request."""
