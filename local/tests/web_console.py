"""The console page's browser test (part of `make test`, run by local/check-web.sh).

Drives local/web/ in headless Chromium (Debian's `chromium`, through Playwright for Python)
against a private dev gateway of this build on a free loopback port, with the shared DynamoDB
Local and moto of the run: sign in, step up with the emailed code read from the local inbox
(after a wrong one, shown in words), add an authenticator app by decoding the QR image the page
shows and typing the code pyotp computes, see and download the recovery code, log in with
"Remember this computer", log in again without a code, forget the device. Then: nothing in
localStorage, sessionStorage or cookies, and no token, code or secret in the console. The owner
also sets the organisation's policy (of an organisation of this run only). Saves screenshots
to WEB_SCREENSHOTS_DIR (default local/.state/web-screenshots).
"""

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pyotp
import zxingcpp
from PIL import Image
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("MFA_LOCAL_STATE", ROOT / "local" / ".state"))
MOTO = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
SHOTS = Path(os.environ.get("WEB_SCREENSHOTS_DIR", STATE / "web-screenshots"))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
# The fields whose values are secrets (as tests/src/secrets.rs lists them).
SECRET_FIELDS = {"code", "step_up_token", "device_token", "assertion", "secret", "otpauth_uri",
                 "recovery_code", "new_recovery_code", "phone_number", "token"}


def log(msg):
    print(f"[web] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"the gateway exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"the gateway did not open port {port}")


