from django.urls import path

from inference import views

app_name = "inference"
urlpatterns = [
    path("photos/<uuid:image_id>/retry", views.analysis_retry_view, name="retry"),
]
