"""The REST API, version 1, included under /api/v1/ as namespace "api": each app's API URLs side
by side. Composed here, in the project configuration, so that no app imports another's API."""

from gallery.api.urls import urlpatterns as gallery_urlpatterns
from search.api.urls import urlpatterns as search_urlpatterns

app_name = "api"

urlpatterns = [*gallery_urlpatterns, *search_urlpatterns]