def start_gateway():
    """A private dev gateway of this build: clock control on, security keys for its origin."""
    port = free_port()
    logs = Path(os.environ.get("E2E_LOG_DIR", STATE))
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"web-gateway-{port}.log", "w")
    env = dict(os.environ, GATEWAY_PORT=str(port), DEV_CLOCK_CONTROL="1",
               WEBAUTHN_ORIGINS=f"http://localhost:{port}",
               RUST_LOG=os.environ.get("E2E_GATEWAY_RUST_LOG", "info"))
    binary = os.environ.get("E2E_GATEWAY_BIN", str(ROOT / "target" / "debug" / "dev-gateway"))
    proc = subprocess.Popen([binary], env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return port, proc


class Secrets:
    """Every secret that crossed the wire, from the page's requests and the API's answers."""

    def __init__(self):
        self.values = set()

    def add(self, value):
        if isinstance(value, str) and len(value.strip()) >= 6 and "\n" not in value:
            self.values.add(value.strip())

    def add_json(self, text):
        try:
            body = json.loads(text or "null")
        except ValueError:
            return
        stack = [body]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                for k, x in v.items():
                    if k == "error":
                        continue  # an error body's `code` is the stable error code, not a secret
                    if k in SECRET_FIELDS:
                        self.add(x)
                    stack.append(x)
            elif isinstance(v, list):
                stack.extend(v)

    def on_request(self, request):
        for name in ("authorization", "x-step-up-token"):
            value = request.headers.get(name, "")
            self.add(value.removeprefix("Bearer "))
        self.add_json(request.post_data)

    def on_response(self, response):
        if "json" in response.headers.get("content-type", ""):
            try:
                self.add_json(response.text())
            except Exception:  # a body already gone (navigation): nothing to record
                pass

    def save(self):
        """Adds them to the suite's list, so the log audit greps every gateway log for them."""
        path = os.environ.get("E2E_SECRETS_FILE")
        if path:
            with open(path, "a") as f:
                f.writelines(v + "\n" for v in sorted(self.values))


def email_code(address, after=0, seconds=15):
    """The code of the newest email moto recorded for `address` (the local inbox), once there
    are more than `after` of them."""
    end = time.time() + seconds
    while time.time() < end:
        with urllib.request.urlopen(f"{MOTO}/moto-api/data.json") as r:
            data = json.load(r)
        mails = [m for m in data.get("ses", {}).get("Message", [])
                 if address in (m.get("destinations") or {}).get("ToAddresses", [])]
        if len(mails) > after:
            found = re.search(r"\b(\d{6})\b", re.sub(r"<[^>]+>", " ", mails[-1].get("body", "")))
            if found:
                return found.group(1), len(mails)
        time.sleep(0.3)
    sys.exit(f"no email with a code reached {address}")


def phone_code(number, channel, after=0, seconds=15):
    """The code of the newest SMS (as moto recorded it) or call (the dev gateway's voice inbox
    file) to `number`, once there are more than `after` of that channel."""
    end = time.time() + seconds
    while time.time() < end:
        if channel == "sms":
            with urllib.request.urlopen(f"{MOTO}/moto-api/data.json") as r:
                data = json.load(r)
            texts = [m.get("message", "") for m in data.get("sns", {}).get("SMS", [])
                     if isinstance(m, dict) and m.get("phone_number") == number]
        else:
            voice = STATE / "voice-inbox.jsonl"
            lines = voice.read_text().splitlines() if voice.exists() else []
            texts = [c.get("message", "") for c in map(json.loads, filter(str.strip, lines))
                     if c.get("to") == number]
        if len(texts) > after:
            spoken = re.sub(r"(\d)[ ,.]+(?=\d)", r"\1", texts[-1])
            found = re.search(r"\b(\d{6})\b", spoken)
            if found:
                return found.group(1), len(texts)
        time.sleep(0.3)
    sys.exit(f"no {channel} with a code reached {number}")


# An organisation of this run only: the test sets its policy, which no other run must meet.
ORG = f"org-web-{uuid.uuid4().hex[:12]}"


def sign_in(page, sub, email, role, plan):
    """Fills the local sign-in panel for a user of this run's organisation and signs in."""
    field(page, "User id").fill(sub)
    field(page, "Email").fill(email)
    field(page, "Organisation").fill(ORG)
    field(page, "Role").select_option(role)
    field(page, "Plan").select_option(plan)
    page.get_by_role("button", name="Sign in").click()


def field(page, label):
    """The visible control labelled `label`: what a person (or a screen reader) finds by name."""
    return page.get_by_label(label, exact=True).filter(visible=True)


def advance_clock(base, seconds):
    req = urllib.request.Request(f"{base}/__dev/clock", method="POST",
                                 data=json.dumps({"advance_seconds": seconds}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["offset_seconds"]


def run(base):
    sub = f"web-{uuid.uuid4()}"
    email = f"{sub}@example.com"
    secrets = Secrets()
    console = []
    errors = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: console.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", secrets.on_request)
        page.on("response", secrets.on_response)
        try:
            steps(page, base, sub, email, secrets)
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            shown = [e.inner_text() for e in page.locator(".error:visible").all()]
            log(f"failed; errors the page shows: {shown}; screenshot {SHOTS / 'failure.png'}")
            raise
        kept = page.evaluate("() => ({local: localStorage.length, session: sessionStorage.length, cookie: document.cookie})")
        assert kept == {"local": 0, "session": 0, "cookie": ""}, kept
        assert not context.cookies(), context.cookies()
        assert not errors, f"the page threw: {errors}"
        leaked = [s for s in secrets.values if any(s in m for m in console)]
        assert not leaked, f"{len(leaked)} secrets reached the console"
        assert not any(re.search(r"eyJ[\w-]+\.[\w-]+\.", m) for m in console), "a JWT reached the console"
        browser.close()
    secrets.save()
    log(f"passed: {len(secrets.values)} secrets seen, none kept or logged; screenshots in {SHOTS}")


def steps(page, base, sub, email, secrets):
    """The flows, as a person clicks through them."""

    log("sign in (dev) as a new paid owner")
    page.goto(base + "/")
    sign_in(page, sub, email, "owner", "paid")
    expect(page.get_by_role("heading", name="User Settings")).to_be_visible()
    expect(page.locator("#enrol-banner")).to_be_visible()
    expect(page.get_by_role("button", name="+ Add authentication app")).to_be_disabled()

    log("step up with the emailed code, after a wrong one")
    page.get_by_role("button", name="Authenticate to make changes").click()
    expect(page.locator("#gate-sent")).to_contain_text("was sent to")
    code, mails = email_code(email)
    secrets.add(code)
    field(page, "Code from the email").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Verify", exact=True).click()
    error = page.locator("#gate-error")
    expect(error).to_contain_text("That code is not correct.")
    expect(error).to_contain_text("attempts remaining")
    assert "{" not in error.inner_text(), "an error is words, never JSON"
    expect(field(page, "Code from the email")).to_have_attribute("aria-invalid", "true")
    field(page, "Code from the email").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#gate-state")).to_contain_text("You can make changes until")
    expect(page.locator("#gate-error")).to_be_hidden()

    log("add an authenticator app from the QR image")
    page.get_by_role("button", name="+ Add authentication app").click()
    page.get_by_role("button", name="Show QR code").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    assert found, "the QR image decodes"
    uri = found[0].text
    assert uri.startswith("otpauth://totp/"), "the QR holds an otpauth URI"
    secrets.add(uri)
    totp = pyotp.parse_uri(uri)
    secrets.add(totp.secret)
    assert page.locator("#app-secret").inner_text().replace(" ", "") == totp.secret, \
        "the key for manual entry is the QR's secret"
    now = totp.now()
    secrets.add(now)
    page.locator("#app-code").fill(now)
    page.get_by_role("button", name="Verify and save").click()

    log("see and download the recovery code")
    shown = page.locator("#recovery-code")
    expect(shown).to_be_visible()
    recovery = shown.inner_text().strip()
    assert len(recovery) >= 10, "a recovery code is shown"
    secrets.add(recovery)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "recovery-code.txt"
    assert recovery in Path(download.value.path()).read_text(), "the file holds the code"
    expect(page.locator("#factors")).to_contain_text("Authentication app")
    expect(page.locator("#enrol-banner")).to_be_hidden()
    page.screenshot(path=str(SHOTS / "settings.png"), full_page=True)

    log("log in with the app code and Remember this computer")
    page.get_by_role("button", name="Log in again").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.get_by_role("button", name="Authentication app code")).to_have_attribute("aria-pressed", "true")
    offset = advance_clock(base, 30)  # the enrolment used this time step's code
    code = totp.at(time.time() + offset)
    secrets.add(code)
    field(page, "Code from your authentication app").fill(code)
    field(page, "Remember this computer").check()
    page.locator("#login-device-name").fill("Browser test")
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#approved-check")).to_contain_text("signature verifies with key")
    claims = page.locator("#claims")
    expect(claims.get_by_role("row", name=re.compile(r"^amr"))).to_contain_text("mfa, otp")
    expect(claims.get_by_role("row", name=re.compile(r"^sub"))).to_contain_text(sub)
    expect(page.locator("#approved-how")).to_contain_text("This computer is now remembered.")
    page.screenshot(path=str(SHOTS / "login-approved.png"), full_page=True)

    log("log in again from this computer without a code")
    page.get_by_role("button", name="Log in again").click()
    expect(page.locator("#approved-how")).to_contain_text("This computer is remembered: no code was needed.")
    expect(claims.get_by_role("row", name=re.compile(r"^acr"))).to_contain_text("mfa-remembered-device")

    log("forget the device; the next login asks for a code again")
    page.get_by_role("button", name="Continue to User Settings").click()
    devices = page.locator("#devices")
    expect(devices).to_contain_text("Browser test")
    page.get_by_role("button", name="Forget Browser test").click()
    expect(devices).to_contain_text("No remembered computers.")
    expect(page.locator("#events")).to_contain_text("device")
    page.get_by_role("button", name="Log in again").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()

    log("a second user in the same browser: a phone by SMS, the policy, a new recovery code")
    other = f"web-{uuid.uuid4()}"
    other_email = f"{other}@example.com"
    number = "+3362%07d" % (uuid.uuid4().int % 10_000_000)
    page.get_by_role("button", name="+ Another user").click()
    sign_in(page, other, other_email, "member", "trial")
    expect(page.locator("#notice")).to_contain_text("needed no second step")
    expect(page.locator("#owner-reset")).to_be_hidden()
    expect(page.locator("#members")).to_be_hidden()
    page.get_by_role("button", name="Authenticate to make changes").click()
    code, _ = email_code(other_email)
    secrets.add(code)
    field(page, "Code from the email").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    page.get_by_role("button", name="+ Add phone based verification").click()
    field(page, "Phone number").fill(number)
    secrets.add(number)
    page.get_by_role("button", name="Send code via SMS").click()
    expect(page.locator("#phone-sent")).to_contain_text("A code was sent by SMS to +33")
    code, sms = phone_code(number, "sms")
    secrets.add(code)
    page.locator("#phone-code").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#recovery-code")).to_be_visible()
    first_recovery = page.locator("#recovery-code").inner_text().strip()
    secrets.add(first_recovery)
    expect(page.locator("#factors")).to_contain_text("Phone")
    expect(page.locator("#factors")).to_contain_text("*")
    expect(page.locator("#gate-state")).to_contain_text("verify with one of your methods")

    log("an email step-up no longer opens changes; a call does, and the phone is renamed")
    page.get_by_role("button", name="Generate new code").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Generate new code").click()
    expect(page.locator("#recovery-error")).to_contain_text("an email code is not enough once 2FA is on")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Authenticate to make changes").click()
    page.get_by_role("group", name="Verify with").get_by_role("button", name="Receive a call").click()
    expect(page.locator("#gate-sent")).to_contain_text("We are calling")
    code, _ = phone_code(number, "voice")
    secrets.add(code)
    field(page, "Code from the call").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#gate-state")).to_contain_text("You can make changes until")
    phone_row = page.locator("li[data-factor]").filter(has_text="+33")
    phone_row.get_by_role("button", name="Rename").click()
    field(page, "New name").fill("Work phone")
    phone_row.get_by_role("button", name="Save").click()
    expect(page.locator("li[data-factor]").filter(has_text="+33")).to_contain_text("“Work phone”")
    page.get_by_role("button", name="Generate new code").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Your old recovery code will stop working")
    page.get_by_role("alertdialog").get_by_role("button", name="Generate new code").click()
    expect(page.locator("#notice")).to_contain_text("Your old recovery code no longer works.")
    new_recovery = page.locator("#recovery-code").inner_text().strip()
    secrets.add(new_recovery)
    assert new_recovery != first_recovery, "a new recovery code is shown"
    field(page, "Every log-in: request verification every login attempt.").check()
    page.get_by_role("button", name="Update 2FA Settings").click()
    expect(page.locator("#policy-ok")).to_contain_text("Your 2FA settings are updated.")
    expect(page.locator("#events")).to_contain_text("policy changed")

    log("a trial user turns 2FA off with a current code")
    page.get_by_role("button", name="Turn off 2FA").click()
    page.get_by_role("group", name="Confirm with").get_by_role("button", name="Send code via SMS").click()
    expect(page.locator("#disable-sent")).to_contain_text("A code was sent")
    code, sms = phone_code(number, "sms", after=sms)
    secrets.add(code)
    field(page, "Current code").fill(code)
    page.locator("#disable-confirm").click()
    expect(page.locator("#disable-error")).to_be_hidden()
    expect(page.locator("#notice")).to_contain_text("2FA is off.")
    expect(page.locator("#factors")).to_contain_text("No methods yet.")

    log("the owner, back in the same browser, resets the member's 2FA")
    page.get_by_label("Signed in as").select_option(sub)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    offset = advance_clock(base, 30)
    code = totp.at(time.time() + offset)
    secrets.add(code)
    field(page, "Code from your authentication app").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    page.get_by_role("button", name="Continue to User Settings").click()
    expect(page.locator("#disable-state")).to_contain_text("required security feature for all paid accounts")
    expect(page.get_by_role("button", name="Turn off 2FA")).to_be_hidden()
    page.get_by_role("button", name="Authenticate to make changes").click()
    page.get_by_role("group", name="Verify with").get_by_role("button", name="Authentication app code").click()
    offset = advance_clock(base, 30)
    code = totp.at(time.time() + offset)
    secrets.add(code)
    field(page, "Code from your authentication app").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#gate-state")).to_contain_text("You can make changes until")
    field(page, "Member's user id").fill(other)
    page.get_by_role("button", name="Reset 2FA").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Reset 2FA").click()
    expect(page.locator("#member-ok")).to_contain_text(f"The 2FA of {other} is reset")
    page.get_by_role("button", name="Show their events").click()
    expect(page.locator("#member-trail")).to_contain_text("mfa disabled")

    log("the owner sets the organisation's policy: no SMS, computers remembered a week")
    expect(field(page, "SMS")).to_be_checked()
    field(page, "SMS").uncheck()
    field(page, "Remember a computer for at most (days, 0 to 30)").fill("7")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#org-ok")).to_contain_text("Policy saved")
    expect(page.locator("#org-error")).to_be_hidden()
    # The panel shows the policy as the service stored it.
    expect(field(page, "SMS")).not_to_be_checked()
    expect(field(page, "Authentication app")).to_be_checked()
    expect(field(page, "Remember a computer for at most (days, 0 to 30)")).to_have_value("7")

    log("a security key (Chromium's virtual authenticator) registers and passes a login")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
        "hasUserVerification": True, "isUserVerified": True}})
    page.get_by_role("button", name="+ Add security key").click()
    expect(page.locator("#key-origin-note")).to_be_hidden()
    field(page, "Name").fill("Virtual key")
    page.get_by_role("button", name="Register security key").click()
    expect(page.locator("#notice")).to_contain_text("Your security key is set up.")
    expect(page.locator("#factors")).to_contain_text("Security key “Virtual key”")
    page.get_by_role("button", name="Log in again").click()
    expect(page.get_by_role("button", name="Use security key").first).to_have_attribute("aria-pressed", "true")
    page.locator("#login-key-button").click()
    expect(page.locator("#approved-check")).to_contain_text("signature verifies with key")
    claims = page.locator("#claims")
    expect(claims.get_by_role("row", name=re.compile(r"^amr"))).to_contain_text("mfa, hwk")
    expect(claims.get_by_role("row", name=re.compile(r"^acr"))).to_contain_text("phr")

    log("nothing kept in storage, nothing secret in the console")


def main():
    port, proc = start_gateway()
    try:
        run(f"http://localhost:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
