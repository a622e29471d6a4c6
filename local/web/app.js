// The reference console page: the 2FA settings page and the login second step, calling only
// the public API with fetch. Tokens, codes and secrets live in this script's memory only: never
// in localStorage, sessionStorage, cookies or the console. A reload forgets them, as a real
// console would forget what it keeps in memory (its backend would keep the device token in an
// HttpOnly cookie).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  /** Every signed-in user of this tab, by user id: claims, token, step-up, device token. */
  const users = new Map();
  let me = null;

  // --- The API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, headers) {
      const detail = (body && body.error) || {};
      super(detail.message || (body && body.message) || "");
      this.status = status;
      this.code = detail.code || (status === 0 ? "network" : status === 401 ? "unauthorized" : `http_${status}`);
      this.attempts = detail.attempts_remaining;
      const header = headers ? Number.parseInt(headers.get("Retry-After") || "", 10) : NaN;
      this.retryAfter = detail.retry_after ?? (Number.isFinite(header) ? header : undefined);
      this.requiredLevel = detail.required_level;
      this.methods = detail.methods;
    }
  }

  async function api(method, path, { body, stepUp, token } = {}) {
    const headers = {};
    const bearer = token ?? (me && me.token);
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (stepUp) headers["X-Step-Up-Token"] = stepUp;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: "no-store", credentials: "omit",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, null, null);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) throw new ApiError(res.status, data, res.headers);
    return { status: res.status, data };
  }

  /** The step-up token if it is still good, for a change; else nothing (the API then asks). */
  const stepUp = () => (me && me.stepUp && me.stepUp.expiresAt > Date.now() ? me.stepUp.token : undefined);

  // --- Words for errors, next to the control that caused them ------------------------------

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const sentence = (m) => (m ? m.charAt(0).toUpperCase() + m.slice(1).replace(/\.?$/, ".") : "");

  function words(e) {
    switch (e.code) {
      case "invalid_code":
        return `That code is not correct. ${plural(e.attempts ?? 0, "attempt")} remaining.`;
      case "invalid_credential":
        return `The security key's answer did not verify for this site. ${plural(e.attempts ?? 0, "attempt")} remaining.`;
      case "expired":
        return "This code or request has expired or was already used. Ask for a new one.";
      case "too_many_attempts":
        return `Too many wrong tries. ${sentence(e.message)}`;
      case "rate_limited":
        return "Too many requests.";
      case "unavailable":
        return "The service is briefly unavailable.";
      case "step_up_required":
        return e.requiredLevel === "factor"
          ? "Authenticate to make changes first, with one of your 2FA methods: an email code is not enough once 2FA is on."
          : "Authenticate to make changes first.";
      case "mfa_required":
        return "2FA is required on paid accounts, so it cannot be turned off.";
      case "unauthorized":
        return "Your sign-in has expired or is not valid. Sign in again.";
      case "network":
        return "The service cannot be reached. Is `make dev` running?";
      case "key_cancelled":
        return "The security key was not used: it was cancelled or timed out.";
      case "key_registered":
        return "This security key is already registered to your account.";
      case "key_unsupported":
        return `This browser cannot use security keys on this page${e.message ? ` (${e.message})` : ""}.`;
      default:
        return sentence(e.message) || `Something went wrong (HTTP ${e.status}).`;
    }
  }

  const timers = new Map();
  function clearError(id) {
    const p = $(id);
    clearInterval(timers.get(id));
    p.hidden = true;
    p.textContent = "";
    document.querySelectorAll(`[aria-describedby~="${id}"]`).forEach((i) => i.removeAttribute("aria-invalid"));
  }

  /** Shows `e` in words at `id`; a wait (`Retry-After`) counts down with `button` disabled. */
  function showError(id, e, button) {
    clearError(id);
    const p = $(id);
    const base = words(e);
    p.hidden = false;
    p.textContent = base;
    if (["invalid_code", "invalid_request", "expired", "invalid_credential"].includes(e.code)) {
      document.querySelectorAll(`[aria-describedby~="${id}"]`).forEach((i) => i.setAttribute("aria-invalid", "true"));
    }
    if (e.retryAfter > 0) {
      let left = e.retryAfter;
      if (button) button.disabled = true;
      const tick = () => {
        if (left <= 0) {
          clearInterval(timers.get(id));
          p.textContent = `${base} You can try again now.`;
          if (button) button.disabled = false;
          return;
        }
        p.textContent = `${base} Try again in ${left} s.`;
        left -= 1;
      };
      tick();
      timers.set(id, setInterval(tick, 1000));
    }
  }

  /** Runs `work` for a click: the button is busy meanwhile, an error is shown in words at `errorId`. */
  async function act(button, errorId, work) {
    clearError(errorId);
    button.disabled = true;
    let failed = null;
    try {
      await work();
    } catch (e) {
      failed = e instanceof ApiError ? e : Object.assign(new ApiError(-1, null, null), { code: e.code || "browser", message: e.message });
      showError(errorId, failed, button);
    } finally {
      if (!(failed && failed.retryAfter > 0)) button.disabled = false;
    }
  }

  // --- Small DOM helpers (text only: nothing from the API becomes markup) -------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "onclick") node.addEventListener("click", v);
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");
  const show = (...ids) => ids.forEach((i) => { $(i).hidden = false; });
  const hide = (...ids) => ids.forEach((i) => { $(i).hidden = true; });
  function views(which) {
    ["sign-in", "login", "approved", "settings"].forEach((v) => { $(v).hidden = v !== which; });
    if (me) me.view = which;
  }
  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = !text;
  }

  /** Method buttons in `group`: pressing one marks it and calls `pick(method)`. */
  function methodButtons(group, methods, pick, current) {
    const names = { webauthn: "Use security key", totp: "Authentication app code", sms: "Send code via SMS", voice: "Receive a call", recovery_code: "Use a recovery code", email: "Email me a code" };
    group.replaceChildren(...methods.map((m) => el("button", {
      type: "button", "data-method": m, "aria-pressed": String(m === current),
      onclick: (ev) => {
        group.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === ev.currentTarget)));
        pick(m, ev.currentTarget);
      },
    }, names[m] || m)));
    group.hidden = methods.length === 0;
  }

  const codeLabels = { totp: "Code from your authentication app", sms: "Code from the SMS", voice: "Code from the call", recovery_code: "Recovery code", email: "Code from the email" };

  // --- Security keys ---------------------------------------------------------------------

  function keyError(e) {
    if (e instanceof ApiError) return e;
    if (e && e.name === "NotAllowedError") return Object.assign(new ApiError(-1, null, null), { code: "key_cancelled" });
    if (e && e.name === "InvalidStateError") return Object.assign(new ApiError(-1, null, null), { code: "key_registered" });
    return Object.assign(new ApiError(-1, null, null), { code: "key_unsupported", message: e && e.message });
  }
  async function keyCreate(options) {
    if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) throw keyError({});
    try {
      const created = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) });
      return created.toJSON();
    } catch (e) { throw keyError(e); }
  }
  async function keyGet(options) {
    if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) throw keyError({});
    try {
      const got = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
      return got.toJSON();
    } catch (e) { throw keyError(e); }
  }

  // --- Sign in (dev) and switching users ---------------------------------------------------

  function renderWho() {
    const who = $("who");
    who.replaceChildren(...[...users.values()].map((u) => el("option", { value: u.claims.sub },
      `${u.claims.sub} (${u.claims.org_role || "no role"}, ${u.claims.plan || "paid"})`)));
    if (!users.size) who.append(el("option", { value: "" }, "nobody yet"));
    who.value = me ? me.claims.sub : "";
    who.disabled = users.size === 0;
    $("log-in-again").disabled = $("sign-out").disabled = !me;
  }

  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("si-submit"), "si-error", async () => {
      const form = new FormData($("sign-in-form"));
      const claims = Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v).trim()]).filter(([, v]) => v));
      if (!claims.sub) throw Object.assign(new ApiError(400, null, null), { code: "invalid_request", message: "enter a user id" });
      const { data } = await api("POST", "/__dev/token", { body: claims, token: "" });
      const known = users.get(claims.sub);
      me = { claims, token: data.token, stepUp: null, deviceToken: known && known.deviceToken, view: "login", reset: null, eventsCursor: null };
      users.set(claims.sub, me);
      renderWho();
      await startLogin();
    });
  });

  $("who").addEventListener("change", () => {
    me = users.get($("who").value) || null;
    resetPanels();
    renderWho();
    if (!me) return views("sign-in");
    if (me.view === "settings") { views("settings"); refresh(); } else startLogin();
  });
  $("another").addEventListener("click", () => { views("sign-in"); $("si-sub").focus(); });
  $("log-in-again").addEventListener("click", () => { resetPanels(); startLogin(); });
  $("sign-out").addEventListener("click", () => {
    users.delete(me.claims.sub);
    me = users.values().next().value || null;
    resetPanels();
    renderWho();
    notice("");
    views("sign-in");
  });

  /** Forgets what the panels showed (codes, secrets, QR) before another user or view. */
  function resetPanels() {
    ["app-panel", "phone-panel", "key-panel", "recovery-shown", "recovery-confirm", "gate-form", "gate-methods", "member-confirm"].forEach((i) => hide(i));
    $("app-secret").textContent = "";
    $("app-qr-image").removeAttribute("src");
    $("recovery-code").textContent = "";
    ["gate-code", "app-code", "phone-code", "login-code", "disable-code", "reset-code"].forEach((i) => { $(i).value = ""; });
    notice("");
  }

  // --- The login second step ----------------------------------------------------------------

  let login = null;

  async function startLogin() {
    views("login");
    notice("");
    hide("login-form", "login-key", "login-methods", "login-phone-row");
    clearError("login-error");
    $("login-remember").checked = false;
    $("login-lead").textContent = "Checking whether this login needs a second step…";
    try {
      const body = me.deviceToken ? { device_token: me.deviceToken } : {};
      const { data } = await api("POST", "/v1/challenges", { body });
      if (data.status === "approved") return approved(data, "This computer is remembered: no code was needed.");
      if (data.status === "not_required") {
        notice("Signed in. 2FA is not set up on this account, so this login needed no second step.");
        return openSettings();
      }
      if (data.status === "enrollment_required") {
        notice("Signed in. Your account requires 2FA: set up a method below.");
        return openSettings();
      }
      login = data;
      // Several phones: the user picks which one gets the code.
      const phones = data.phones || [];
      $("login-phone").replaceChildren(...phones.map((p) => el("option", { value: p.factor_id },
        p.label ? `${p.label} (${p.phone})` : p.phone)));
      $("login-phone-row").hidden = phones.length < 2;
      $("login-lead").textContent = "Verify it is you with one of your methods.";
      methodButtons($("login-methods"), data.methods, pickLoginMethod, data.default_method);
      pickLoginMethod(data.default_method);
    } catch (e) {
      $("login-lead").textContent = "The second step could not start.";
      showError("login-error", e instanceof ApiError ? e : new ApiError(-1, null, null));
    }
  }

  function pickLoginMethod(method, button) {
    login.method = method;
    clearError("login-error");
    $("login-sent").textContent = "";
    $("login-code").value = "";
    if (method === "webauthn") {
      hide("login-form");
      show("login-key");
      return;
    }
    hide("login-key");
    $("login-code-label").textContent = codeLabels[method];
    $("login-code").setAttribute("inputmode", method === "recovery_code" ? "text" : "numeric");
    show("login-form");
    if ((method === "sms" || method === "voice") && button) {
      act(button, "login-error", async () => {
        const body = { channel: method };
        if (!$("login-phone-row").hidden) body.factor_id = $("login-phone").value;
        const { data } = await api("POST", `/v1/challenges/${encodeURIComponent(login.challenge_id)}/send`, { body });
        $("login-sent").textContent = method === "sms" ? `A code was sent by SMS to ${data.to}.` : `We are calling ${data.to} with your code.`;
        $("login-code").focus();
      });
    } else {
      $("login-code").focus();
    }
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("login-verify"), "login-error", async () => {
      const body = { method: login.method, code: $("login-code").value.trim() };
      if ($("login-remember").checked) {
        body.remember_device = true;
        body.device_name = $("login-device-name").value.trim() || "This browser";
      }
      const { data } = await api("POST", `/v1/challenges/${encodeURIComponent(login.challenge_id)}/verify`, { body });
      $("login-code").value = "";
      await approved(data, "You passed the second step.");
    });
  });

  $("login-key-button").addEventListener("click", () => {
    act($("login-key-button"), "login-error", async () => {
      const credential = await keyGet(login.webauthn.options);
      const body = { method: "webauthn", credential };
      if ($("login-remember").checked) {
        body.remember_device = true;
        body.device_name = $("login-device-name").value.trim() || "This browser";
      }
      const { data } = await api("POST", `/v1/challenges/${encodeURIComponent(login.challenge_id)}/verify`, { body });
      await approved(data, "You passed the second step with your security key.");
    });
  });

  const b64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=")), (c) => c.charCodeAt(0));

  /** Whether `jwt` verifies against the service's JWKS (ES256): what a console checks. */
  async function verifyAssertion(jwt) {
    const [head, payload, signature] = jwt.split(".");
    const header = JSON.parse(new TextDecoder().decode(b64url(head)));
    const { data } = await api("GET", "/.well-known/jwks.json", { token: "" });
    const jwk = data.keys.find((k) => k.kid === header.kid);
    if (!jwk || header.alg !== "ES256") return { ok: false, header };
    const key = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, b64url(signature), new TextEncoder().encode(`${head}.${payload}`));
    return { ok, header, claims: JSON.parse(new TextDecoder().decode(b64url(payload))) };
  }

  async function approved(data, how) {
    if (data.device_token) me.deviceToken = data.device_token;
    views("approved");
    $("approved-how").textContent = how + (data.device_token ? " This computer is now remembered." : "");
    const check = await verifyAssertion(data.assertion);
    $("approved-check").textContent = check.ok
      ? `The assertion's signature verifies with key ${check.header.kid} of /.well-known/jwks.json.`
      : "The assertion's signature does NOT verify against the JWKS: do not trust it.";
    $("approved-check").className = check.ok ? "ok" : "error";
    const rows = Object.entries(check.claims || {}).map(([k, v]) => {
      const text = ["iat", "exp", "auth_time"].includes(k) ? `${v} (${new Date(v * 1000).toLocaleString()})` : Array.isArray(v) ? v.join(", ") : String(v);
      return el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, text));
    });
    $("claims").tBodies[0].replaceChildren(...rows);
    if (data.new_recovery_code) showRecovery(data.new_recovery_code, "Your recovery code was used up. This new one replaces it.");
    $("to-settings").focus();
  }
  $("to-settings").addEventListener("click", () => openSettings());

  // --- User Settings -----------------------------------------------------------------------

  let overview = null;

  async function openSettings() {
    views("settings");
    await refresh();
  }

  async function refresh() {
    clearError("factors-error");
    try {
      overview = (await api("GET", "/v1/mfa")).data;
    } catch (e) {
      return showError("factors-error", e);
    }
    // An email step-up opens only the first enrolment: once a factor is on, the next change
    // needs a step-up with it, so the gate closes again and says so.
    if (me.stepUp && me.stepUp.level === "email" && !overview.step_up_methods.includes("email")) {
      me.stepUp = null;
      me.gateNote = "2FA is on now: verify with one of your methods to make more changes.";
    }
    renderOverview();
    await Promise.all([renderDevices(), renderEvents(true)]);
  }

  const kindNames = { totp: "Authentication app", phone: "Phone", webauthn: "Security key" };

  function renderOverview() {
    const o = overview;
    $("enrol-banner").hidden = !o.enrollment_required;
    $("mfa-state").textContent = o.enabled
      ? `2FA is on. API access with a password (basic auth) is ${o.api_basic_auth}.`
      : o.required ? "2FA is required on this account and is not set up yet." : "2FA is off.";
    $("factors").replaceChildren(...o.factors.map(factorRow));
    if (!o.factors.length) $("factors").append(el("li", {}, "No methods yet."));
    // Up to three phones, side by side.
    $("add-phone").hidden = o.factors.filter((f) => f.type === "phone" && f.status === "active").length >= 3;
    $("recovery-state").textContent = o.recovery_code
      ? `You have a recovery code, made ${when(o.recovery_code.created_at)}.`
      : "No recovery code yet: one is given with your first method.";
    $("recovery-new").hidden = !o.recovery_code;
    $(o.policy === "every_login" ? "policy-every" : "policy-device").checked = true;
    const choices = o.step_up_methods.filter((m) => !["email", "recovery_code"].includes(m));
    const names = { webauthn: "Security key", totp: "Authentication app", sms: "SMS", voice: "Voice call" };
    $("policy-method").replaceChildren(el("option", { value: "" }, "(none)"), ...choices.map((m) => el("option", { value: m }, names[m] || m)));
    $("policy-method").value = o.default_method && choices.includes(o.default_method) ? o.default_method : "";
    $("disable-state").textContent = o.required
      ? "2FA is a required security feature for all paid accounts, and can only be turned off on free trial accounts."
      : o.enabled ? "On a trial account you may turn 2FA off: it needs a verification and a current code." : "2FA is off.";
    $("disable-start").hidden = o.required || !o.enabled;
    const role = me.claims.org_role;
    $("owner-reset").hidden = role !== "owner" || !o.required;
    $("members").hidden = !(role === "owner" || role === "admin") || !me.claims.org_id;
    if (!$("members").hidden) loadOrgPolicy();
    $("key-origin-note").hidden = location.hostname === "localhost";
    renderReset();
    renderGate();
  }

  function factorRow(f) {
    const name = f.label ? `${kindNames[f.type]} “${f.label}”` : kindNames[f.type];
    const facts = [f.phone, f.status === "pending" ? "not verified yet" : null, `added ${when(f.created_at)}`,
      f.status === "active" ? `last used ${when(f.last_used_at)}` : null,
      f.backed_up ? "synced passkey" : null].filter(Boolean).join(" · ");
    const li = el("li", { "data-factor": f.factor_id }, el("strong", {}, name), ` · ${facts}`);
    const path = `/v1/factors/${f.type}/${encodeURIComponent(f.factor_id)}`;
    const errorId = "factors-error";
    li.append(el("button", { type: "button", class: "link", onclick: (ev) => renameInline(li, ev.currentTarget, f, path) }, "Rename"));
    if (f.type === "phone") {
      li.append(el("button", { type: "button", class: "link", onclick: (ev) => confirmInline(li, ev.currentTarget,
        "Reset removes this number from your account. Add a new one with “+ Add phone based verification”.",
        "Reset and continue", async () => { await api("DELETE", path, { stepUp: stepUp() }); await refresh(); $("add-phone").click(); }) }, "Reset"));
    } else {
      li.append(el("button", { type: "button", class: "link", onclick: (ev) => confirmInline(li, ev.currentTarget,
        `Remove ${name}? You will no longer be able to use it to log in.`, "Remove", async () => { await api("DELETE", path, { stepUp: stepUp() }); await refresh(); }) }, "Remove"));
    }
    li.errorId = errorId;
    return li;
  }

  function confirmInline(li, button, text, yes, work) {
    li.querySelectorAll(".confirm").forEach((c) => c.remove());
    const box = el("div", { class: "confirm", role: "alertdialog", "aria-label": text }, el("p", {}, text));
    const ok = el("button", { type: "button" }, yes);
    const cancel = el("button", { type: "button", onclick: () => { box.remove(); button.focus(); } }, "Cancel");
    ok.addEventListener("click", () => act(ok, "factors-error", async () => { await work(); box.remove(); }));
    box.append(ok, cancel);
    li.append(box);
    ok.focus();
  }

  function renameInline(li, button, f, path) {
    li.querySelectorAll(".confirm").forEach((c) => c.remove());
    const id = `rename-${f.factor_id}`;
    const input = el("input", { id, value: f.label || "", autocomplete: "off", "aria-describedby": "factors-error" });
    const save = el("button", { type: "button" }, "Save");
    const box = el("div", { class: "confirm" }, el("label", { for: id }, "New name"), input, save,
      el("button", { type: "button", onclick: () => { box.remove(); button.focus(); } }, "Cancel"));
    save.addEventListener("click", () => act(save, "factors-error", async () => {
      await api("PATCH", path, { body: { label: input.value.trim() }, stepUp: stepUp() });
      await refresh();
    }));
    li.append(box);
    input.focus();
  }

  // The gate: "Authenticate to make changes", then the step-up lives here for its 15 minutes.
  let gate = null;

  function renderGate() {
    const token = stepUp();
    document.querySelectorAll("fieldset.changes").forEach((f) => { f.disabled = !token; });
    $("gate-start").hidden = Boolean(token);
    if (token) {
      const left = Math.max(0, Math.round((me.stepUp.expiresAt - Date.now()) / 1000));
      const until = new Date(me.stepUp.expiresAt).toLocaleTimeString();
      $("gate-state").textContent = `You can make changes until ${until} (${Math.floor(left / 60)} min ${String(left % 60).padStart(2, "0")} s left).`;
    } else {
      $("gate-state").textContent = me && me.stepUp
        ? "Your verification has lapsed. Authenticate to make changes again."
        : (me && me.gateNote) || "The settings are read-only until you verify it is you.";
    }
  }

  $("gate-start").addEventListener("click", () => act($("gate-start"), "gate-error", async () => {
    const methods = overview ? overview.step_up_methods : ["email"];
    gate = { method: null };
    if (methods.length === 1 && methods[0] === "email") return pickGateMethod("email", $("gate-start"));
    methodButtons($("gate-methods"), methods, pickGateMethod, null);
    $("gate-methods").querySelector("button").focus();
  }));

  async function pickGateMethod(method, button) {
    gate = { method };
    clearError("gate-error");
    $("gate-sent").textContent = "";
    $("gate-code").value = "";
    hide("gate-form");
    if (method === "webauthn") {
      return act(button, "gate-error", async () => {
        const { data } = await api("POST", "/v1/step-up/webauthn", { body: {} });
        const credential = await keyGet(data.options);
        const issued = await api("POST", "/v1/step-up/webauthn/verify", { body: { challenge_id: data.challenge_id, credential } });
        stepped(issued.data);
      });
    }
    $("gate-code-label").textContent = codeLabels[method];
    const send = async () => {
      if (method === "email") {
        const { data } = await api("POST", "/v1/step-up/email", { body: {} });
        gate.challengeId = data.challenge_id;
        $("gate-sent").textContent = `A verification code was sent to ${data.to}. Enter it and click Verify.`;
      } else if (method === "sms" || method === "voice") {
        const { data } = await api("POST", "/v1/step-up/phone", { body: { channel: method } });
        gate.challengeId = data.challenge_id;
        $("gate-sent").textContent = method === "sms" ? `A code was sent by SMS to ${data.to}.` : `We are calling ${data.to} with your code.`;
      }
      show("gate-form");
      $("gate-code").focus();
    };
    if (button === $("gate-start")) return send();
    return act(button, "gate-error", send);
  }

  $("gate-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("gate-verify"), "gate-error", async () => {
      const code = $("gate-code").value.trim();
      const m = gate.method;
      const call = m === "email" ? ["/v1/step-up/email/verify", { challenge_id: gate.challengeId, code }]
        : m === "totp" ? ["/v1/step-up/totp", { code }]
          : m === "recovery_code" ? ["/v1/step-up/recovery-code", { recovery_code: code }]
            : ["/v1/step-up/phone/verify", { challenge_id: gate.challengeId, code }];
      const { data } = await api("POST", call[0], { body: call[1] });
      $("gate-code").value = "";
      stepped(data);
    });
  });

  function stepped(data) {
    me.stepUp = { token: data.step_up_token, level: data.level, expiresAt: Date.now() + data.expires_in * 1000 };
    me.gateNote = null;
    hide("gate-form", "gate-methods");
    if (data.new_recovery_code) showRecovery(data.new_recovery_code, "Your recovery code was used up. This new one replaces it.");
    renderGate();
    $("add-app").focus();
  }

  // "+ Add authentication app": the QR code from the API, the key for manual entry, then a code.
  let pendingApp = null;
  $("add-app").addEventListener("click", () => { show("app-panel"); hide("app-qr"); $("app-label").focus(); });
  $("app-start").addEventListener("click", () => act($("app-start"), "app-error", async () => {
    const { data } = await api("POST", "/v1/factors/totp", { body: { label: $("app-label").value.trim() || undefined }, stepUp: stepUp() });
    pendingApp = data.factor_id;
    $("app-qr-image").src = `data:image/png;base64,${data.qr_png_base64}`;
    $("app-secret").textContent = data.secret.replace(/(.{4})/g, "$1 ").trim();
    show("app-qr");
    $("app-code").focus();
  }));
  $("app-verify").addEventListener("click", () => act($("app-verify"), "app-error", async () => {
    const { data } = await api("POST", `/v1/factors/totp/${encodeURIComponent(pendingApp)}/verify`, { body: { code: $("app-code").value.trim() } });
    $("app-code").value = "";
    $("app-secret").textContent = "";
    $("app-qr-image").removeAttribute("src");
    hide("app-panel");
    notice("Your authentication app is set up.");
    await refresh();
    if (data.recovery_code) showRecovery(data.recovery_code, null);
  }));

  // "+ Add phone based verification": "Send code via SMS" or "Receive a call", then the code.
  let pendingPhone = null;
  $("add-phone").addEventListener("click", () => { show("phone-panel"); $("phone-number").focus(); });
  const phoneSend = (channel, button) => act(button, "phone-error", async () => {
    const number = $("phone-number").value.trim();
    const country = $("phone-country").value.trim().toUpperCase();
    let data;
    if (pendingPhone && pendingPhone.number === number && pendingPhone.country === country) {
      data = (await api("POST", `/v1/factors/phone/${encodeURIComponent(pendingPhone.id)}/resend`, { body: { channel } })).data;
    } else {
      const body = { phone_number: number, channel };
      if (country) body.country = country;
      data = (await api("POST", "/v1/factors/phone", { body, stepUp: stepUp() })).data;
      pendingPhone = { id: data.factor_id, number, country };
    }
    $("phone-sent").textContent = channel === "sms" ? `A code was sent by SMS to ${data.phone}.` : `We are calling ${data.phone} with your code.`;
    show("phone-confirm");
    $("phone-code").focus();
  });
  $("phone-sms").addEventListener("click", () => phoneSend("sms", $("phone-sms")));
  $("phone-call").addEventListener("click", () => phoneSend("voice", $("phone-call")));
  $("phone-verify").addEventListener("click", () => act($("phone-verify"), "phone-error", async () => {
    const { data } = await api("POST", `/v1/factors/phone/${encodeURIComponent(pendingPhone.id)}/verify`, { body: { code: $("phone-code").value.trim() } });
    $("phone-code").value = "";
    pendingPhone = null;
    hide("phone-panel", "phone-confirm");
    notice("Your phone is set up.");
    await refresh();
    if (data.recovery_code) showRecovery(data.recovery_code, null);
  }));

  // "+ Add security key".
  $("add-key").addEventListener("click", () => { show("key-panel"); $("key-label").focus(); });
  $("key-start").addEventListener("click", () => act($("key-start"), "key-error", async () => {
    const { data } = await api("POST", "/v1/factors/webauthn", { body: { label: $("key-label").value.trim() || undefined }, stepUp: stepUp() });
    const credential = await keyCreate(data.options);
    const verified = await api("POST", `/v1/factors/webauthn/${encodeURIComponent(data.factor_id)}/verify`, { body: { credential } });
    hide("key-panel");
    notice("Your security key is set up.");
    await refresh();
    if (verified.data.recovery_code) showRecovery(verified.data.recovery_code, null);
  }));

  // The recovery code: shown once, with a download; "Generate new code" after a prompt.
  let shownRecovery = null;
  function showRecovery(code, lead) {
    shownRecovery = { code, at: new Date().toISOString() };
    $("recovery-code").textContent = code;
    if (lead) notice(lead);
    show("recovery-shown");
    $("recovery").scrollIntoView({ block: "center" });
    $("recovery-download").focus();
  }
  $("recovery-download").addEventListener("click", () => {
    const text = `Recovery code for Console (${me.claims.email || me.claims.sub})\n\n${shownRecovery.code}\n\n`
      + `Made ${shownRecovery.at}. It gets you in once if you lose your 2FA methods; then you get a new one.\n`
      + "Keep it in a password manager.\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = el("a", { href: url, download: "recovery-code.txt" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  $("recovery-new").addEventListener("click", () => { show("recovery-confirm"); $("recovery-yes").focus(); });
  $("recovery-no").addEventListener("click", () => { hide("recovery-confirm"); $("recovery-new").focus(); });
  $("recovery-yes").addEventListener("click", () => act($("recovery-yes"), "recovery-error", async () => {
    const { data } = await api("POST", "/v1/recovery-code", { stepUp: stepUp() });
    hide("recovery-confirm");
    await refresh();
    showRecovery(data.recovery_code, "Your old recovery code no longer works.");
  }));

  // "Once per computer" / "Every log-in" and the default method.
  $("policy-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("policy-save"), "policy-error", async () => {
      hide("policy-ok");
      const body = { remember: document.querySelector("input[name=remember]:checked").value };
      if ($("policy-method").value) body.default_method = $("policy-method").value;
      await api("PUT", "/v1/mfa/policy", { body, stepUp: stepUp() });
      $("policy-ok").textContent = "Your 2FA settings are updated.";
      show("policy-ok");
      await refresh();
    });
  });

  // Turning 2FA off (trial): a current code on a fresh login challenge.
  let disabling = null;
  $("disable-start").addEventListener("click", () => act($("disable-start"), "disable-error", async () => {
    const { data } = await api("POST", "/v1/challenges", { body: {} });
    if (data.status !== "pending") throw Object.assign(new ApiError(409, null, null), { code: "conflict", message: "2FA is already off" });
    disabling = { id: data.challenge_id, options: data.webauthn && data.webauthn.options };
    methodButtons($("disable-methods"), data.methods, pickDisableMethod, null);
  }));
  function pickDisableMethod(method, button) {
    disabling.method = method;
    $("disable-sent").textContent = "";
    if (method === "webauthn") {
      hide("disable-form");
      return act(button, "disable-error", async () => {
        const credential = await keyGet(disabling.options);
        await turnOff({ challenge_id: disabling.id, method, credential });
      });
    }
    show("disable-form");
    if (method === "sms" || method === "voice") {
      return act(button, "disable-error", async () => {
        const { data } = await api("POST", `/v1/challenges/${encodeURIComponent(disabling.id)}/send`, { body: { channel: method } });
        $("disable-sent").textContent = `A code was sent to ${data.to}.`;
        $("disable-code").focus();
      });
    }
    $("disable-code").focus();
  }
  async function turnOff(body) {
    await api("DELETE", "/v1/mfa", { body, stepUp: stepUp() });
    hide("disable-form", "disable-methods");
    me.deviceToken = undefined;
    notice("2FA is off. Your methods, recovery code and remembered computers are removed.");
    await refresh();
  }
  $("disable-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("disable-confirm"), "disable-error", async () => {
      await turnOff({ challenge_id: disabling.id, method: disabling.method, code: $("disable-code").value.trim() });
      $("disable-code").value = "";
    });
  });

  // Remembered computers, with "Forget".
  async function renderDevices() {
    clearError("devices-error");
    let devices;
    try {
      devices = (await api("GET", "/v1/mfa/devices")).data.devices;
    } catch (e) {
      return showError("devices-error", e);
    }
    $("devices").replaceChildren(...devices.map((d) => {
      const li = el("li", { "data-device": d.device_id }, el("strong", {}, d.name),
        ` · remembered ${when(d.created_at)} · last used ${when(d.last_used_at)} · lapses ${when(d.lapses_at)} if unused`);
      const forget = el("button", { type: "button", class: "link", "aria-label": `Forget ${d.name}` }, "Forget");
      forget.addEventListener("click", () => act(forget, "devices-error", async () => {
        await api("DELETE", `/v1/mfa/devices/${encodeURIComponent(d.device_id)}`);
        await refresh();
      }));
      li.append(forget);
      return li;
    }));
    if (!devices.length) $("devices").append(el("li", {}, "No remembered computers."));
    $("devices-forget-all").hidden = devices.length === 0;
  }
  $("devices-forget-all").addEventListener("click", () => act($("devices-forget-all"), "devices-error", async () => {
    await api("DELETE", "/v1/mfa/devices");
    me.deviceToken = undefined;
    await refresh();
  }));

  // The security events, newest first, a page at a time.
  function eventRows(events) {
    return events.map((e) => el("tr", {}, el("td", {}, when(e.at)), el("td", {}, `${e.action.replace(/_/g, " ")}${e.detail ? `: ${e.detail}` : ""}`),
      el("td", {}, e.actor), el("td", {}, e.outcome), el("td", { class: "from" }, [e.source_ip, e.user_agent].filter(Boolean).join(" · "))));
  }
  async function renderEvents(first) {
    clearError("events-error");
    const cursor = first ? "" : `&cursor=${encodeURIComponent(me.eventsCursor)}`;
    let page;
    try {
      page = (await api("GET", `/v1/mfa/events?limit=10${cursor}`)).data;
    } catch (e) {
      return showError("events-error", e);
    }
    const body = $("events").tBodies[0];
    if (first) body.replaceChildren();
    body.append(...eventRows(page.events));
    me.eventsCursor = page.next_cursor;
    $("events-more").hidden = !page.next_cursor;
  }
  $("events-more").addEventListener("click", () => act($("events-more"), "events-error", () => renderEvents(false)));

  // The owner's "Reset MFA": an emailed code, then a waiting period that can be cancelled.
  function renderReset() {
    const r = me.reset;
    $("reset-form").hidden = !(r && !r.completesAt);
    $("reset-pending").hidden = $("reset-cancel").hidden = !(r && r.completesAt);
    if (r && r.completesAt) $("reset-pending").textContent = `Your 2FA will be reset at ${when(r.completesAt)} unless you cancel.`;
  }
  $("reset-start").addEventListener("click", () => act($("reset-start"), "reset-error", async () => {
    const { data } = await api("POST", "/v1/mfa/reset-requests", { body: {} });
    me.reset = { id: data.request_id };
    $("reset-sent").textContent = `A code was sent to ${data.to}.`;
    renderReset();
    $("reset-code").focus();
  }));
  $("reset-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("reset-confirm"), "reset-error", async () => {
      const { data } = await api("POST", `/v1/mfa/reset-requests/${encodeURIComponent(me.reset.id)}/confirm`, { body: { code: $("reset-code").value.trim() } });
      $("reset-code").value = "";
      me.reset.completesAt = data.completes_at;
      renderReset();
      await renderEvents(true);
    });
  });
  $("reset-cancel").addEventListener("click", () => act($("reset-cancel"), "reset-error", async () => {
    await api("DELETE", `/v1/mfa/reset-requests/${encodeURIComponent(me.reset.id)}`);
    me.reset = null;
    renderReset();
    notice("The reset is cancelled.");
    await renderEvents(true);
  }));

  // Owners and admins: reset a member's 2FA, read their trail.
  const memberPath = (suffix) => `/v1/orgs/${encodeURIComponent(me.claims.org_id)}/members/${encodeURIComponent($("member-id").value.trim())}/${suffix}`;
  $("member-reset").addEventListener("click", () => {
    clearError("member-error");
    $("member-confirm-text").textContent = `Reset the 2FA of ${$("member-id").value.trim() || "this member"}? Their methods are removed, they are emailed, and their next login asks for a new one.`;
    show("member-confirm");
    $("member-yes").focus();
  });
  $("member-no").addEventListener("click", () => { hide("member-confirm"); $("member-reset").focus(); });
  $("member-yes").addEventListener("click", () => act($("member-yes"), "member-error", async () => {
    hide("member-ok");
    const reason = $("member-reason").value.trim();
    const { data } = await api("POST", memberPath("mfa-reset"), { body: reason ? { reason } : {}, stepUp: stepUp() });
    hide("member-confirm");
    $("member-ok").textContent = `The 2FA of ${data.user_id} is reset (${when(data.reset_at)}).`;
    show("member-ok");
  }));
  $("member-events").addEventListener("click", () => act($("member-events"), "member-error", async () => {
    const { data } = await api("GET", memberPath("events?limit=20"));
    $("member-trail").replaceChildren(...data.events.map((e) => el("li", {}, `${when(e.at)} · ${e.action.replace(/_/g, " ")} · by ${e.actor} · ${e.outcome}`)));
    if (!data.events.length) $("member-trail").append(el("li", {}, "No events."));
  }));

  // Owners and admins: the organisation's policy.
  const orgPolicyPath = () => `/v1/orgs/${encodeURIComponent(me.claims.org_id)}/policy`;
  const orgMethods = ["webauthn", "totp", "sms", "voice"];
  function showOrgPolicy(p) {
    $("org-require").checked = p.require_mfa;
    orgMethods.forEach((m) => { $(`org-m-${m}`).checked = p.allowed_methods.includes(m); });
    $("org-days").value = String(p.remember_device_max_days);
  }
  async function loadOrgPolicy() {
    clearError("org-error");
    try {
      showOrgPolicy((await api("GET", orgPolicyPath())).data);
    } catch (e) {
      showError("org-error", e instanceof ApiError ? e : new ApiError(-1, null, null));
    }
  }
  $("org-policy-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("org-save"), "org-error", async () => {
      hide("org-ok");
      const body = {
        require_mfa: $("org-require").checked,
        allowed_methods: orgMethods.filter((m) => $(`org-m-${m}`).checked),
        remember_device_max_days: Number($("org-days").value),
      };
      const { data } = await api("PUT", orgPolicyPath(), { body, stepUp: stepUp() });
      showOrgPolicy(data);
      $("org-ok").textContent = `Policy saved (${when(data.updated_at)}); the owners are emailed.`;
      show("org-ok");
    });
  });

  // The step-up's lapse shows as it happens.
  setInterval(() => { if (me && me.view === "settings" && !$("settings").hidden) renderGate(); }, 1000);
  views("sign-in");
  $("si-sub").focus();
})();
