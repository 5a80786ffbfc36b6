"""The search API's URLs, included by gallery.config.api_urls under /api/v1/ (namespace "api")."""

from django.urls import path

from search.api import similarity

urlpatterns = [
    path("photos/<uuid:photo_id>/similar/", similarity.PhotoSimilarApi.as_view(), name="photo_similar"),
    path("searches/", similarity.SearchCreateApi.as_view(), name="searches"),
    path("searches/<uuid:search_id>/", similarity.SearchDetailApi.as_view(), name="search"),
]
