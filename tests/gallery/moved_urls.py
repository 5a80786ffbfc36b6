"""The site's URLs with the gallery's pages moved under /pictures/ and the rest (search, accounts,
the API) where they were: what a route-only deploy does to the links a page holds (used with the
``settings`` fixture's ROOT_URLCONF in tests/gallery/test_page_fragments.py)."""

from django.urls import URLResolver, include, path

from gallery.config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the resolver reads them here
from gallery.config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("pictures/", include("gallery.urls")) if isinstance(route, URLResolver) and route.app_name == "gallery"
    else route
    for route in site_urlpatterns
]
