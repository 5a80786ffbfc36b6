"""Reads for gallery pages and the API. Evaluated lists, never lazy querysets, go to templates."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, OuterRef, Q, Subquery

from gallery.models import Album, AlbumImage, AnalysisStatus, Image, Visibility
from gallery.platform.prepared import PreparedQuery, first_row_queryset


def visible_to(viewer: AbstractBaseUser | AnonymousUser, *, via: str = "") -> Q:
    """The one rule for who sees a photo: its owner, and everyone if it is public.

    ``via`` is the lookup path to the Image from another model, such as ``"image__"``.
    """
    public = Q(**{f"{via}visibility": Visibility.PUBLIC})
    return public | Q(**{f"{via}owner": viewer}) if viewer.is_authenticated else public


def image_get_visible(*, viewer, image_id) -> Image | None:
    # Every photo page, its "Show more" and the photo API start with this lookup: prepared once
    # per process, as the ORM would build it (gallery.platform.prepared).
    return _IMAGE_VISIBLE.first(values={"viewer": viewer, "image_id": image_id} if viewer.is_authenticated
                                else {"image_id": image_id}, signed_in=viewer.is_authenticated)


def _image_visible_queryset(*, viewer, image_id, signed_in: bool):
    viewer = viewer if signed_in else AnonymousUser()
    return first_row_queryset(Image.objects.filter(visible_to(viewer), id=image_id).select_related("owner"))


_IMAGE_VISIBLE = PreparedQuery(_image_visible_queryset, viewer=get_user_model(), image_id=Image._meta.pk)


def image_get_owned(*, owner, image_id) -> Image | None:
    return Image.objects.filter(owner=owner, id=image_id).first() if owner.is_authenticated else None


# --- pages: lists with filters, albums ---------------------------------------------------------

@dataclass(frozen=True)
class ImageFilters:
    """What the "My photos" page (and the API) may narrow a list by. Empty means no filter."""

    album_id: str = ""
    visibility: str = ""
    status: str = ""
    # Inclusive bounds on the capture date (EXIF) and the upload time; the API filters by them.
    taken_after: datetime.datetime | None = None
    taken_before: datetime.datetime | None = None
    uploaded_after: datetime.datetime | None = None
    uploaded_before: datetime.datetime | None = None

    @classmethod
    def from_query(cls, params) -> ImageFilters:
        visibility = params.get("visibility", "")
        status = params.get("status", "")
        album = params.get("album", "")
        try:
            album = str(uuid.UUID(album)) if album else ""
        except ValueError:
            album = ""
        return cls(
            album_id=album,
            visibility=visibility if visibility in Visibility.values else "",
            status=status if status in AnalysisStatus.values else "",
        )

    def apply(self, queryset):
        if self.album_id:
            queryset = queryset.filter(albums__id=self.album_id)
        if self.visibility:
            queryset = queryset.filter(visibility=self.visibility)
        if self.status:
            queryset = queryset.filter(analysis_status=self.status)
        for lookup, value in (("taken_at__gte", self.taken_after), ("taken_at__lte", self.taken_before),
                              ("created__gte", self.uploaded_after), ("created__lte", self.uploaded_before)):
            if value is not None:
                queryset = queryset.filter(**{lookup: value})
        return queryset

    @property
    def active(self) -> bool:
        return bool(self.album_id or self.visibility or self.status or self.taken_after or self.taken_before
                    or self.uploaded_after or self.uploaded_before)


# What a grid tile draws (templates/gallery/_tile.html): the grid pages load only these columns of
# each photo and of its owner, and their cached tiles are keyed by what was loaded
# (gallery.platform.fragments). A column the tile starts to show must be added here, or each
# tile would fetch it with a query of its own (tests/gallery/test_web_pages.py counts them).
TILE_COLUMNS = ("id", "owner_id", "title", "visibility", "thumbnail_square", "analysis_status", "analysis_error",
                "owner__username")


def image_queryset_for_tiles(queryset):
    """``queryset`` loading only what a grid tile draws: a page of 48 photos and their owners
    costs the web process a fraction of their whole rows (bench/page_cpu.py)."""
    return queryset.only(*TILE_COLUMNS)


def image_queryset_owned(*, owner, filters: ImageFilters = ImageFilters()):
    """Ordered and filtered, not evaluated: the page or API paginates it."""
    return filters.apply(Image.objects.filter(owner=owner)).select_related("owner").order_by("-created", "-id")


def image_queryset_public():
    return Image.objects.filter(visibility=Visibility.PUBLIC).select_related("owner").order_by("-created", "-id")


def image_status_list(*, viewer, image_ids: list) -> list[Image]:
    """The photos among these that the viewer may see, for live status updates."""
    return list(Image.objects.filter(visible_to(viewer), id__in=image_ids[:200]))


def album_list(*, owner, album_id=None) -> list[Album]:
    """The owner's albums with their photo count and cover photo, in three queries.

    The cover is the photo with the clearest subject (highest saliency focus), newest first among
    photos not yet analysed; the page crops it by saliency (its wide thumbnail).
    """
    best_first = AlbumImage.objects.filter(album=OuterRef("pk")).order_by(
        F("image__saliency_focus").desc(nulls_last=True), "-added"
    )
    albums = Album.objects.filter(owner=owner)
    if album_id is not None:  # one album, as the list shows it (the API's album detail)
        albums = albums.filter(id=album_id)
    albums = list(
        albums
        .annotate(photo_count=Count("albumimage", distinct=True), cover_id=Subquery(best_first.values("image_id")[:1]))
        .order_by("title")
    )
    covers = Image.objects.in_bulk([album.cover_id for album in albums if album.cover_id])
    for album in albums:
        album.cover = covers.get(album.cover_id)
    return albums


def album_choices(*, owner) -> list[Album]:
    """The owner's albums by name, for menus (no counts or covers)."""
    return list(Album.objects.filter(owner=owner).only("id", "title").order_by("title"))


def album_get_owned(*, owner, album_id) -> Album | None:
    if not owner.is_authenticated:
        return None
    return Album.objects.filter(owner=owner, id=album_id).first()


def album_ids_of(*, image: Image) -> set:
    return set(AlbumImage.objects.filter(image=image).values_list("album_id", flat=True))


def image_list_owned_by_ids(*, owner, image_ids) -> list[Image]:
    return list(Image.objects.filter(owner=owner, id__in=image_ids))
