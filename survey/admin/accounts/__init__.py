"""The organisation's administration (templates/admin/accounts/): staff accounts, organisation
settings with the working-day calendar, and the audit log."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.accounts import audit, settings, users  # noqa: F401
