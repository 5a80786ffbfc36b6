"""The gallery's pages and photo files (namespace "gallery")."""

from django.urls import path

from gallery import views

app_name = "gallery"

urlpatterns = [
    path("", views.explore, name="explore"),
    path("mine/", views.mine, name="mine"),
    path("upload/", views.upload, name="upload"),
    path("photos/status.json", views.photos_status, name="photos_status"),
    path("photos/<uuid:image_id>/", views.photo, name="photo"),
    path("photos/<uuid:image_id>/status.json", views.photo_status, name="photo_status"),
    path("photos/<uuid:image_id>/overlay.png", views.photo_overlay, name="overlay"),
    path("photos/<uuid:image_id>/retry", views.photo_analysis_retry, name="retry"),
    path("photos/<uuid:image_id>/albums", views.album_add_image, name="album_add_image"),
    path("albums/", views.album_index, name="albums"),
    path("albums/<uuid:album_id>/", views.album_detail, name="album"),
    path("albums/<uuid:album_id>/rename", views.album_rename, name="album_rename"),
    path("albums/<uuid:album_id>/delete", views.album_delete, name="album_delete"),
    path("albums/<uuid:album_id>/photos/<uuid:image_id>/remove", views.album_remove_image, name="album_remove_image"),
    path("photos/<uuid:image_id>/file", views.image_file, name="file"),
    path("photos/<uuid:image_id>/original", views.image_original, name="original"),
    path("photos/<uuid:image_id>/thumbnail/<str:name>.jpg", views.image_thumbnail, name="thumbnail"),
    path("photos/<uuid:image_id>/edit", views.image_edit, name="edit"),
    path("photos/<uuid:image_id>/delete", views.image_delete, name="delete"),
]
