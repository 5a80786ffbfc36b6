"""The site's URLs plus a page and an API endpoint that fail with an uncaught exception, for the
tests that check what a 500 looks like (used with @pytest.mark.urls("tests.failing_urls"))."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from gallery.config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - the resolver reads them here
from gallery.config.urls import urlpatterns as site_urlpatterns

#: In the exception's text: it must reach the log, never the answer.
SECRET = "internal-detail-5be1: password=hunter2"


def page_that_fails(request):
    raise RuntimeError(SECRET)


class ApiThatFails(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError(SECRET)


urlpatterns = [
    path("test-failure/", page_that_fails),
    path("api/v1/test-failure/", ApiThatFails.as_view()),
    *site_urlpatterns,
]
