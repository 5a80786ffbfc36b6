"""Gallery pages: accounts, my photos, upload, explore, editing, and the original files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gallery import selectors, services
from gallery.forms import ImageEditForm, SignupForm, UploadForm
from gallery.renditions import THUMBNAILS


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        messages.success(request, f"Welcome, {user.username}! Upload your first photos below.")
        return redirect("gallery:mine")
    return render(request, "registration/signup.html", {"form": form})


def explore(request: HttpRequest) -> HttpResponse:
    return render(request, "gallery/explore.html", {"images": selectors.image_list_public()})


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    images = selectors.image_list_owned(owner=request.user)
    return render(request, "gallery/mine.html", {"images": images, "form": UploadForm()})


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("files", []) + form.errors.get("visibility", []):
            messages.error(request, error)
        return redirect("gallery:mine")
    created = 0
    for upload in form.cleaned_data["files"]:
        try:
            services.image_create(
                owner=request.user,
                data=upload.read(),
                filename=upload.name,
                visibility=form.cleaned_data["visibility"],
            )
            created += 1
        except services.ImageRejected as exc:
            messages.error(request, f"{upload.name}: {exc.message}")
    if created:
        messages.success(request, f"Uploaded {created} photo{'s' if created != 1 else ''}; analysis runs in the background.")
    return redirect("gallery:mine")


@login_required
@require_POST
def image_edit(request: HttpRequest, image_id) -> HttpResponse:
    image = selectors.image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    form = ImageEditForm(request.POST)
    if form.is_valid():
        services.image_update(image=image, **form.cleaned_data)
        messages.success(request, "Saved.")
    else:
        messages.error(request, "Could not save: check the title and visibility.")
    return redirect("search:photo", image_id=image.id)


@login_required
@require_POST
def image_delete(request: HttpRequest, image_id) -> HttpResponse:
    image = selectors.image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    services.image_delete(image=image)
    messages.success(request, "Photo deleted.")
    return redirect("gallery:mine")


def image_file(request: HttpRequest, image_id) -> FileResponse:
    """The display copy of a photo (re-encoded, no metadata), for its owner or, if public, anyone.
    Others get 404, not 403: a private photo's existence is private too."""
    image = selectors.image_get_visible(viewer=request.user, image_id=image_id)
    if image is None or not image.display:
        raise Http404("No such photo.")
    return _rendition_response(image, image.display)


def image_thumbnail(request: HttpRequest, image_id, name: str) -> FileResponse:
    """A saliency-cropped thumbnail; its URL carries a version, so browsers may keep it."""
    image = selectors.image_get_visible(viewer=request.user, image_id=image_id)
    if image is None or name not in THUMBNAILS or not image.thumbnail_file(name):
        raise Http404("No such thumbnail.")
    return _rendition_response(image, image.thumbnail_file(name))


def image_original(request: HttpRequest, image_id) -> FileResponse:
    """The uploaded bytes, exactly as sent, for the owner only (they may hold GPS coordinates),
    as a download so a browser never renders it in the site's origin."""
    image = selectors.image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    extension = image.file.name.rsplit(".", 1)[-1]
    filename = f"{image.title or image.id}.{extension}"
    response = FileResponse(image.file.open("rb"), content_type=image.content_type, as_attachment=True,
                            filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def _rendition_response(image, field) -> FileResponse:
    response = FileResponse(field.open("rb"), content_type="image/jpeg")
    # Renditions are immutable per name, and every URL to one carries its name's version.
    scope = "public" if image.is_public else "private"
    response["Cache-Control"] = f"{scope}, max-age=86400"
    return response
