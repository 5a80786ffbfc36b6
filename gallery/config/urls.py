"""The root URLconf: every app's pages, the API v1 (gallery.config.api_urls), its schema and docs,
and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from gallery import views as gallery_views
from gallery.accounts import api as accounts_api

urlpatterns = [
    path("favicon.ico", gallery_views.favicon, name="favicon"),
    path("", include("gallery.urls")),
    path("", include("search.urls")),
    path("accounts/", include("gallery.accounts.urls")),
    # The stable sign-in URL for apps (also at /api/v1/auth/token/): username + password -> token.
    path("api/token/", accounts_api.TokenCreateUnversionedApi.as_view(), name="api_token"),
    path("api/v1/", include("gallery.config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
]

# The site's own error pages (never Django's debug pages); JSON in the API's error shape under /api/.
handler400 = "gallery.platform.error_views.bad_request"
handler403 = "gallery.platform.error_views.permission_denied"
handler404 = "gallery.platform.error_views.page_not_found"
handler500 = "gallery.platform.error_views.server_error"
