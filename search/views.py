"""The read side's pages: a photo with its analysis and its most similar photos."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from gallery import media
from gallery.forms import ImageEditForm
from gallery.selectors import image_get_visible
from inference.selectors import image_analysis_latest
from search.selectors import image_similar_list


def _visible_or_404(request: HttpRequest, image_id):
    image = image_get_visible(viewer=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    return image


def photo(request: HttpRequest, image_id) -> HttpResponse:
    image = _visible_or_404(request, image_id)
    analysis = image_analysis_latest(image_id=image.id)
    similar = image_similar_list(viewer=request.user, image=image)
    is_owner = request.user.is_authenticated and image.owner_id == request.user.id
    context = {
        "image": image,
        "analysis": analysis,
        "similar": similar,
        "is_owner": is_owner,
        "edit_form": ImageEditForm(initial={"title": image.title, "visibility": image.visibility}) if is_owner else None,
    }
    return render(request, "search/photo.html", context)


def photo_status(request: HttpRequest, image_id) -> JsonResponse:
    """Polled by the photo page until the analysis is finished."""
    image = _visible_or_404(request, image_id)
    analysis = image_analysis_latest(image_id=image.id)
    return JsonResponse({
        "status": analysis.status if analysis else "pending",
        "error": analysis.error if analysis else "",
        "model_version": analysis.model_version if analysis else None,
    })


def overlay(request: HttpRequest, image_id) -> FileResponse:
    """The saliency heat-map PNG, under the same visibility rule as the photo itself."""
    image = _visible_or_404(request, image_id)
    analysis = image_analysis_latest(image_id=image.id)
    if analysis is None or not analysis.overlay:
        raise Http404("This photo has no saliency overlay yet.")
    return media.file_response(analysis.overlay, content_type="image/png", cache_control="private, max-age=300")
