"""What every domain uses: validation errors, the staging store, spreadsheets, the organisation's
clock and settings, short codes, references and the audit trail. Imports no domain package."""
