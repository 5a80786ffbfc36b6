"""Gallery pages: my photos, upload, explore, editing, and the original files."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gallery import selectors, services
from gallery.forms import ImageEditForm, UploadForm


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
    """The original photo, for its owner or, if public, anyone. Others get 404, not 403:
    a private photo's existence is private too."""
    image = selectors.image_get_visible(viewer=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    response = FileResponse(image.file.open("rb"), content_type=image.content_type)
    response["Cache-Control"] = "private, max-age=3600" if not image.is_public else "public, max-age=86400"
    return response
