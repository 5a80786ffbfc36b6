"""Reads for gallery pages and the API. Evaluated lists, never lazy querysets, go to templates."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from gallery.models import Album, Image, Visibility


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


# --- the REST API's lists: querysets, because the API pages them with a cursor ----------------

def image_queryset_owned(
    *,
    owner,
    album_id=None,
    visibility: str | None = None,
    analysis_status: str | None = None,
    taken_after=None,
    taken_before=None,
    created_after=None,
    created_before=None,
) -> QuerySet[Image]:
    """The owner's photos, filtered; dates are inclusive bounds. An album of someone else matches nothing."""
    photos = Image.objects.filter(owner=owner)
    if album_id is not None:
        photos = photos.filter(albums__id=album_id, albums__owner=owner)
    if visibility:
        photos = photos.filter(visibility=visibility)
    if analysis_status:
        photos = photos.filter(analysis_status=analysis_status)
    for lookup, value in (("taken_at__gte", taken_after), ("taken_at__lte", taken_before),
                          ("created__gte", created_after), ("created__lte", created_before)):
        if value is not None:
            photos = photos.filter(**{lookup: value})
    return photos.select_related("owner")


def image_queryset_public() -> QuerySet[Image]:
    return Image.objects.filter(visibility=Visibility.PUBLIC).select_related("owner")


def album_list_owned(*, owner) -> list[Album]:
    return list(Album.objects.filter(owner=owner).annotate(photo_count=Count("albumimage")))


def album_get_owned(*, owner, album_id) -> Album | None:
    if not owner.is_authenticated:
        return None
    return Album.objects.filter(owner=owner, id=album_id).annotate(photo_count=Count("albumimage")).first()


def image_list_owned_by_ids(*, owner, image_ids) -> list[Image]:
    return list(Image.objects.filter(owner=owner, id__in=image_ids))
