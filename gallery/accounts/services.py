"""Writes for accounts."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from knox.models import AuthToken

from gallery import services as gallery_services
from gallery.models import Image, ResumableUpload


def account_update_email(*, user: AbstractBaseUser, email: str) -> None:
    user.email = email.strip()
    user.save(update_fields=["email"])


def account_password_changed(*, user: AbstractBaseUser) -> None:
    """After a password change or reset, the API tokens made with the old password stop working,
    as the other browsers' sessions do (Django ties sessions to the password hash)."""
    AuthToken.objects.filter(user=user).delete()


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
        # through the reverse relation because gallery must not import search (docs/architecture.md).
        query_files = [query.file for query in user.similarity_queries.exclude(file="")]
        # Chunks of unfinished resumable uploads are parts of private photos too.
        chunk_files = [Path(path) for path in ResumableUpload.objects.filter(owner=user)
                       .exclude(temporary_file_path=None).values_list("temporary_file_path", flat=True)]
        user.delete()
        transaction.on_commit(lambda: [file.storage.delete(file.name) for file in query_files])
        transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in chunk_files])
    return len(images)
