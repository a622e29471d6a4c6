//! Security keys and passkeys (WebAuthn, issue 14), over HTTP against the local stack: a
//! software key (`e2e::softkey`) registers, logs in, and is refused when its response comes
//! from another origin or RP id, belongs to another user, is replayed, or its counter goes
//! back.

use crate::factors::rename;
use e2e::softkey::SoftKey;
use e2e::*;
use serde_json::{json, Value};

async fn get(api: &Api, user: &User, path: &str) -> Reply {
    api.send("GET", path, user, None, None, &[]).await
}

/// `POST /v1/factors/webauthn` with a step-up token: the pending key's reply.
async fn start_key(api: &Api, user: &User, step_up: &str, body: Value) -> Reply {
    api.send(
        "POST",
        "/v1/factors/webauthn",
        user,
        Some(step_up),
        Some(body),
        &[],
    )
    .await
}

async fn verify_key(api: &Api, user: &User, id: &str, credential: Value) -> Reply {
    api.send(
        "POST",
        &format!("/v1/factors/webauthn/{id}/verify"),
        user,
        None,
        Some(json!({ "credential": credential })),
        &[],
    )
    .await
}

/// Registers `key` for `user` (stepping up by email first): the verify reply.
async fn register(api: &Api, user: &User, key: &SoftKey) -> Reply {
    register_on(api, &moto_url(), user, key).await
}

