"""Reads for the account pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q

from gallery.models import Image, Visibility


@dataclass(frozen=True)
class PhotoCounts:
    private: int
    public: int

    @property
    def total(self) -> int:
        return self.private + self.public


def account_photo_counts(*, user: AbstractBaseUser) -> PhotoCounts:
    counts = Image.objects.filter(owner=user).aggregate(
        private=Count("id", filter=Q(visibility=Visibility.PRIVATE)),
        public=Count("id", filter=Q(visibility=Visibility.PUBLIC)),
    )
    return PhotoCounts(private=counts["private"], public=counts["public"])
