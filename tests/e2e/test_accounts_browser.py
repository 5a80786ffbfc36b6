"""Accounts in a real Chromium against the real server: sign up, log out and in (by keyboard),
profile, change and reset a password (the link read from the e-mail the server sent), delete
the account, and the lockout after five wrong passwords. Every page is photographed at desktop
and phone width into SCREENSHOT_DIR, and must not scroll sideways on the phone."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.conftest import wait_for
from tests.e2e.conftest import snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456"  # make_user's


def submit(page, selector: str = "form.auth button[type=submit]"):
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def log_in_by_keyboard(page, username: str, password: str, path: str = "/accounts/login/"):
    page.goto(path)
    # The username field takes focus on arrival (autofocus, applied by Chromium at its next
    # rendering step, which may come just after "load"); Tab and Enter do the rest, no mouse.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_username'", timeout=5_000)
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    return navigation.value


def log_out(page):
    with page.expect_navigation():
        page.click("header nav button:has-text('Log out')")


def test_sign_up_profile_log_out_and_back_in(page):
    page.goto("/accounts/signup/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_email", "newcomer@example.org")
    page.fill("#id_password1", "a-long-pass-phrase-42")
    page.fill("#id_password2", "a-long-pass-phrase-43")
    submit(page)
    assert page.locator(".errorlist").first.is_visible()  # mismatched passwords: shown, not lost
    assert page.input_value("#id_email") == "newcomer@example.org"
    snap(page, "signup")
    page.fill("#id_password1", "a-long-pass-phrase-42")
    page.fill("#id_password2", "a-long-pass-phrase-42")
    submit(page)
    page.wait_for_url("**/mine/")
    assert "Welcome, newcomer" in page.inner_text(".messages")

    page.get_by_role("link", name="Profile: newcomer").click()
    page.wait_for_url("**/accounts/profile/")
    assert page.inner_text("h1") == "newcomer"
    assert "(0 private, 0 public)" in page.inner_text(".profile-facts")
    assert page.input_value("#id_email") == "newcomer@example.org"
    page.fill("#id_email", "me@example.org")
    submit(page)
    assert "Profile saved." in page.inner_text(".messages")
    assert page.input_value("#id_email") == "me@example.org"
    snap(page, "profile")

    # From the top of any page, the first Tab reaches "Skip to content", which jumps past the nav.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    log_out(page)
    assert page.locator("header nav a:has-text('Log in')").is_visible()
    page.goto("/accounts/profile/")  # logged out: the profile asks to log in first
    page.wait_for_url("**/accounts/login/?next=/accounts/profile/")
    snap(page, "login")
    log_in_by_keyboard(page, "newcomer", "a-long-pass-phrase-42", path=page.url)
    page.wait_for_url("**/accounts/profile/")  # back where the visitor was going
    assert page.input_value("#id_email") == "me@example.org"


def test_change_password(page, make_user):
    make_user("changer")
    log_in_by_keyboard(page, "changer", PASSWORD)
    page.goto("/accounts/profile/")
    page.click("text=Change your password")
    page.wait_for_url("**/accounts/password_change/")
    page.fill("#id_old_password", "not-it")
    page.fill("#id_new_password1", "fresh-phrase-2026")
    page.fill("#id_new_password2", "fresh-phrase-2026")
    submit(page)
    assert "old password was entered incorrectly" in page.inner_text("form.auth")
    snap(page, "password-change")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "fresh-phrase-2026")
    page.fill("#id_new_password2", "fresh-phrase-2026")
    submit(page)
    page.wait_for_url("**/accounts/password_change/done/")
    snap(page, "password-change-done")

    log_out(page)
    log_in_by_keyboard(page, "changer", PASSWORD)
    assert "correct username and password" in page.inner_text("form.auth")
    log_in_by_keyboard(page, "changer", "fresh-phrase-2026")
    page.wait_for_url("**/mine/")


def test_reset_a_forgotten_password_by_email(page, make_user):
    user = make_user("forgetful")
    user.email = "forgetful@example.org"
    user.save()

    page.goto("/accounts/login/")
    page.click("text=Forgot your password?")
    page.wait_for_url("**/accounts/password_reset/")
    snap(page, "password-reset")
    page.fill("#id_email", "stranger@example.org")  # no such account: the same answer, no mail
    submit(page)
    unknown_answer = page.inner_text("main")
    assert mail.outbox == []

    page.goto("/accounts/password_reset/")
    page.fill("#id_email", "forgetful@example.org")
    submit(page)
    page.wait_for_url("**/accounts/password_reset/done/")
    assert page.inner_text("main") == unknown_answer
    snap(page, "password-reset-done")

    # The live server runs in a thread of this process, so its locmem outbox is this one.
    wait_for(lambda: len(mail.outbox) == 1, timeout=10, message="the reset e-mail")
    message = mail.outbox[0]
    assert message.to == ["forgetful@example.org"] and "forgetful" in message.body
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)
    page.goto(link)
    page.wait_for_url("**/accounts/reset/*/set-password/")
    page.fill("#id_new_password1", "remembered-now-77")
    page.fill("#id_new_password2", "remembered-now-77")
    snap(page, "password-reset-confirm")
    submit(page)
    page.wait_for_url("**/accounts/reset/done/")
    snap(page, "password-reset-complete")

    page.goto(link)  # a used link is refused, politely
    assert "no longer works" in page.inner_text("h1")
    log_in_by_keyboard(page, "forgetful", "remembered-now-77")
    page.wait_for_url("**/mine/")


def test_lockout_after_five_wrong_passwords(page, make_user):
    make_user("target")
    for _attempt in range(4):
        assert log_in_by_keyboard(page, "target", "guess").status == 200
        assert "correct username and password" in page.inner_text("form.auth")
    locked = log_in_by_keyboard(page, "target", "guess")
    assert locked.status == 429
    assert locked.headers["retry-after"] == str(15 * 60)
    assert "Too many failed log-ins" in page.inner_text("h1")
    assert "Try again in 15 minutes" in page.inner_text(".lockout")
    snap(page, "lockout")
    # The right password does not get through during the cool-off.
    assert log_in_by_keyboard(page, "target", PASSWORD).status == 429
    page.goto("/mine/")
    page.wait_for_url("**/accounts/login/?next=/mine/")


def test_delete_account(page, make_user):
    make_user("leaving")
    log_in_by_keyboard(page, "leaving", PASSWORD)
    page.goto("/accounts/profile/")
    page.click("text=Delete my account")
    page.wait_for_url("**/accounts/delete/")
    page.fill("#id_password", "wrong")
    submit(page)
    assert "That is not your password" in page.inner_text("form.auth")
    snap(page, "account-delete")
    page.fill("#id_password", PASSWORD)
    submit(page)
    page.wait_for_url(re.compile(r".*/$"))
    assert "The account leaving and its 0 photos are deleted" in page.inner_text(".messages")
    assert log_in_by_keyboard(page, "leaving", PASSWORD).status == 200
    assert "correct username and password" in page.inner_text("form.auth")
