from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from gallery.selectors import image_get_owned
from inference.models import AnalysisStatus, ImageAnalysis
from inference.selectors import version_built_by_workers
from inference.services import analysis_retry


@login_required
@require_POST
def analysis_retry_view(request: HttpRequest, image_id) -> HttpResponse:
    image = image_get_owned(owner=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such photo.")
    # The version the workers build: the only one a retry can make now.
    analysis = ImageAnalysis.objects.filter(image=image, model_version=version_built_by_workers()).first()
    if analysis is None or analysis.status == AnalysisStatus.DONE:
        messages.info(request, "This photo's analysis does not need a retry.")
    else:
        analysis_retry(analysis=analysis)
        messages.success(request, "Analysis queued again.")
    return redirect("search:photo", image_id=image.id)
