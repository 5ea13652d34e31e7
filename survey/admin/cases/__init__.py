"""Case pages (templates/admin/cases/): the units' queues of comments and 差评, appeals, and the
review of flagged responses."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.cases import appeals, pages  # noqa: F401
