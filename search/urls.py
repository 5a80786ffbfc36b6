from django.urls import path

from search import api, views

app_name = "search"
urlpatterns = [
    path("photos/<uuid:image_id>/", views.photo, name="photo"),
    path("photos/<uuid:image_id>/status.json", views.photo_status, name="photo_status"),
    path("photos/<uuid:image_id>/overlay.png", views.overlay, name="overlay"),
    path("api/images/<uuid:image_id>/similar/", api.ImageSimilarApi.as_view(), name="api_similar"),
]
