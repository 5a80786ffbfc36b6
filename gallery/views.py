"""Gallery pages: my photos, upload, explore, a photo's page (with its analysis, its live status
and its saliency overlay), editing, albums, and the photo files. (Accounts live in
gallery.accounts; the photo page's "Similar photos" section is search's, a template tag.)"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gallery import selectors, services
from gallery.forms import AlbumForm, ImageEditForm, UploadForm
from gallery.heatmaps import heatmap_response, overlay_page_url
from gallery.models import Visibility
from gallery.platform import media
from inference.images import THUMBNAILS
from inference.selectors import image_analysis_shown
from inference.services import RetryRefused, image_analysis_retry

PAGE_SIZE = 48


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers (and the admin's pages) ask for /favicon.ico whatever a page links: the site's icon."""
    response = redirect(static("favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def explore(request: HttpRequest) -> HttpResponse:
    tiles = selectors.image_queryset_for_tiles(selectors.image_queryset_public())
    page = Paginator(tiles, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "gallery/explore.html", {"page": page})


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    filters = selectors.ImageFilters.from_query(request.GET)
    queryset = selectors.image_queryset_for_tiles(selectors.image_queryset_owned(owner=request.user, filters=filters))
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "albums": selectors.album_choices(owner=request.user),
        "form": UploadForm(),
        "query_without_page": _query_without_page(request),
        # New uploads join the grid live only where they belong: the first page, unfiltered.
        "live_insert": not filters.active and page.number == 1,
    }
    return render(request, "gallery/mine.html", context)


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """Many files from the form (no JavaScript), or one file per request from the upload page's
    script, which then shows a progress bar and the live analysis status for each."""
    if request.headers.get("Accept") == "application/json":
        return _upload_one_json(request)
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
        except services.DuplicateImage as exc:
            messages.info(request, format_html('{}: already in your gallery as <a href="{}">{}</a>.',
                                               upload.name, exc.existing.get_absolute_url(), exc.existing))
        except services.ImageRejected as exc:
            messages.error(request, f"{upload.name}: {exc.message}")
    if created:
        plural = "s" if created != 1 else ""
        messages.success(request, f"Uploaded {created} photo{plural}; analysis runs in the background.")
    return redirect("gallery:mine")


def _upload_one_json(request: HttpRequest) -> JsonResponse:
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "Choose a photo to upload.", "code": "required"}, status=400)
    visibility = request.POST.get("visibility", Visibility.PRIVATE)
    try:
        image = services.image_create(owner=request.user, data=upload.read(), filename=upload.name,
                                      visibility=visibility)
    except services.DuplicateImage as exc:
        return JsonResponse({"code": "duplicate", "error": "Already in your gallery.",
                             "photo": _photo_state(exc.existing)}, status=200)
    except services.ImageRejected as exc:
        return JsonResponse({"code": exc.code, "error": exc.message}, status=400)
    # The page puts the tile at the top of its grid, rendered by the grid's own template.
    tile = render_to_string("gallery/_tile.html", {"image": image, "show_visibility": True}, request=request)
    return JsonResponse({"code": "created", "photo": _photo_state(image), "tile": tile}, status=201)


def photo(request: HttpRequest, image_id) -> HttpResponse:
    """A photo with its analysis: the saliency overlay and crop, similar photos, and, for its
    owner, editing, albums, download and delete."""
    image = _visible_or_404(request, image_id)
    analysis = image_analysis_shown(image_id=image.id)
    is_owner = request.user.is_authenticated and image.owner_id == request.user.id
    context = {
        "image": image,
        "analysis": analysis,
        "overlay_url": overlay_page_url(analysis) if analysis and analysis.has_heatmap else None,
        "is_owner": is_owner,
        "edit_form": (ImageEditForm(initial={"title": image.title, "visibility": image.visibility})
                      if is_owner else None),
    }
    if is_owner:
        in_albums = selectors.album_ids_of(image=image)
        albums = selectors.album_choices(owner=request.user)
        context["albums"] = [album for album in albums if album.id not in in_albums]
        context["in_albums"] = [album for album in albums if album.id in in_albums]
    return render(request, "gallery/photo.html", context)


def photo_status(request: HttpRequest, image_id) -> JsonResponse:
    """Polled by the photo page until the analysis is finished: the same state as photos_status."""
    return JsonResponse(_photo_state(_visible_or_404(request, image_id)))


def photo_overlay(request: HttpRequest, image_id) -> HttpResponse:
    """The saliency heat-map PNG, under the same visibility rule as the photo itself.

    ``?fit=square`` crops it to the same window as the photo's square thumbnail, so a result
    tile's overlay lines up with the tile.
    """
    image = _visible_or_404(request, image_id)
    analysis = image_analysis_shown(image_id=image.id)
    if analysis is None or not analysis.has_heatmap:
        raise Http404("This photo has no saliency overlay yet.")
    # The pages' URLs are versioned (gallery.heatmaps.overlay_page_url); others may change.
    max_age = 86400 if "v" in request.GET else 300
    return heatmap_response(analysis, spec=THUMBNAILS.get(request.GET.get("fit", "")),
                            cache_control=f"private, max-age={max_age}")


@login_required
@require_POST
def photo_analysis_retry(request: HttpRequest, image_id) -> HttpResponse:
    image = _owned_or_404(request, image_id)
    try:
        image_analysis_retry(image=image)
    except RetryRefused as refused:
        messages.info(request, refused.message)
    else:
        messages.success(request, "Analysis queued again.")
    return redirect("gallery:photo", image_id=image.id)


