"""Distribution pages (templates/admin/distribution/): QR codes and posters, invited panels,
imported responses."""

# Importing the modules registers their routes on the admin blueprint.
from survey.admin.distribution import invitations, pages, response_import  # noqa: F401
