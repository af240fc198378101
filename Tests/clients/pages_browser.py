"""Drives Tessera's second-screen pages in headless Chromium (Selenium, Debian's chromium and
chromium-driver), as a person would: the activation page, the provider's login page (a wrong
password, then the right one), the confirmation page, the done page, an expired code, the
provider's logout page; once with the mouse on a desktop window, once keyboard-only on a
phone-sized one. Also checks, over plain HTTP, what a browser cannot show: the pages' security
headers, the cookies' flags, and that a form without its CSRF token is refused.

usage: pages_browser.py BASE_URL CREDENTIALS_JSON SCREENSHOT_DIR

Prints one line per step; exits 0 when every step held. Screenshots go to SCREENSHOT_DIR as
<page>-<desktop|phone>.png.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, CREDENTIALS, SHOTS = sys.argv[1:4]
TENANT, TENANT_NAME = "REF30", "Reference site"
PROVIDER, PROVIDER_NAME = "Cablevision", "Optimum (Cablevision)"
USER, PASSWORD, USER_ID = "cv-full", "cv-full-demo", "cv-user-full"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def check(condition, step):
    print(("ok   " if condition else "FAIL ") + step, flush=True)
    if not condition:
        sys.exit(1)


def http(method, path, data=None, headers=None):
    request = urllib.request.Request(BASE + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def bearer():
    statement = json.load(open(CREDENTIALS))["tenants"][0]["software_statements"][0]["software_statement"]
    _, _, body = http("POST", "/o/client/register", json.dumps({"software_statement": statement}).encode(),
                      {"Content-Type": "application/json"})
    client = json.loads(body)
    form = urllib.parse.urlencode({"client_id": client["client_id"], "client_secret": client["client_secret"],
                                   "grant_type": "client_credentials"}).encode()
    _, _, body = http("POST", "/o/client/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    return {"Authorization": "Bearer " + json.loads(body)["access_token"], "Accept": "application/json"}


AUTH = bearer()


def new_code(device, ttl=None):
    query = f"deviceId={device}" + (f"&ttl={ttl}" if ttl else "")
    status, _, body = http("POST", f"/reggie/v1/{TENANT}/regcode?{query}", b"", AUTH)
    check(status == 201, f"the TV {device} gets a registration code (201)")
    return json.loads(body)["code"]


def signed_in(device):
    status, _, _ = http("GET", f"/api/v1/checkauthn?requestor={TENANT}&deviceId={device}", headers=AUTH)
    return status == 200


def browser(size):
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(argument)
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    service = Service(executable_path="/usr/bin/chromedriver") if os.path.exists("/usr/bin/chromedriver") else Service()
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    return driver


def shot(driver, page, size_name):
    driver.save_screenshot(os.path.join(SHOTS, f"{page}-{size_name}.png"))


def fits(driver, size_name):
    """No horizontal scrolling: the page fits the window's width."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    check(width <= inner, f"{size_name}: the page fits the window ({width} <= {inner} px)")


def wait_for(driver, text):
    """Waits until the page's text holds `text`. The text is read by script rather than through an
    element reference: a reference to <body> taken while a form submission navigates can belong
    to the page being left, and Chromium then answers "Node with given id does not belong to the
    document" instead of a stale-element error, which the wait would not retry."""
    def shown(d):
        try:
            return text in (d.execute_script("return document.body ? document.body.innerText : ''") or "")
        except WebDriverException:
            return False  # the page is between two documents; the next poll reads the new one
    WebDriverWait(driver, 10).until(shown)


