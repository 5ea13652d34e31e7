"""Results pages (templates/admin/results/): snapshots, the league table and unit pages, exports,
weighting settings, the 公众评议 scheme, leader ratings and API tokens."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.results import browser, config, pages  # noqa: F401
