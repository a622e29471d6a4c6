//! Remembered devices (flow 4) and the settings page (flow 7), over HTTP against the local stack.
//! Device expiry moves the clock of a private stack; assertions are checked with jsonwebtoken.

use e2e::*;
use serde_json::{json, Value};

/// Logs in with the recovery code, asking to remember the device; the reply. `recovery` becomes
/// the new code the login issued.
async fn recovery_login(api: &Api, user: &User, recovery: &mut String, name: &str) -> Reply {
    let c = challenge(api, user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["challenge_id"].as_str().unwrap();
    let ok = verify_and_remember(api, user, id, "recovery_code", recovery, name).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    *recovery = ok.body["new_recovery_code"].as_str().unwrap().to_owned();
    ok
}

/// Logs in with the app's next code, asking to remember the device; the (asserted 200) reply.
async fn app_login(api: &Api, user: &User, uri: &str, name: &str) -> Reply {
    let c = challenge(api, user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["challenge_id"].as_str().unwrap();
    let code = app_code(uri, unix_now() + 30);
    let ok = verify_and_remember(api, user, id, "totp", &code, name).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    ok
}

async fn put_policy(api: &Api, user: &User, step_up: Option<&str>, body: Value) -> Reply {
    api.send("PUT", "/v1/mfa/policy", user, step_up, Some(body), &[])
        .await
}

async fn get(api: &Api, user: &User, path: &str) -> Reply {
    api.send("GET", path, user, None, None, &[]).await
}

async fn delete(api: &Api, user: &User, path: &str) -> Reply {
    api.send("DELETE", path, user, None, None, &[]).await
}

fn status(r: &Reply) -> (u16, &str) {
    (r.status.as_u16(), r.body["status"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn given_a_remembered_device_then_it_skips_the_code_under_device_30_days_but_not_every_login_nor_after_revocation(
) {
    let api = Api::shared();
    let moto = moto_url();
    let (user, uri, mut recovery) = user_with_app(&api).await;
    // The step-up used later, taken with the app before the login uses the next step.
    let step_up = api.step_up(&moto, &user).await;
    let ok = app_login(&api, &user, &uri, "Work laptop").await;
    let token = ok.body["device_token"].as_str().expect("device_token");
    assert_eq!(token.len(), 43, "256 bits, base64url");
    assert_eq!(
        latest_mail(&moto, &user.email).await.subject,
        "A device was remembered for two-factor sign-in"
    );

    // The default policy is device_30_days: the device skips the code.
    let skip = challenge_with_device(&api, &user, token).await;
    assert_eq!(status(&skip), (200, "approved"), "{:?}", skip.body);
    // It says the factor was not checked now, and when it last was: at the login that
    // remembered the device.
    let remembered_at = assertion_claims(&api, &user, ok.body["assertion"].as_str().unwrap()).await
        ["iat"]
        .as_i64()
        .unwrap();
    let claims = assertion_claims(&api, &user, skip.body["assertion"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "mfa-remembered-device", "{claims}");
    assert_eq!(
        claims["amr"],
        json!(["mfa"]),
        "only RFC 8176 values: {claims}"
    );
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        (remembered_at..=remembered_at + 2).contains(&auth_time),
        "{auth_time} vs {remembered_at}"
    );
    // The token is bound to its user, and a malformed one is bad input.
    let (other, _, _) = user_with_app(&api).await;
    assert_eq!(
        status(&challenge_with_device(&api, &other, token).await),
        (201, "pending")
    );
    let bad = challenge_with_device(&api, &user, "not-a-token").await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "invalid_request"));

    let list = get(&api, &user, "/v1/mfa/devices").await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let devices = list.body["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["name"], "Work laptop");
    assert!(!list.text.contains(token), "the token is never shown again");
    let device_id = devices[0]["device_id"].as_str().unwrap();

    // every_login needs a step-up, and then the device is ignored.
    let refused = put_policy(&api, &user, None, json!({ "remember": "every_login" })).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (403, "step_up_required")
    );
    let set = put_policy(
        &api,
        &user,
        Some(&step_up),
        json!({ "remember": "every_login" }),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body["policy"], "every_login");
    assert_eq!(
        latest_mail(&moto, &user.email).await.subject,
        "Your two-factor settings changed"
    );
    assert_eq!(
        status(&challenge_with_device(&api, &user, token).await),
        (201, "pending")
    );
    // Under every_login a login cannot remember a device either.
    let no_device = recovery_login(&api, &user, &mut recovery, "Home").await;
    assert!(
        no_device.body.get("device_token").is_none(),
        "{:?}",
        no_device.body
    );

    // every_login ignored the device without forgetting it: back on device_30_days it works.
    let set = put_policy(
        &api,
        &user,
        Some(&step_up),
        json!({ "remember": "device_30_days" }),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        status(&challenge_with_device(&api, &user, token).await),
        (200, "approved")
    );

    // Revoked, it asks for a code again; revoking twice is 404.
    let path = format!("/v1/mfa/devices/{device_id}");
    assert_eq!(delete(&api, &user, &path).await.status, 204);
    assert_eq!(
        latest_mail(&moto, &user.email).await.subject,
        "A remembered device was forgotten"
    );
    assert_eq!(
        status(&challenge_with_device(&api, &user, token).await),
        (201, "pending")
    );
    let again = delete(&api, &user, &path).await;
    assert_eq!((again.status.as_u16(), again.code()), (404, "not_found"));

    // Forget all at once.
    let b = recovery_login(&api, &user, &mut recovery, "Phone browser").await;
    let c = recovery_login(&api, &user, &mut recovery, "Tablet").await;
    let tokens = [&b, &c].map(|r| r.body["device_token"].as_str().unwrap().to_owned());
    for t in &tokens {
        assert_eq!(
            status(&challenge_with_device(&api, &user, t).await),
            (200, "approved")
        );
    }
    assert_eq!(delete(&api, &user, "/v1/mfa/devices").await.status, 204);
    let list = get(&api, &user, "/v1/mfa/devices").await;
    assert_eq!(list.body["devices"], json!([]));
    for t in &tokens {
        assert_eq!(
            status(&challenge_with_device(&api, &user, t).await),
            (201, "pending")
        );
    }

    let events = get(&api, &user, "/v1/mfa/events?limit=100").await;
    let actions: Vec<&str> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["device_remembered", "policy_changed", "device_revoked"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn given_a_remembered_device_then_it_lapses_after_seven_idle_days_and_expires_after_thirty() {
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let (user, uri, mut recovery) = user_with_app_on(api, &stack.moto).await;
    let used = app_login(api, &user, &uri, "Used").await;
    let used = used.body["device_token"].as_str().unwrap().to_owned();
    let idle = recovery_login(api, &user, &mut recovery, "Idle").await;
    let idle = idle.body["device_token"].as_str().unwrap().to_owned();
    let day = 86_400;

    // Day 6: both work; only `used` is used.
    stack.advance_clock(6 * day).await;
    assert_eq!(
        status(&challenge_with_device(api, &user, &used).await),
        (200, "approved")
    );
    // Day 7 + 1 s: `idle` went 7 days unused and lapsed; `used` was used a day ago.
    stack.advance_clock(day + 1).await;
    assert_eq!(
        status(&challenge_with_device(api, &user, &idle).await),
        (201, "pending")
    );
    assert_eq!(
        status(&challenge_with_device(api, &user, &used).await),
        (200, "approved")
    );
    let list = get(api, &user, "/v1/mfa/devices").await;
    let names: Vec<&str> = list.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Used"], "a lapsed device is not listed");
    // Used every 6 days it keeps working until day 30 ...
    for _ in 0..3 {
        stack.advance_clock(6 * day).await;
        assert_eq!(
            status(&challenge_with_device(api, &user, &used).await),
            (200, "approved")
        );
    }
    // (now day 25 + 1 s) ... to a minute before its 30th day (the clock also runs for real,
    // so the margins are a minute, not a second) ...
    stack.advance_clock(5 * day - 61).await;
    assert_eq!(
        status(&challenge_with_device(api, &user, &used).await),
        (200, "approved")
    );
    // ... and not a minute after, however recently it was used.
    stack.advance_clock(120).await;
    assert_eq!(
        status(&challenge_with_device(api, &user, &used).await),
        (201, "pending")
    );
    assert_eq!(
        get(api, &user, "/v1/mfa/devices").await.body["devices"],
        json!([])
    );
}

#[tokio::test]
async fn given_the_settings_page_then_it_reports_factors_policy_recovery_code_devices_and_basic_auth(
) {
    let api = Api::shared();
    let trial = get(&api, &User::new("trial"), "/v1/mfa").await;
    assert_eq!(trial.status, 200, "{:?}", trial.body);
    assert_eq!(
        trial.body,
        json!({
            "enabled": false, "required": false, "policy": "device_30_days",
            "default_method": null, "factors": [], "recovery_code": null,
            "remembered_devices": 0, "enrollment_required": false, "api_basic_auth": "allowed",
            "step_up_methods": ["email"],
        })
    );
    let paid = get(&api, &User::new("paid"), "/v1/mfa").await;
    assert_eq!(paid.body["required"], true);
    assert_eq!(paid.body["enrollment_required"], true);

    let (user, uri, _) = user_with_app(&api).await;
    let number = add_phone(&api, &user).await;
    app_login(&api, &user, &uri, "Laptop").await;
    let page = get(&api, &user, "/v1/mfa").await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["enabled"], true);
    assert_eq!(page.body["enrollment_required"], false);
    assert_eq!(page.body["api_basic_auth"], "disabled");
    assert_eq!(page.body["remembered_devices"], 1);
    assert!(page.body["recovery_code"]["created_at"].is_string());
    // Once a factor is on, the mailbox no longer steps up: the page offers the factors.
    assert_eq!(
        page.body["step_up_methods"],
        json!(["totp", "sms", "voice", "recovery_code"])
    );
    let kinds: Vec<&str> = page.body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"totp") && kinds.contains(&"phone"));
    // Masked, never the number or the app secret.
    assert!(page.text.contains(&number[number.len() - 4..]));
    assert!(!page.text.contains(&number[1..]), "{}", page.text);
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(!page.text.contains(secret));
}

#[tokio::test]
async fn given_a_default_method_then_the_login_offers_it_first_and_only_a_method_the_user_has() {
    let api = Api::shared();
    let moto = moto_url();
    let (user, _, _) = user_with_app(&api).await;
    let step_up = api.step_up(&moto, &user).await;
    let voice = put_policy(
        &api,
        &user,
        Some(&step_up),
        json!({ "default_method": "voice" }),
    )
    .await;
    assert_eq!(
        (voice.status.as_u16(), voice.code()),
        (409, "conflict"),
        "no phone yet"
    );
    add_phone(&api, &user).await;
    assert_eq!(challenge(&api, &user).await.body["default_method"], "totp");

    let step_up = api.step_up(&moto, &user).await;
    let set = put_policy(
        &api,
        &user,
        Some(&step_up),
        json!({ "default_method": "sms" }),
    )
    .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        set.body,
        json!({ "policy": "device_30_days", "default_method": "sms" })
    );
    let c = challenge(&api, &user).await;
    assert_eq!(c.body["default_method"], "sms");
    assert_eq!(
        c.body["methods"],
        json!(["totp", "sms", "voice", "recovery_code"])
    );
    let mail = latest_mail(&moto, &user.email).await;
    assert_eq!(mail.subject, "Your two-factor settings changed");
    assert!(mail.body.contains("default method sms"), "{}", mail.body);
    assert_eq!(
        get(&api, &user, "/v1/mfa").await.body["default_method"],
        "sms"
    );

    for bad in [
        json!({}),
        json!({ "default_method": "recovery_code" }),
        json!({ "default_method": "email" }),
        json!({ "remember": "sometimes" }),
        json!({ "remember": "every_login", "extra": 1 }),
    ] {
        let r = put_policy(&api, &user, Some(&step_up), bad.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn given_security_events_then_the_user_pages_through_them_newest_first() {
    let api = Api::shared();
    let moto = moto_url();
    let (user, _, _) = user_with_app(&api).await;
    let step_up = api.step_up(&moto, &user).await;
    for remember in [
        "every_login",
        "device_30_days",
        "every_login",
        "device_30_days",
    ] {
        let r = put_policy(&api, &user, Some(&step_up), json!({ "remember": remember })).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let regen = api
        .send(
            "POST",
            "/v1/recovery-code",
            &user,
            Some(&step_up),
            None,
            &[],
        )
        .await;
    assert_eq!(regen.status, 201, "{:?}", regen.body);

    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/v1/mfa/events?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = get(&api, &user, &path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let events = page.body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(events.iter().cloned());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/mfa/events?limit=2&cursor={c}"),
            None => break,
        }
    }
    let actions: Vec<&str> = seen.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "recovery_code_regenerated",
            "policy_changed",
            "policy_changed",
            "policy_changed",
            "policy_changed",
            "factor_added",
        ]
    );
    assert_eq!(pages, 3);
    let first = &seen[0];
    assert_eq!(first["actor"], user.sub.as_str());
    assert_eq!(first["target"], user.sub.as_str());
    assert_eq!(first["outcome"], "success");
    assert_eq!(first["source_ip"], "127.0.0.1");
    assert!(first["at"].as_str().unwrap().ends_with('Z'));

    // Another user sees none of them; bad paging input is a 400.
    let other = get(&api, &User::new("paid"), "/v1/mfa/events").await;
    assert_eq!(other.body, json!({ "events": [], "next_cursor": null }));
    for bad in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=abc",
        "cursor=MDAwMDAwMDAwMDAwI3g",
    ] {
        let r = get(&api, &user, &format!("/v1/mfa/events?{bad}")).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn given_a_trial_account_then_2fa_turns_off_with_step_up_and_a_current_code_but_never_on_paid(
) {
    let api = Api::shared();
    let moto = moto_url();
    // Paid: refused before anything else.
    let (paid, _, _) = user_with_app(&api).await;
    let r = delete(&api, &paid, "/v1/mfa").await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "mfa_required"));

    let (user, uri, recovery) = user_with_app_as(&api, &moto, "trial").await;
    // The step-up used later, taken with the app before the login uses the next step.
    let step_up = api.step_up(&moto, &user).await;
    let remembered = app_login(&api, &user, &uri, "Laptop").await;
    let device = remembered.body["device_token"].as_str().unwrap().to_owned();
    let disable = |step_up: Option<String>, body: Value| {
        let (api, user) = (api.clone(), &user);
        async move {
            api.send(
                "DELETE",
                "/v1/mfa",
                user,
                step_up.as_deref(),
                Some(body),
                &[],
            )
            .await
        }
    };
    let c = challenge(&api, &user).await;
    let id = c.body["challenge_id"].as_str().unwrap().to_owned();
    let r = disable(
        None,
        json!({ "challenge_id": id, "method": "totp", "code": "000000" }),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));
    let wrong = wrong_code(&app_code(&uri, unix_now()));
    let r = disable(
        Some(step_up.clone()),
        json!({ "challenge_id": id, "method": "totp", "code": wrong }),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (400, "invalid_code"),
        "{:?}",
        r.body
    );
    let r = disable(
        Some(step_up.clone()),
        json!({ "challenge_id": id, "code": "1" }),
    )
    .await;
    assert_eq!(r.code(), "invalid_request");
    // The app's current step was used by the login above, so the recovery code proves it here.
    let r = disable(
        Some(step_up.clone()),
        json!({ "challenge_id": id, "method": "recovery_code", "code": recovery }),
    )
    .await;
    assert_eq!(r.status, 204, "{:?}", r.body);

    let page = get(&api, &user, "/v1/mfa").await;
    assert_eq!(page.body["enabled"], false);
    assert_eq!(page.body["factors"], json!([]));
    assert_eq!(page.body["recovery_code"], Value::Null);
    assert_eq!(page.body["remembered_devices"], 0);
    assert_eq!(page.body["api_basic_auth"], "allowed");
    assert_eq!(status(&challenge(&api, &user).await), (200, "not_required"));
    assert_eq!(
        status(&challenge_with_device(&api, &user, &device).await),
        (200, "not_required")
    );
    assert_eq!(
        latest_mail(&moto, &user.email).await.subject,
        "Two-factor authentication was turned off"
    );
    let events = get(&api, &user, "/v1/mfa/events?limit=1").await;
    assert_eq!(events.body["events"][0]["action"], "mfa_disabled");
    let again = disable(
        Some(step_up),
        json!({ "challenge_id": id, "method": "totp", "code": "123456" }),
    )
    .await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));
}