def flow_with_mouse(size_name):
    driver = browser(SIZES[size_name])
    try:
        device = f"browser-{size_name}"
        code = new_code(device)
        driver.get(f"{BASE}/activate?requestor={TENANT}")
        check(TENANT_NAME in driver.title and TENANT_NAME in driver.find_element(By.TAG_NAME, "h1").text,
              f"{size_name}: the activation page is in the tenant's name")
        fits(driver, size_name)
        shot(driver, "activate", size_name)
        driver.find_element(By.ID, "code").send_keys(code)
        Select(driver.find_element(By.ID, "provider")).select_by_visible_text(PROVIDER_NAME)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, f"Sign in to {PROVIDER_NAME}")
        check(f"/idp/{PROVIDER}/login" in driver.current_url, f"{size_name}: the code leads to the provider's login page")
        shot(driver, "login", size_name)
        driver.find_element(By.ID, "username").send_keys(USER)
        driver.find_element(By.ID, "password").send_keys("not-the-password")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, "Wrong username or password.")
        check(driver.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed(), f"{size_name}: a wrong password is said, as an alert")
        shot(driver, "login-wrong-password", size_name)
        check(not signed_in(device), f"{size_name}: a wrong password signs nobody in")
        driver.find_element(By.ID, "username").clear()
        driver.find_element(By.ID, "username").send_keys(USER)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, "on this device?")
        check(USER_ID in driver.find_element(By.TAG_NAME, "body").text, f"{size_name}: the confirmation page names who is signed in")
        fits(driver, size_name)
        shot(driver, "confirm", size_name)
        check(not signed_in(device), f"{size_name}: nothing is activated before the confirmation")
        driver.find_element(By.CSS_SELECTOR, "button[value=confirm]").click()
        wait_for(driver, "You're signed in")
        shot(driver, "done", size_name)
        check(signed_in(device), f"{size_name}: after the confirmation the TV is signed in")

        # An expired code: said on the activation page, nothing started.
        expired = new_code(f"{device}-late", ttl=1)
        time.sleep(2.2)
        driver.get(f"{BASE}/activate?requestor={TENANT}")
        driver.find_element(By.ID, "code").send_keys(expired)
        Select(driver.find_element(By.ID, "provider")).select_by_visible_text(PROVIDER_NAME)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, "This code has expired")
        shot(driver, "activate-expired-code", size_name)
        check("/activate" in driver.current_url, f"{size_name}: an expired code stays on the activation page, said")

        # The provider's logout page ends its browser session.
        driver.get(f"{BASE}/idp/{PROVIDER}/logout")
        shot(driver, "logout", size_name)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, "Signed out")
        shot(driver, "logged-out", size_name)
        check(True, f"{size_name}: the provider's logout page signs the browser out")
    finally:
        driver.quit()


def flow_with_keyboard():
    """Phone-sized, keys only: Tab between fields, arrows in the list, Enter to send."""
    driver = browser(SIZES["phone"])
    try:
        device = "browser-keyboard"
        code = new_code(device)
        driver.get(f"{BASE}/activate?requestor={TENANT}")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        active = driver.switch_to.active_element
        check(active.get_attribute("id") == "code", "keyboard: the first Tab reaches the code field")
        active.send_keys(code)
        active.send_keys(Keys.TAB)
        provider = driver.switch_to.active_element
        check(provider.get_attribute("id") == "provider", "keyboard: the next Tab reaches the provider list")
        for _ in range(5):
            if Select(provider).first_selected_option.text == PROVIDER_NAME:
                break
            provider.send_keys(Keys.ARROW_DOWN)
        check(Select(provider).first_selected_option.text == PROVIDER_NAME, "keyboard: the arrows pick the provider")
        provider.send_keys(Keys.TAB)
        check(driver.switch_to.active_element.tag_name == "button", "keyboard: the next Tab reaches the button")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait_for(driver, f"Sign in to {PROVIDER_NAME}")
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        check(driver.switch_to.active_element.get_attribute("id") == "username", "keyboard: the first Tab reaches the username")
        driver.switch_to.active_element.send_keys(USER + Keys.TAB + PASSWORD + Keys.ENTER)
        wait_for(driver, "on this device?")
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        check(driver.switch_to.active_element.get_attribute("value") == "confirm", "keyboard: the first Tab reaches \"Yes\"")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        wait_for(driver, "You're signed in")
        check(signed_in(device), "keyboard: the TV is signed in")
    finally:
        driver.quit()


def headers_and_forms():
    status, headers, _ = http("GET", f"/activate?requestor={TENANT}")
    check(status == 200, "the activation page answers 200")
    policy = headers.get("Content-Security-Policy", "")
    check("frame-ancestors 'none'" in policy, f"Content-Security-Policy forbids framing ({policy})")
    check(headers.get("X-Content-Type-Options") == "nosniff", "X-Content-Type-Options: nosniff")
    check(headers.get("Referrer-Policy") == "same-origin", "Referrer-Policy: same-origin")
    cookies = headers.get_all("Set-Cookie") or []
    check(cookies != [] and all("HttpOnly" in c and "SameSite" in c for c in cookies), f"cookies are HttpOnly and SameSite ({cookies})")
    secure = BASE.startswith("https://")
    check(all(("Secure" in c) == secure for c in cookies), "cookies are Secure exactly when served over TLS")
    # A form posted without this browser's page (no CSRF token, no cookie) starts nothing.
    code = new_code("browser-forged")
    form = urllib.parse.urlencode({"requestor": TENANT, "code": code, "provider": PROVIDER}).encode()
    status, _, _ = http("POST", "/activate", form, {"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 403, f"a form without its CSRF token is refused (403, was {status})")
    for path in ("/idp/Cablevision/logout", "/activate/done", "/no-such-page"):
        status, headers, _ = http("GET", path)
        if headers.get("Content-Type", "").startswith("text/html"):
            check("frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), f"{path} ({status}) carries the same policy")


headers_and_forms()
flow_with_mouse("desktop")
flow_with_mouse("phone")
flow_with_keyboard()
print("all steps held")