/// [`register`] on a stack whose moto is at `moto`.
async fn register_on(api: &Api, moto: &str, user: &User, key: &SoftKey) -> Reply {
    let step_up = api.step_up_by_email(moto, user).await;
    let r = start_key(api, user, &step_up, json!({ "label": "YubiKey" })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    let done = verify_key(api, user, &id, key.register(&r.body["options"])).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    done
}

/// A login challenge for a user with a key: its id and its WebAuthn request options.
async fn key_login(api: &Api, user: &User) -> (String, Value) {
    let r = challenge(api, user).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (
        r.body["challenge_id"].as_str().unwrap().to_owned(),
        r.body["webauthn"]["options"].clone(),
    )
}

fn answer(credential: Value) -> Value {
    json!({ "method": "webauthn", "credential": credential })
}

async fn verify_login(api: &Api, user: &User, id: &str, credential: Value) -> Reply {
    api.send(
        "POST",
        &format!("/v1/challenges/{id}/verify"),
        user,
        None,
        Some(answer(credential)),
        &[],
    )
    .await
}

fn refusal(r: &Reply) -> (u16, &str) {
    (r.status.as_u16(), r.code())
}

/// A `factor` step-up token for a user whose only factor is a key: by the recovery code,
/// which is swapped for a new one (returned).
async fn step_up_by_recovery(api: &Api, user: &User, code: &str) -> (String, String) {
    let r = api
        .send(
            "POST",
            "/v1/step-up/recovery-code",
            user,
            None,
            Some(json!({ "recovery_code": code })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (
        r.body["step_up_token"].as_str().unwrap().to_owned(),
        r.body["new_recovery_code"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_security_key_registers_logs_in_and_the_assertion_says_hwk_and_phishing_resistant() {
    let api = Api::shared();
    let user = User::new("paid");
    let key = SoftKey::new();
    let step_up = api.step_up_by_email(&moto_url(), &user).await;

    let r = start_key(&api, &user, &step_up, json!({ "label": "YubiKey" })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    // The inner `publicKey` object, for parseCreationOptionsFromJSON: not wrapped.
    let options = &r.body["options"];
    assert!(options.get("publicKey").is_none(), "{options}");
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["rp"]["name"], "Console (local)");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    assert_eq!(options["attestation"], "none");
    // Chromium refuses a credProtect policy above "optional" for a non-discoverable key.
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "discouraged"
    );
    assert!(
        options["extensions"]
            .get("credentialProtectionPolicy")
            .is_none(),
        "{options}"
    );
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    let user_id = options["user"]["id"].as_str().unwrap();
    assert!(!user_id.contains(&user.sub) && options["user"]["name"] == user.email.as_str());
    assert!(options
        .get("excludeCredentials")
        .is_none_or(|e| e == &json!([])));

    let id = r.body["factor_id"].as_str().unwrap();
    let done = verify_key(&api, &user, id, key.register(options)).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["factor"]["type"], "webauthn");
    assert_eq!(done.body["factor"]["status"], "active");
    assert_eq!(done.body["factor"]["label"], "YubiKey");
    // The first factor gets the recovery code, once.
    assert!(done.body["recovery_code"].as_str().is_some());
    // Verified once: the same response again is a conflict.
    let again = verify_key(&api, &user, id, key.register(options)).await;
    assert_eq!(refusal(&again), (409, "conflict"));

    let page = get(&api, &user, "/v1/mfa").await;
    let listed = &page.body["factors"][0];
    assert_eq!(
        (&listed["type"], &listed["label"], &listed["backed_up"]),
        (&json!("webauthn"), &json!("YubiKey"), &json!(false))
    );
    assert_eq!(listed["user_verified"], true);
    assert!(listed.get("last_used_at").is_none());

    // A login offers the key first, with the user's key allowed and UV preferred.
    let r = challenge(&api, &user).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["methods"], json!(["webauthn", "recovery_code"]));
    assert_eq!(r.body["default_method"], "webauthn");
    let request = &r.body["webauthn"]["options"];
    assert_eq!(request["rpId"], "localhost");
    assert_eq!(request["userVerification"], "preferred");
    let allowed = request["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{request}");
    assert_eq!(
        (&allowed[0]["type"], &allowed[0]["id"]),
        (&json!("public-key"), &json!(key.id()))
    );
    let challenge_id = r.body["challenge_id"].as_str().unwrap();
    let mut key = key;
    let ok = verify_login(&api, &user, challenge_id, key.sign(request)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let claims = assertion_claims(&api, &user, ok.body["assertion"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "phr", "{claims}");
    assert_eq!(claims["amr"], json!(["mfa", "hwk"]), "{claims}");
    assert_eq!(claims["auth_time"], claims["iat"]);

    let page = get(&api, &user, "/v1/mfa").await;
    assert!(page.body["factors"][0]["last_used_at"].as_str().is_some());
    let events = get(&api, &user, "/v1/mfa/events?limit=100").await.body;
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "factor_added" && e["detail"] == "security key 'YubiKey'"));
}

#[tokio::test]
async fn the_same_key_response_sent_twenty_times_at_once_or_replayed_approves_the_login_once() {
    let api = Api::shared();
    let user = User::new("paid");
    let mut key = SoftKey::new();
    register(&api, &user, &key).await;
    let (id, options) = key_login(&api, &user).await;
    let response = key.sign(&options);

    let replies = api
        .post_all_at_once(
            &format!("/v1/challenges/{id}/verify"),
            &user.token,
            vec![answer(response.clone()); 20],
        )
        .await;
    let approved = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        approved,
        1,
        "{:?}",
        replies.iter().map(refusal).collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(refusal(r), (409, "conflict"), "{:?}", r.body);
    }
    // Later, the captured response is still refused, and it never counted as a guess: a
    // new login with a fresh response passes with every try left.
    let replayed = verify_login(&api, &user, &id, response).await;
    assert_eq!(refusal(&replayed), (409, "conflict"));
    let (next, options) = key_login(&api, &user).await;
    let ok = verify_login(&api, &user, &next, key.sign(&options)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn a_response_from_another_origin_or_rp_id_or_another_users_key_is_refused_and_counted() {
    let api = Api::shared();
    let user = User::new("paid");
    let mut key = SoftKey::new();
    register(&api, &user, &key).await;
    let other = User::new("paid");
    let mut others_key = SoftKey::new();
    register(&api, &other, &others_key).await;

    let (id, options) = key_login(&api, &user).await;
    let mut phished = key.clone();
    phished.origin = "https://login.example.net".into();
    let mut wrong_rp = key.clone();
    wrong_rp.rp_id = "example.net".into();
    let mut tries = 5;
    for (what, response) in [
        ("another origin", phished.sign(&options)),
        ("another RP id", wrong_rp.sign(&options)),
        ("another user's key", others_key.sign(&options)),
    ] {
        let r = verify_login(&api, &user, &id, response).await;
        tries -= 1;
        assert_eq!(
            refusal(&r),
            (400, "invalid_credential"),
            "{what}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["attempts_remaining"], tries, "{what}");
    }
    // The user's own key still passes the same challenge.
    let ok = verify_login(&api, &user, &id, key.sign(&options)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn a_key_whose_counter_goes_back_is_refused_and_the_user_is_told() {
    let api = Api::shared();
    let user = User::new("paid");
    let mut key = SoftKey::new();
    register(&api, &user, &key).await;
    key.counter = 41;
    let (id, options) = key_login(&api, &user).await;
    assert_eq!(
        verify_login(&api, &user, &id, key.sign(&options))
            .await
            .status,
        200
    );

    // A copy of the key, made before its last use, answers with a lower counter.
    let mut copy = key.clone();
    copy.counter = 10;
    let (id, options) = key_login(&api, &user).await;
    let r = verify_login(&api, &user, &id, copy.sign(&options)).await;
    assert_eq!(refusal(&r), (403, "forbidden"), "{:?}", r.body);
    let events = get(&api, &user, "/v1/mfa/events?limit=100").await.body;
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "security_key_cloned"));
    let mail = latest_mail(&moto_url(), &user.email).await;
    assert!(
        mail.subject.contains("copied security key"),
        "{}",
        mail.subject
    );
    // The key itself, moving forward, still passes.
    let ok = verify_login(&api, &user, &id, key.sign(&options)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn a_response_to_an_expired_unknown_or_other_ceremony_is_refused_without_a_try() {
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let user = User::new("paid");
    let mut key = SoftKey::new();
    let step_up = api.step_up_by_email(&stack.moto, &user).await;
    let r = start_key(api, &user, &step_up, json!({})).await;
    let factor = r.body["factor_id"].as_str().unwrap().to_owned();
    let done = verify_key(api, &user, &factor, key.register(&r.body["options"])).await;
    assert_eq!(done.status, 200, "{:?}", done.body);

    let (first, first_options) = key_login(api, &user).await;
    let (second, second_options) = key_login(api, &user).await;
    // The response to the first login's options, sent to the second: not a guess.
    let crossed = verify_login(api, &user, &second, key.sign(&first_options)).await;
    assert_eq!(
        refusal(&crossed),
        (400, "invalid_request"),
        "{:?}",
        crossed.body
    );
    let random = uuid::Uuid::new_v4().to_string();
    let unknown = verify_login(api, &user, &random, key.sign(&second_options)).await;
    assert_eq!(refusal(&unknown), (404, "not_found"));
    stack.advance_clock(601).await;
    let late = verify_login(api, &user, &first, key.sign(&first_options)).await;
    assert_eq!(refusal(&late), (410, "expired"));
    // None of them counted: a wrong answer now still has all but one try left.
    let (id, options) = key_login(api, &user).await;
    let mut stranger = SoftKey::new();
    let wrong = verify_login(api, &user, &id, stranger.sign(&options)).await;
    assert_eq!(
        wrong.body["error"]["attempts_remaining"], 4,
        "{:?}",
        wrong.body
    );

    // A pending key lapses too.
    let (step_up, _) =
        step_up_by_recovery(api, &user, done.body["recovery_code"].as_str().unwrap()).await;
    let r = start_key(api, &user, &step_up, json!({})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let pending = r.body["factor_id"].as_str().unwrap();
    stack.advance_clock(601).await;
    let late = verify_key(
        api,
        &user,
        pending,
        SoftKey::new().register(&r.body["options"]),
    )
    .await;
    assert_eq!(refusal(&late), (410, "expired"));
}

#[tokio::test]
async fn a_registration_that_does_not_verify_or_is_malformed_is_refused_with_its_code() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up_by_email(&moto_url(), &user).await;
    let r = start_key(&api, &user, &step_up, json!({})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    let options = r.body["options"].clone();
    let key = SoftKey::new();

    // Malformed: not an object, wrong types, truncated base64, a challenge of another
    // ceremony. None of them is a try.
    let mut truncated = key.register(&options);
    let object = truncated["response"]["attestationObject"]
        .as_str()
        .unwrap()
        .to_owned();
    truncated["response"]["attestationObject"] = json!(&object[..object.len() - 3]);
    let mut wrong_type = key.register(&options);
    wrong_type["rawId"] = json!(42);
    for (what, credential) in [
        ("a string", json!("credential")),
        ("wrong types", wrong_type),
        ("truncated base64", truncated),
        (
            "another challenge",
            key.register_for("b3RoZXItY2hhbGxlbmdl"),
        ),
    ] {
        let r = verify_key(&api, &user, &id, credential).await;
        assert_eq!(
            refusal(&r),
            (400, "invalid_request"),
            "{what}: {:?}",
            r.body
        );
    }
    let r = api
        .post_raw(
            &format!("/v1/factors/webauthn/{id}/verify"),
            Some(&user.token),
            "{\"credential\": ",
        )
        .await;
    assert_eq!(refusal(&r), (400, "invalid_request"));

    // A response for this ceremony from another origin or for another RP id uses a try.
    let mut phished = key.clone();
    phished.origin = "https://login.example.net".into();
    let mut wrong_rp = key.clone();
    wrong_rp.rp_id = "example.net".into();
    for (left, response) in [
        (4, phished.register(&options)),
        (3, wrong_rp.register(&options)),
    ] {
        let r = verify_key(&api, &user, &id, response).await;
        assert_eq!(refusal(&r), (400, "invalid_credential"), "{:?}", r.body);
        assert_eq!(r.body["error"]["attempts_remaining"], left);
    }
    let ok = verify_key(&api, &user, &id, key.register(&options)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn keys_are_renamed_removed_with_a_step_up_and_capped_at_ten() {
    let api = Api::shared();
    let user = User::new("paid");
    let key = SoftKey::new();
    let done = register(&api, &user, &key).await;
    let id = done.body["factor"]["factor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let recovery = done.body["recovery_code"].as_str().unwrap().to_owned();

    // Renaming is a change to the factors: it needs a step-up.
    let path = format!("/v1/factors/webauthn/{id}");
    let r = rename(&api, &user, &path, None, "Backup key").await;
    assert_eq!(refusal(&r), (403, "step_up_required"));
    let (step_up, _) = step_up_by_recovery(&api, &user, &recovery).await;
    let r = rename(&api, &user, &path, Some(&step_up), "Backup key").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["label"], "Backup key");
    let unknown = format!("/v1/factors/webauthn/{}", uuid::Uuid::new_v4());
    let r = rename(&api, &user, &unknown, Some(&step_up), "x").await;
    assert_eq!(refusal(&r), (404, "not_found"));

    // The same key twice is refused; nine more are fine; an eleventh is refused.
    let r = start_key(&api, &user, &step_up, json!({})).await;
    assert_eq!(r.body["options"]["excludeCredentials"][0]["id"], key.id());
    let pending = r.body["factor_id"].as_str().unwrap();
    let twice = verify_key(&api, &user, pending, key.register(&r.body["options"])).await;
    assert_eq!(refusal(&twice), (409, "conflict"), "{:?}", twice.body);
    for _ in 0..8 {
        let r = start_key(&api, &user, &step_up, json!({})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let added = verify_key(
            &api,
            &user,
            r.body["factor_id"].as_str().unwrap(),
            SoftKey::new().register(&r.body["options"]),
        )
        .await;
        assert_eq!(added.status, 200, "{:?}", added.body);
    }
    let r = start_key(&api, &user, &step_up, json!({})).await;
    assert_eq!(refusal(&r), (409, "conflict"), "{:?}", r.body);

    // Removing needs the step-up.
    let path = format!("/v1/factors/webauthn/{id}");
    let r = api.send("DELETE", &path, &user, None, None, &[]).await;
    assert_eq!(refusal(&r), (403, "step_up_required"));
    let r = api
        .send("DELETE", &path, &user, Some(&step_up), None, &[])
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let page = get(&api, &user, "/v1/mfa").await;
    assert!(page.body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["factor_id"] != id.as_str()));
}

#[tokio::test]
async fn a_trial_user_turns_two_factor_off_with_the_key_and_the_key_goes_with_it() {
    let api = Api::shared();
    let user = User::new("trial");
    let mut key = SoftKey::new();
    let done = register(&api, &user, &key).await;
    let recovery = done.body["recovery_code"].as_str().unwrap();
    let (step_up, _) = step_up_by_recovery(&api, &user, recovery).await;
    let (id, options) = key_login(&api, &user).await;
    let body = |credential: Value| json!({ "challenge_id": id, "method": "webauthn", "credential": credential });
    // A code where the key's response belongs is refused before anything counts.
    let r = api
        .send(
            "DELETE",
            "/v1/mfa",
            &user,
            Some(&step_up),
            Some(json!({ "challenge_id": id, "method": "webauthn", "code": "123456" })),
            &[],
        )
        .await;
    assert_eq!(refusal(&r), (400, "invalid_request"), "{:?}", r.body);
    let r = api
        .send(
            "DELETE",
            "/v1/mfa",
            &user,
            Some(&step_up),
            Some(body(key.sign(&options))),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let page = get(&api, &user, "/v1/mfa").await;
    assert_eq!(page.body["enabled"], false);
    assert_eq!(page.body["factors"], json!([]));
    let r = challenge(&api, &user).await;
    assert_eq!(r.body["status"], "not_required", "{:?}", r.body);
}

#[tokio::test]
async fn a_key_login_is_counted_as_a_verification_passed_or_failed() {
    use crate::logs::{counted, lines, request_id};
    let stack = PrivateStack::start().await;
    let (api, user, mut key) = (&stack.api, User::new("paid"), SoftKey::new());
    register_on(api, &stack.moto, &user, &key).await;
    let (id, options) = key_login(api, &user).await;
    let wrong = verify_login(api, &user, &id, SoftKey::new().sign(&options)).await;
    assert_eq!(wrong.code(), "invalid_credential");
    let right = verify_login(api, &user, &id, key.sign(&options)).await;
    assert_eq!(right.status, 200, "{:?}", right.body);
    let log = lines(&stack.log);
    assert_eq!(counted(&log, &request_id(&wrong)), ["VerificationsFailed"]);
    assert_eq!(counted(&log, &request_id(&right)), ["VerificationsPassed"]);
}

#[tokio::test]
async fn a_key_steps_up_once_and_its_token_changes_two_factor_settings() {
    let api = Api::shared();
    let user = User::new("paid");
    let mut key = SoftKey::new();
    register(&api, &user, &key).await;
    let page = get(&api, &user, "/v1/mfa").await;
    assert_eq!(
        page.body["step_up_methods"],
        json!(["webauthn", "recovery_code"])
    );

    let r = api
        .post("/v1/step-up/webauthn", &user.token, json!({}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["challenge_id"].as_str().unwrap().to_owned();
    let options = r.body["options"].clone();
    assert_eq!(options["allowCredentials"][0]["id"], key.id());
    let verify = |credential: Value| json!({ "challenge_id": id, "credential": credential });

    // Another key is a wrong answer, counted.
    let wrong = api
        .post(
            "/v1/step-up/webauthn/verify",
            &user.token,
            verify(SoftKey::new().sign(&options)),
        )
        .await;
    assert_eq!(
        refusal(&wrong),
        (400, "invalid_credential"),
        "{:?}",
        wrong.body
    );
    assert_eq!(wrong.body["error"]["attempts_remaining"], 4);
    // The user's key, the same response 20 times at once: one token.
    let replies = api
        .post_all_at_once(
            "/v1/step-up/webauthn/verify",
            &user.token,
            vec![verify(key.sign(&options)); 20],
        )
        .await;
    let issued: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        issued.len(),
        1,
        "{:?}",
        replies.iter().map(refusal).collect::<Vec<_>>()
    );
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(refusal(r), (409, "conflict"), "{:?}", r.body);
    }
    assert_eq!(issued[0].body["level"], "factor");

    // The token is a `factor` step-up: it adds a second key.
    let token = issued[0].body["step_up_token"].as_str().unwrap();
    let r = start_key(&api, &user, token, json!({ "label": "Backup" })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Without a key there is nothing to step up with.
    let other = User::new("paid");
    let r = api
        .post("/v1/step-up/webauthn", &other.token, json!({}))
        .await;
    assert_eq!(refusal(&r), (409, "conflict"));
}
