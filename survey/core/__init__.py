"""What every domain uses: the one error type and its collector, scoped lookups, validation, the one
staging store, spreadsheets, the organisation's clock and settings, short codes, references and the
audit trail. Imports no domain package."""
