from django.urls import path

from search import views

app_name = "search"
urlpatterns = [
    path("photos/<uuid:image_id>/", views.photo, name="photo"),
    path("photos/<uuid:image_id>/status.json", views.photo_status, name="photo_status"),
    path("photos/<uuid:image_id>/overlay.png", views.overlay, name="overlay"),
]
