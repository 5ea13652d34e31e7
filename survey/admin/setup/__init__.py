"""Setup pages (templates/admin/setup/): units, categories, respondent groups, questionnaires and
campaigns."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.setup import campaigns, categories, groups, preview, questionnaires, units  # noqa: F401