def photos_status(request: HttpRequest) -> JsonResponse:
    """Live analysis status of several photos at once (the upload list and grids poll this)."""
    ids = []
    for value in request.GET.get("ids", "").split(","):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    images = selectors.image_status_list(viewer=request.user, image_ids=ids)
    return JsonResponse({"photos": [_photo_state(image) for image in images]})


def _photo_state(image) -> dict:
    return {
        "id": str(image.id),
        "title": str(image),
        "url": image.get_absolute_url(),
        "thumbnail_url": image.thumbnail_url("square") if image.thumbnail_square else None,
        "status": image.analysis_status,
        "status_label": image.get_analysis_status_display(),
        "error": image.analysis_error,
    }


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
@require_POST
def image_edit(request: HttpRequest, image_id) -> HttpResponse:
    image = _owned_or_404(request, image_id)
    form = ImageEditForm(request.POST)
    if form.is_valid():
        services.image_update(image=image, **form.cleaned_data)
        messages.success(request, "Saved.")
    else:
        messages.error(request, "Could not save: check the title and visibility.")
    return redirect("gallery:photo", image_id=image.id)


@login_required
@require_POST
def image_delete(request: HttpRequest, image_id) -> HttpResponse:
    image = _owned_or_404(request, image_id)
    services.image_delete(image=image)
    messages.success(request, f"Deleted “{image}”.")
    return redirect("gallery:mine")


# --- albums -----------------------------------------------------------------------------------

@login_required
def album_index(request: HttpRequest) -> HttpResponse:
    form = AlbumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            album = services.album_create(owner=request.user, title=form.cleaned_data["title"])
        except services.AlbumRejected as exc:
            form.add_error("title", exc.message)
        else:
            messages.success(request, f"Album “{album}” created.")
            return redirect("gallery:album", album_id=album.id)
    return render(request, "gallery/albums.html", {"albums": selectors.album_list(owner=request.user), "form": form})


@login_required
def album_detail(request: HttpRequest, album_id) -> HttpResponse:
    album = _album_owned_or_404(request, album_id)
    filters = selectors.ImageFilters(album_id=str(album.id))
    queryset = selectors.image_queryset_for_tiles(selectors.image_queryset_owned(owner=request.user, filters=filters))
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"album": album, "page": page, "rename_form": AlbumForm(initial={"title": album.title})}
    return render(request, "gallery/album.html", context)


@login_required
@require_POST
def album_rename(request: HttpRequest, album_id) -> HttpResponse:
    album = _album_owned_or_404(request, album_id)
    form = AlbumForm(request.POST)
    try:
        if not form.is_valid():
            raise services.AlbumRejected("Give the album a name.")
        services.album_rename(album=album, title=form.cleaned_data["title"])
        messages.success(request, f"Renamed to “{album}”.")
    except services.AlbumRejected as exc:
        messages.error(request, exc.message)
    return redirect("gallery:album", album_id=album.id)


@login_required
@require_POST
def album_delete(request: HttpRequest, album_id) -> HttpResponse:
    album = _album_owned_or_404(request, album_id)
    services.album_delete(album=album)
    messages.success(request, f"Album “{album}” deleted; its photos are still in your gallery.")
    return redirect("gallery:albums")


@login_required
@require_POST
def album_add_image(request: HttpRequest, image_id) -> HttpResponse:
    """From a photo's page: put it in an existing album, or in a new one named in the form."""
    image = _owned_or_404(request, image_id)
    try:
        title = request.POST.get("new_title", "").strip()
        if title:
            album = services.album_create(owner=request.user, title=title)
        else:
            album = selectors.album_get_owned(owner=request.user, album_id=_uuid_or_none(request.POST.get("album")))
            if album is None:
                raise services.AlbumRejected("Choose an album, or name a new one.")
        services.album_images_add(album=album, images=[image])
        messages.success(request, format_html('Added to <a href="{}">{}</a>.',
                                              reverse("gallery:album", args=[album.id]), album))
    except services.AlbumRejected as exc:
        messages.error(request, exc.message)
    return redirect("gallery:photo", image_id=image.id)


@login_required
@require_POST
def album_remove_image(request: HttpRequest, album_id, image_id) -> HttpResponse:
    album = _album_owned_or_404(request, album_id)
    image = _owned_or_404(request, image_id)
    services.album_images_remove(album=album, images=[image])
    messages.success(request, f"Removed “{image}” from “{album}”.")
    return redirect(request.POST.get("next") if _is_local(request.POST.get("next")) else
                    reverse("gallery:album", args=[album.id]))


def _visible_or_404(request: HttpRequest, image_id):
    image = selectors.image_get_visible(viewer=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    return image


def _owned_or_404(request: HttpRequest, image_id):
    image = selectors.image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    return image


def _album_owned_or_404(request: HttpRequest, album_id):
    album = selectors.album_get_owned(owner=request.user, album_id=album_id)
    if album is None:
        raise Http404("No such album.")
    return album


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _is_local(url: str | None) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(url, allowed_hosts=None)


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
    image = _owned_or_404(request, image_id)
    extension = image.file.name.rsplit(".", 1)[-1]
    filename = f"{image.title or image.id}.{extension}"
    return media.file_response(image.file, content_type=image.content_type, cache_control="private, no-store",
                               download_name=filename)


def _rendition_response(image, field) -> FileResponse:
    # Renditions are immutable per name, and every URL to one carries its name's version.
    scope = "public" if image.is_public else "private"
    return media.file_response(field, content_type="image/jpeg", cache_control=f"{scope}, max-age=86400")
