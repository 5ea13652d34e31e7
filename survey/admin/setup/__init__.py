"""Setup pages (templates/admin/setup/): units, categories, respondent groups, questionnaires and
campaigns."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.setup import (  # noqa: F401
    campaigns,
    categories,
    duplicate,
    fieldwork,
    groups,
    preview,
    questionnaires,
    units,
)
