"""A small gallery with everything a route can be asked about: an owner with a private and a
public photo (both analysed), another user, a site admin, an album, a token, a group.

The analyses are written directly (a random vector, a blank overlay): these tests are about who
may reach what, not about the models, which tests/e2e and tests/inference exercise for real.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import PIL.Image
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from gallery import services
from gallery.models import Album, AnalysisStatus, Image, Visibility
from inference import services as inference_services
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding, analysis_file_name
from search import services as search_services
from search.models import SimilarityQuery
from tests.conftest import photo_bytes

#: Words that must never reach anyone but the owner: the private photo's title.
PRIVATE_TITLE = "private-title-7f3a91"


@dataclass
class World:
    owner: User
    other: User
    staff: User
    clerk: User
    private: Image
    public: Image
    others_public: Image
    token_key: str  # the owner's API token (the secret a client sends)
    token_id: str  # its public id, as listed by /api/v1/auth/tokens/
    album: Album | None = None
    region_query: SimilarityQuery | None = None  # the owner's search with a region of the private photo
    photo_query: SimilarityQuery | None = None  # the owner's search with an outside photo
    upload_id: str = ""  # the owner's resumable (tus) upload, begun

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


def analysed_photo(*, owner, seed: int, visibility: str, title: str = "") -> Image:
    image = services.image_create(owner=owner, data=photo_bytes(seed), filename=f"photo{seed}.jpg",
                                  title=title, visibility=visibility)
    buffer = io.BytesIO()
    PIL.Image.new("RGBA", (32, 24), (255, 0, 0, 128)).save(buffer, format="PNG")
    overlay = default_storage.save(analysis_file_name(image.id, configured_model_version(), "overlay.png"),
                                   ContentFile(buffer.getvalue()))
    ImageAnalysis.objects.create(image=image, model_version=configured_model_version(), status=AnalysisStatus.DONE,
                                 overlay=overlay, crop_left=0, crop_top=0, crop_right=32, crop_bottom=24,
                                 started_at=timezone.now(), finished_at=timezone.now())
    rng = np.random.default_rng(seed)
    vectors = [v / np.linalg.norm(v) for v in rng.normal(size=(3, 128))]
    ImageEmbedding.objects.create(image=image, model_version=configured_model_version(), vector=vectors[0],
                                  whole_vector=vectors[1], crop_vector=vectors[2], owner=owner,
                                  visibility=visibility)
    Image.objects.filter(pk=image.pk).update(analysis_status=AnalysisStatus.DONE)
    image.refresh_from_db()
    return image


def world_build(django_user_model) -> World:
    owner = django_user_model.objects.create_user("owner", password="pw-owner-123")
    other = django_user_model.objects.create_user("other", password="pw-other-123")
    staff = django_user_model.objects.create_superuser("staff", password="pw-staff-123")
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    Group.objects.get_or_create(name="editors")
    # The version the analyses below are stored under, registered as the workers do.
    inference_services.model_version_register(name=configured_model_version(), seen_by_workers=True)
    world = World(
        owner=owner,
        other=other,
        staff=staff,
        clerk=clerk,
        private=analysed_photo(owner=owner, seed=1, visibility=Visibility.PRIVATE, title=PRIVATE_TITLE),
        public=analysed_photo(owner=owner, seed=2, visibility=Visibility.PUBLIC, title="public photo"),
        others_public=analysed_photo(owner=other, seed=3, visibility=Visibility.PUBLIC, title="other's photo"),
        **_token(owner),
    )
    world.album = services.album_create(owner=owner, title="holiday")
    services.album_images_add(album=world.album, images=[world.private, world.public])
    world.region_query = search_services.similarity_query_from_region(owner=owner, image=world.private,
                                                                      box=(0, 0, 32, 24))
    world.photo_query = search_services.similarity_query_from_photo(owner=owner, data=photo_bytes(4),
                                                                    filename="outside.jpg")
    world.upload_id = _resumable_upload_start(owner)
    return world


def _token(user) -> dict:
    instance, key = AuthToken.objects.create(user=user)
    return {"token_key": key, "token_id": instance.token_key}


def _resumable_upload_start(user) -> str:
    """A tus upload the owner has begun (through the API, as an app would)."""
    api = APIClient()
    api.force_authenticate(user)
    response = api.post("/api/v1/uploads/", HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH="1000",
                        HTTP_UPLOAD_METADATA="filename " + base64.b64encode(b"big.jpg").decode())
    assert response.status_code == 201, response.content
    return response["Location"].rstrip("/").rsplit("/", 1)[-1]
