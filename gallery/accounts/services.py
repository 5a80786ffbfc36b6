"""Writes for accounts."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from gallery import services as gallery_services
from gallery.models import Image


def account_update_email(*, user: AbstractBaseUser, email: str) -> None:
    user.email = email.strip()
    user.save(update_fields=["email"])


def account_password_changed(*, user: AbstractBaseUser) -> None:
    """After a password change or reset, the API token made with the old password stops working,
    as the other browsers' sessions do (Django ties sessions to the password hash)."""
    Token.objects.filter(user=user).delete()


def account_delete(*, user: AbstractBaseUser) -> int:
    """Delete the user, every photo they own and the photos' files; return how many photos went.

    Each photo goes through image_delete so its original, saliency map and overlay files are
    removed too (a plain cascade would delete the rows and orphan the files). All in one
    transaction: the files are deleted only once every row is gone (image_delete defers them
    to on_commit), so a failure half-way leaves the account and its photos intact.
    """
    with transaction.atomic():
        images = list(Image.objects.filter(owner=user).prefetch_related("analyses"))
        for image in images:
            gallery_services.image_delete(image=image)
        # Photos uploaded to search with (search.SimilarityQuery) are private photos too. Reached
        # through the reverse relation because gallery must not import search (ARCHITECTURE.md).
        query_files = [query.file for query in user.similarity_queries.exclude(file="")]
        user.delete()
        transaction.on_commit(lambda: [file.storage.delete(file.name) for file in query_files])
    return len(images)
