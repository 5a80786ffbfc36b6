import pytest
from django.core.management import CommandError, call_command

from gallery.models import Image
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def test_import_is_recursive_and_summarises(tmp_path, make_user, capsys, django_capture_on_commit_callbacks):
    owner = make_user("importer")
    (tmp_path / "trip" / "day2").mkdir(parents=True)
    (tmp_path / "a.jpg").write_bytes(photo_bytes(1))
    (tmp_path / "trip" / "b.png").write_bytes(photo_bytes(2, fmt="PNG"))
    (tmp_path / "trip" / "day2" / "a-copy.jpg").write_bytes(photo_bytes(1))
    (tmp_path / "trip" / "day2" / "notes.txt").write_text("not a photo")
    (tmp_path / "trip" / "broken.jpg").write_bytes(photo_bytes(3, size=(640, 480))[:3000])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("import_images", str(tmp_path), "--user", "importer", "--public")
    out = capsys.readouterr().out
    assert "Imported 2, duplicates 1, rejected 2 (of 5 files" in out
    assert "1 rejected as corrupt" in out and "1 rejected as not an image" in out
    assert "trip/broken.jpg: The image is damaged or truncated" in out
    assert "trip/day2/notes.txt: This file is not an image" in out
    assert Image.objects.filter(owner=owner, visibility="public").count() == 2
    assert len(callbacks) == 2


def test_import_names_a_missing_user(tmp_path):
    with pytest.raises(CommandError, match="No user named"):
        call_command("import_images", str(tmp_path), "--user", "nobody")
