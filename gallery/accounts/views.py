"""Account pages. Login, logout, password change and reset are Django's views (gallery.urls)."""

from __future__ import annotations

import math
from datetime import timedelta

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from gallery.accounts import selectors, services
from gallery.forms import AccountDeleteForm, ProfileForm, SignupForm

# Several authentication backends are configured (axes first), so login() must be told which
# one vouches for a user who was not authenticated by a password just now.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, f"Welcome, {user.username}! Upload your first photos below.")
        return redirect("gallery:mine")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, initial={"email": request.user.email})
    if request.method == "POST" and form.is_valid():
        services.account_update_email(user=request.user, email=form.cleaned_data["email"])
        messages.success(request, "Profile saved.")
        return redirect("profile")
    context = {"form": form, "counts": selectors.account_photo_counts(user=request.user)}
    return render(request, "registration/profile.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        username = request.user.get_username()
        photos = services.account_delete(user=request.user)
        logout(request)
        plural = "s" if photos != 1 else ""
        messages.success(request, f"The account {username} and its {photos} photo{plural} are deleted.")
        return redirect("gallery:explore")
    counts = selectors.account_photo_counts(user=request.user)
    return render(request, "registration/account_delete.html", {"form": form, "counts": counts})


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        services.account_password_changed(user=form.user)
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset view; a new password set through the e-mailed link also lifts a login
    lockout of that username, since whoever holds the mailbox is the owner."""

    def form_valid(self, form):
        response = super().form_valid(form)
        services.account_password_changed(user=form.user)
        axes_reset(username=form.user.get_username())
        return response


def lockout_retry_after(request: HttpRequest) -> timedelta:
    # The cool-off restarts with every failed attempt (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
    # and this response answers one, so the earliest retry is a full cool-off from now.
    return get_cool_off(request) or timedelta(0)


def lockout(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the page shown instead of the login form while locked out."""
    retry_after = lockout_retry_after(request)
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "retry_at": timezone.now() + retry_after,
        "retry_minutes": math.ceil(retry_after.total_seconds() / 60),
    }
    response = render(request, "registration/lockout.html", context, status=429)
    response["Retry-After"] = str(math.ceil(retry_after.total_seconds()))
    return response
