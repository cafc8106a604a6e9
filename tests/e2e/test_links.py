"""Download links on the built stack: an oversize mail arrives, its notice's link is served by
the download function behind the local function URL (the event AWS sends, payload 2.0), with
a real HTTP client (requests) and a real browser (headless Chromium, marker ``browser``)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from vaultmail.links import LinkTable, new_token, token_from_url, token_hash
from vaultmail_dev import iam
from vaultmail_dev.mails import write_big_mail
from vaultmail_dev.stack import LocalStack

pytestmark = pytest.mark.e2e
MIB = 1 << 20
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(autouse=True)
def quiet(stack: LocalStack) -> None:
    stack.pump()
    stack.emulator.reset()


def arrive(stack: LocalStack, tmp_path: Path, key: str, subject: str) -> tuple[bytes, dict[str, Any]]:
    """An oversize mail arrives; its bytes and its one notice."""
    size = int(stack.parameters["SizeThresholdBytes"]) + MIB
    path = write_big_mail(tmp_path / f"{abs(hash(key))}.eml", size, subject=subject, to="client@partner.net")
    stack.client("s3").upload_file(str(path), stack.bucket(), key)
    stack.pump()
    (notice,) = [m for m in stack.sent_emails() if subject in m["subject"]]
    return path.read_bytes(), notice


def link_in(notice: dict[str, Any]) -> str:
    found = re.search(r'href="(https?://[^"]+)"', notice["body"])
    assert found is not None, notice["body"][:500]
    return html.unescape(found.group(1))


def follow(stack: LocalStack, link: str) -> requests.Response:
    """GET the link without following, then the Location (moto checks no presigned URL under IAM)."""
    first = requests.get(link, allow_redirects=False, timeout=60)
    assert first.status_code == 302, (first.status_code, first.text[:300])
    assert first.headers["Cache-Control"] == "no-store"
    return stack.fetch(first.headers["Location"])


def revoke(stack: LocalStack, link: str) -> int:
    """`vaultmail links revoke --url` from a shell whose AWS settings are the stack's."""
    command = [str(Path(sys.executable).with_name("vaultmail")), "links", "revoke", "--url", link]
    command += ["--state-table", stack.table()]
    # the stack's endpoint and the harness user's key (a user's key has no session token)
    env = {k: v for k, v in {**os.environ, **stack.env}.items() if k != "AWS_SESSION_TOKEN"}
    done = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.returncode


def table(stack: LocalStack) -> LinkTable:
    return LinkTable(stack.client("dynamodb"), stack.table())


def downloads(stack: LocalStack, link: str) -> int:
    found = table(stack).get(token_hash(token_from_url(link) or ""))
    assert found is not None
    return found.downloads


def test_a_notice_link_gives_the_original_version_until_revoked(stack: LocalStack, tmp_path: Path) -> None:
    key = "outbound/links/pinned.eml"
    original, notice = arrive(stack, tmp_path, key, "Links pinned")
    link = link_in(notice)
    assert link.startswith(stack.function_url("download") + "m/")  # LINK_BASE_URL is the function's URL
    got = follow(stack, link)
    assert got.status_code == 200 and got.content == original
    assert got.headers["Content-Disposition"] == 'attachment; filename="Links pinned.eml"'

    replacement = b"Subject: replaced\r\n\r\nnew bytes\r\n"
    stack.client("s3").put_object(Bucket=stack.bucket(), Key=key, Body=replacement)
    stack.pump()
    assert follow(stack, link).content == original  # the version the notice was made for
    assert downloads(stack, link) == 2

    head = requests.head(link, allow_redirects=False, timeout=60)
    assert head.status_code == 302 and head.content == b""
    assert downloads(stack, link) == 2  # a prefetch (HEAD) is not a download

    assert revoke(stack, link) == 0
    revoked = requests.get(link, allow_redirects=False, timeout=60)
    assert revoked.status_code == 410 and "withdrawn" in revoked.text
    assert revoked.headers["Content-Security-Policy"] == "default-src 'none'"
    assert requests.head(link, timeout=60).status_code == 410


def test_expired_and_unknown_links(stack: LocalStack, tmp_path: Path) -> None:
    _, notice = arrive(stack, tmp_path, "outbound/links/expiring.eml", "Links expiring")
    link = link_in(notice)
    # the clock moved past the link's expiry: the item's expiry is put in the past, as time would
    digest = token_hash(token_from_url(link) or "")
    stack.client("dynamodb").update_item(
        TableName=stack.table(),
        Key={"id": {"S": f"link#{digest}"}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    expired = requests.get(link, allow_redirects=False, timeout=60)
    assert expired.status_code == 410 and "expired" in expired.text
    unknown = requests.get(f"{stack.function_url('download')}m/{new_token()}", timeout=60)
    assert unknown.status_code == 404 and "not known" in unknown.text
    assert requests.post(link, timeout=60).status_code == 405


def _browser(download_dir: Path) -> Any:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            f"browser test needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
            "apt-get install -y chromium chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (dev)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    behavior = {"behavior": "allow", "downloadPath": str(download_dir)}
    driver.execute_cdp_cmd("Page.setDownloadBehavior", behavior)
    return driver


@pytest.mark.browser
def test_a_person_follows_the_notice_link_in_a_browser(stack: LocalStack, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    downloaded = tmp_path / "downloads"
    downloaded.mkdir()
    driver = _browser(downloaded)
    try:
        original, notice = arrive(stack, tmp_path, "outbound/links/browser.eml", "Links browser")
        page = tmp_path / "notice.html"
        page.write_text(notice["body"], encoding="utf-8")
        driver.get(page.as_uri())
        anchor = driver.find_element(By.PARTIAL_LINK_TEXT, "Download the message")
        with iam.paused(stack.moto.url):  # the presigned GET at moto (see vaultmail_dev.iam)
            anchor.click()
            for _ in range(300):  # bounded: at most 300 looks at the download folder
                done = [p for p in downloaded.iterdir() if p.suffix == ".eml"]
                if done:
                    break
                time.sleep(0.1)
        assert [p.name for p in done] == ["Links browser.eml"]
        assert done[0].read_bytes() == original

        driver.get(f"{stack.function_url('download')}m/{new_token()}")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Link not found"
        assert revoke(stack, link_in(notice)) == 0
        driver.get(link_in(notice))
        assert driver.find_element(By.TAG_NAME, "h1").text == "Link withdrawn"
        assert "archive-notices@acme.com" in driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(tmp_path / "withdrawn.png"))
    finally:
        driver.quit()
        shutil.rmtree(downloaded, ignore_errors=True)
