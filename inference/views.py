from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from gallery.selectors import image_get_owned
from inference.services import RetryRefused, image_analysis_retry


@login_required
@require_POST
def analysis_retry_view(request: HttpRequest, image_id) -> HttpResponse:
    image = image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    try:
        image_analysis_retry(image=image)
    except RetryRefused as refused:
        messages.info(request, refused.message)
    else:
        messages.success(request, "Analysis queued again.")
    return redirect("search:photo", image_id=image.id)
