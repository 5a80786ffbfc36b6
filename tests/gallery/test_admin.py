"""The admin is an upload path too: it must go through image_create and its checks."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gallery.models import AnalysisStatus, Image
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def test_admin_add_uses_the_upload_service(admin_client, make_user, django_capture_on_commit_callbacks):
    owner = make_user("owner")
    form = {"owner": owner.pk, "title": "From admin", "visibility": "public",
            "upload": SimpleUploadedFile("a.jpg", photo_bytes(1), content_type="image/jpeg")}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post("/admin/gallery/image/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    image = Image.objects.get()
    assert (image.owner, image.title, image.width) == (owner, "From admin", 320)
    assert len(callbacks) == 1


def test_admin_add_rejects_a_bad_file_with_its_reason(admin_client, make_user):
    form = {"owner": make_user().pk, "title": "", "visibility": "private",
            "upload": SimpleUploadedFile("a.jpg", b"not an image", content_type="image/jpeg")}
    response = admin_client.post("/admin/gallery/image/add/", form)
    assert response.status_code == 200
    assert "not an image we can read" in response.content.decode()
    assert Image.objects.count() == 0


def test_admin_retry_action_requeues_failed_analyses(admin_client, make_user, django_capture_on_commit_callbacks):
    image = Image.objects.create(owner=make_user(), file="images/x.jpg", content_type="image/jpeg",
                                 sha256="0" * 64, size_bytes=1, width=1, height=1)
    analysis = ImageAnalysis.objects.create(image=image, model_version=configured_model_version(),
                                            status=AnalysisStatus.FAILED,
                                            error="boom", attempts=3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post("/admin/inference/imageanalysis/",
                          {"action": "retry", "_selected_action": [analysis.pk]})
    analysis.refresh_from_db()
    assert (analysis.status, analysis.error, analysis.attempts) == (AnalysisStatus.PENDING, "", 0)
    assert len(callbacks) == 1
