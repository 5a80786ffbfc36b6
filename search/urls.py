from django.urls import path

from search import views

app_name = "search"
urlpatterns = [
    path("photos/<uuid:image_id>/similar", views.photo_similar, name="photo_similar"),
    path("photos/<uuid:image_id>/search-region", views.search_by_region, name="search_region"),
    path("search/", views.search_by_photo, name="search"),
    path("search/<uuid:query_id>/", views.query_detail, name="query"),
    path("search/<uuid:query_id>/results", views.query_results, name="query_results"),
    path("search/<uuid:query_id>/status.json", views.query_status, name="query_status"),
    path("search/<uuid:query_id>/photo.jpg", views.query_photo, name="query_photo"),
]
