"""Reads for gallery pages and the API. Evaluated lists, never lazy querysets, go to templates."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from gallery.models import Image, Visibility


def visible_to(viewer: AbstractBaseUser | AnonymousUser, *, via: str = "") -> Q:
    """The one rule for who sees a photo: its owner, and everyone if it is public.

    ``via`` is the lookup path to the Image from another model, such as ``"image__"``.
    """
    public = Q(**{f"{via}visibility": Visibility.PUBLIC})
    return public | Q(**{f"{via}owner": viewer}) if viewer.is_authenticated else public


def image_get_visible(*, viewer, image_id) -> Image | None:
    return Image.objects.filter(visible_to(viewer), id=image_id).select_related("owner").first()


def image_get_owned(*, owner, image_id) -> Image | None:
    return Image.objects.filter(owner=owner, id=image_id).first() if owner.is_authenticated else None


def image_list_owned(*, owner, limit: int = 500, offset: int = 0) -> list[Image]:
    return list(Image.objects.filter(owner=owner).select_related("owner")[offset : offset + limit])


def image_list_public(*, limit: int = 200, offset: int = 0) -> list[Image]:
    return list(Image.objects.filter(visibility=Visibility.PUBLIC).select_related("owner")[offset : offset + limit])
