"""The read side's pages: more photos similar to one (the photo page's section is the
similar_section template tag), and searches with an outside photo or a region of one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gallery.platform import media
from gallery.selectors import image_get_visible
from gallery.services import ImageRejected
from search import services
from search.forms import PhotoSearchForm, RegionSearchForm
from search.selectors import image_similar_page, query_similar_page, similarity_query_get

SIMILAR_PAGE_SIZE = 24


def _visible_or_404(request: HttpRequest, image_id):
    image = image_get_visible(viewer=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    return image


def _offset(request: HttpRequest) -> int:
    try:
        return max(0, min(int(request.GET.get("offset", 0)), 1000))
    except ValueError:
        return 0


def photo_similar(request: HttpRequest, image_id) -> HttpResponse:
    """The next page of similar photos, as tiles the photo page appends ("Show more")."""
    image = _visible_or_404(request, image_id)
    page = image_similar_page(viewer=request.user, image=image, limit=SIMILAR_PAGE_SIZE, offset=_offset(request))
    return render(request, "search/_similar_tiles.html", {"similar": page, "more_url": request.path})


# --- searches with a new photo or a region ----------------------------------------------------

@login_required
def search_by_photo(request: HttpRequest) -> HttpResponse:
    form = PhotoSearchForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["photo"]
        try:
            query = services.similarity_query_from_photo(owner=request.user, data=upload.read(),
                                                         filename=upload.name)
        except ImageRejected as exc:
            form.add_error("photo", exc.message)
        else:
            return redirect("search:query", query_id=query.id)
    return render(request, "search/search.html", {"form": form})


@login_required
@require_POST
def search_by_region(request: HttpRequest, image_id) -> HttpResponse:
    image = _visible_or_404(request, image_id)
    form = RegionSearchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Draw a box on the photo first.")
        return redirect("gallery:photo", image_id=image.id)
    try:
        query = services.similarity_query_from_region(owner=request.user, image=image, box=form.box)
    except services.QueryRejected as exc:
        messages.error(request, exc.message)
        return redirect("gallery:photo", image_id=image.id)
    return redirect("search:query", query_id=query.id)


def _query_or_404(request: HttpRequest, query_id):
    # The selector holds the whole rule (the maker only; a region search only while its photo is
    # visible to them), the same one the API calls.
    query = similarity_query_get(viewer=request.user, query_id=query_id)
    if query is None:
        raise Http404("No such search.")
    return query


@login_required
def query_detail(request: HttpRequest, query_id) -> HttpResponse:
    query = _query_or_404(request, query_id)
    page = query_similar_page(viewer=request.user, query=query, limit=SIMILAR_PAGE_SIZE)
    return render(request, "search/query.html", {"query": query, "similar": page})


@login_required
def query_results(request: HttpRequest, query_id) -> HttpResponse:
    query = _query_or_404(request, query_id)
    page = query_similar_page(viewer=request.user, query=query, limit=SIMILAR_PAGE_SIZE, offset=_offset(request))
    return render(request, "search/_similar_tiles.html", {"similar": page, "more_url": request.path})


@login_required
def query_status(request: HttpRequest, query_id) -> JsonResponse:
    query = _query_or_404(request, query_id)
    return JsonResponse({"status": query.status, "error": query.error})


@login_required
def query_photo(request: HttpRequest, query_id) -> FileResponse:
    """The searched-with photo (its re-encoded copy), for the person who searched."""
    query = _query_or_404(request, query_id)
    if not query.file:
        raise Http404("This search has no photo of its own.")
    return media.file_response(query.file, content_type="image/jpeg", cache_control="private, max-age=3600")
