"""Account pages, under /accounts/ (no namespace: Django's auth views reverse these names)."""

from django.urls import include, path

from gallery.accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("delete/", views.account_delete, name="account_delete"),
    # Before django.contrib.auth.urls, whose views of the same names these replace.
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    # login, logout, password_change(_done), password_reset(_done, _confirm, _complete)
    path("", include("django.contrib.auth.urls")),
]
