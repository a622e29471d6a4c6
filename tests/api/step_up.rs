//! Flow 1, email step-up, driven over HTTP through the dev gateway against DynamoDB Local and
//! moto. Codes are read from moto's inbox, as a person reads their email.

use e2e::*;
use serde_json::json;

const CODE_LEN: usize = 6;

#[tokio::test]
async fn given_a_user_when_they_verify_the_emailed_code_then_they_get_a_step_up_token() {
    let api = Api::shared();
    let user = User::new("paid");
    let r = api.post("/v1/step-up/email", &user.token, json!({})).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["delivery"], "email");
    assert_eq!(r.body["expires_in"], 600);
    let masked = r.body["to"].as_str().unwrap();
    assert!(
        masked.starts_with('u') && masked.ends_with("***@example.com"),
        "{masked}"
    );
    assert!(!masked.contains(&user.email[1..10]));

    let mail = latest_mail(&moto_url(), &user.email).await;
    assert!(
        mail.subject.contains("verification code"),
        "{}",
        mail.subject
    );
    assert!(mail.body.contains("10 minutes") && mail.body.contains("did not ask"));
    let code = code_in(&mail.body, CODE_LEN).unwrap();

    let v = api
        .verify_step_up(&user, r.body["challenge_id"].as_str().unwrap(), &code)
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);
    assert_eq!(v.body["expires_in"], 900);
    assert_eq!(v.body["step_up_token"].as_str().unwrap().len(), 43);
}

#[tokio::test]
async fn given_a_wrong_code_then_invalid_code_with_attempts_remaining() {
    let api = Api::shared();
    let user = User::new("paid");
    let (id, code) = code_for(&api, &moto_url(), &user).await;
    let r = api.verify_step_up(&user, &id, &wrong_code(&code)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "invalid_code");
    assert_eq!(r.body["error"]["attempts_remaining"], 4);
    // The right code still works after one wrong try.
    assert_eq!(api.verify_step_up(&user, &id, &code).await.status, 200);
}

#[tokio::test]
async fn given_five_wrong_tries_then_the_challenge_is_dead_even_for_the_right_code() {
    let api = Api::shared();
    let user = User::new("paid");
    let (id, code) = code_for(&api, &moto_url(), &user).await;
    let wrong = wrong_code(&code);
    for remaining in (1..=4).rev() {
        let r = api.verify_step_up(&user, &id, &wrong).await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_code"));
        assert_eq!(r.body["error"]["attempts_remaining"], remaining);
    }
    let fifth = api.verify_step_up(&user, &id, &wrong).await;
    assert_eq!(
        (fifth.status.as_u16(), fifth.code()),
        (429, "too_many_attempts")
    );
    let right = api.verify_step_up(&user, &id, &code).await;
    assert_eq!(
        (right.status.as_u16(), right.code()),
        (429, "too_many_attempts")
    );
}

#[tokio::test]
async fn given_a_used_code_then_it_never_passes_again() {
    let api = Api::shared();
    let user = User::new("paid");
    let (id, code) = code_for(&api, &moto_url(), &user).await;
    assert_eq!(api.verify_step_up(&user, &id, &code).await.status, 200);
    for _ in 0..3 {
        let again = api.verify_step_up(&user, &id, &code).await;
        assert_eq!((again.status.as_u16(), again.code()), (410, "expired"));
    }
}

#[tokio::test]
async fn given_twenty_concurrent_verifications_of_one_code_then_exactly_one_succeeds() {
    let api = Api::shared();
    let user = User::new("paid");
    let (id, code) = code_for(&api, &moto_url(), &user).await;
    let statuses = api
        .post_concurrently(
            20,
            "/v1/step-up/email/verify",
            &user.token,
            json!({ "challenge_id": id, "code": code }),
        )
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 410, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn given_another_users_challenge_then_it_is_not_found() {
    let api = Api::shared();
    let (alice, mallory) = (User::new("paid"), User::new("paid"));
    let (id, code) = code_for(&api, &moto_url(), &alice).await;
    let r = api.verify_step_up(&mallory, &id, &code).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    assert_eq!(api.verify_step_up(&alice, &id, &code).await.status, 200);
}

#[tokio::test]
async fn given_five_sends_in_fifteen_minutes_then_the_sixth_is_rate_limited_with_retry_after() {
    let api = Api::shared();
    let user = User::new("paid");
    for _ in 0..5 {
        api.start_step_up(&user).await;
    }
    let sixth = api.post("/v1/step-up/email", &user.token, json!({})).await;
    assert_eq!((sixth.status.as_u16(), sixth.code()), (429, "rate_limited"));
    let retry: u64 = sixth.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(mails_to(&moto_url(), &user.email).await.len(), 5);
}

#[tokio::test]
async fn given_an_expired_code_then_expired_and_after_the_window_sends_are_allowed_again() {
    let mut stack = PrivateStack::start().await;
    let user = User::new("paid");
    let (id, code) = code_for(&stack.api, &stack.moto, &user).await;
    stack.advance_clock(601).await;
    let r = stack.api.verify_step_up(&user, &id, &code).await;
    assert_eq!((r.status.as_u16(), r.code()), (410, "expired"));

    // The send window slides: 4 more sends fill it, and 15 minutes later it opens again.
    for _ in 0..4 {
        stack.api.start_step_up(&user).await;
    }
    let limited = stack
        .api
        .post("/v1/step-up/email", &user.token, json!({}))
        .await;
    assert_eq!(limited.status, 429);
    stack.advance_clock(900).await;
    stack.api.start_step_up(&user).await;
    stack.stop_moto();
}

#[tokio::test]
async fn given_no_or_a_bad_jwt_then_401() {
    let api = Api::shared();
    let user = User::new("paid");
    let claims = |extra: serde_json::Value| {
        let mut c = json!({ "sub": "u-x", "email": "x@example.com", "plan": "paid" });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let expired = mint(claims(json!({ "exp": 1_000_000 })));
    let wrong_aud = mint(claims(json!({ "aud": "someone-else" })));
    let wrong_iss = mint(claims(json!({ "iss": "https://evil.example" })));
    let tampered = format!("{}x", user.token);
    let cases: [(&str, Option<&str>); 6] = [
        ("none", None),
        ("garbage", Some("not-a-jwt")),
        ("expired", Some(&expired)),
        ("wrong audience", Some(&wrong_aud)),
        ("wrong issuer", Some(&wrong_iss)),
        ("tampered", Some(&tampered)),
    ];
    for (name, token) in cases {
        let r = api.post_raw("/v1/step-up/email", token, "{}").await;
        assert_eq!(r.status, 401, "{name}");
    }
    // A token from another key entirely.
    let dir = std::env::temp_dir().join(format!("other-key-{}", uuid::Uuid::new_v4()));
    let other = local_dev::jwt::DevKey::load_or_create(&dir).unwrap();
    let forged = other
        .mint(claims(json!({})).as_object().unwrap().clone(), 600)
        .unwrap();
    assert_eq!(
        api.post_raw("/v1/step-up/email", Some(&forged), "{}")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn given_malformed_json_or_wrong_types_then_400_invalid_request() {
    let api = Api::shared();
    let user = User::new("paid");
    let (id, _code) = code_for(&api, &moto_url(), &user).await;
    let bodies = [
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        json!({ "challenge_id": id }).to_string(),
        json!({ "challenge_id": id, "code": 123456 }).to_string(),
        json!({ "challenge_id": 7, "code": "123456" }).to_string(),
        json!({ "challenge_id": "not-an-id", "code": "123456" }).to_string(),
        json!({ "challenge_id": id, "code": "12345" }).to_string(),
        json!({ "challenge_id": id, "code": "12345a" }).to_string(),
        json!({ "challenge_id": id, "code": "123456", "admin": true }).to_string(),
    ];
    for body in &bodies {
        let r = api
            .post_raw("/v1/step-up/email/verify", Some(&user.token), body)
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{body}"
        );
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(!msg.contains("123456"), "{msg}");
    }
    let start = api
        .post_raw("/v1/step-up/email", Some(&user.token), "{\"x\":1}")
        .await;
    assert_eq!(
        (start.status.as_u16(), start.code()),
        (400, "invalid_request")
    );
    // None of those counted as an attempt: the challenge still has all its tries.
    let (id2, code2) = code_for(&api, &moto_url(), &user).await;
    let r = api.verify_step_up(&user, &id2, &wrong_code(&code2)).await;
    assert_eq!(r.body["error"]["attempts_remaining"], 4);
}

#[tokio::test]
async fn given_moto_is_down_then_503_nothing_recorded_and_after_it_returns_the_flow_works() {
    let mut stack = PrivateStack::start().await;
    let user = User::new("paid");
    // Warm up: the gateway has loaded its data key and sent one email.
    let (id, code) = code_for(&stack.api, &stack.moto, &user).await;
    assert_eq!(
        stack.api.verify_step_up(&user, &id, &code).await.status,
        200
    );
    let before = table_text(&stack.table).await;

    stack.stop_moto();
    let r = stack
        .api
        .post("/v1/step-up/email", &user.token, json!({}))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (503, "unavailable"));
    assert!(r.headers.contains_key("retry-after"));
    let msg = r.body["error"]["message"].as_str().unwrap().to_lowercase();
    assert!(!msg.contains("ses") && !msg.contains("dispatch"), "{msg}");
    // Nothing half-written: no new challenge, and the send was not counted.
    let after = table_text(&stack.table).await;
    assert_eq!(
        after.matches("type=challenge").count(),
        before.matches("type=challenge").count()
    );
    assert_eq!(slot_count(&after), slot_count(&before));

    stack.restart_moto().await;
    let (id, code) = code_for(&stack.api, &stack.moto, &user).await;
    assert_eq!(
        stack.api.verify_step_up(&user, &id, &code).await.status,
        200
    );
    // Two real sends so far: three more fit the window, then it is full.
    for _ in 0..3 {
        stack.api.start_step_up(&user).await;
    }
    let full = stack
        .api
        .post("/v1/step-up/email", &user.token, json!({}))
        .await;
    assert_eq!(full.status, 429);
}

/// Number of taken send slots in a table dump.
fn slot_count(dump: &str) -> usize {
    dump.lines().filter(|l| is_slot_attribute(l)).count()
}

#[tokio::test]
async fn given_a_finished_flow_then_the_table_holds_no_plaintext_code_or_token() {
    let api = Api::shared();
    let mut secrets = vec![];
    for _ in 0..3 {
        let user = User::new("paid");
        let (id, code) = code_for(&api, &moto_url(), &user).await;
        let (id2, code2) = code_for(&api, &moto_url(), &user).await;
        let v = api.verify_step_up(&user, &id, &code).await;
        secrets.push(code);
        secrets.push(code2);
        secrets.push(v.body["step_up_token"].as_str().unwrap().to_owned());
        let _ = id2;
    }
    let dump = table_strings(&table_name()).await;
    for s in &secrets {
        assert!(
            !dump.contains(s.as_str()),
            "plaintext secret found in the table"
        );
    }
}

#[tokio::test]
async fn given_a_step_up_token_then_it_is_bound_to_its_user_and_lapses_after_15_minutes() {
    use mfa_domain::clock::OffsetClock;
    use mfa_domain::step_up;
    use mfa_domain::types::UserId;
    use std::sync::Arc;

    let api = Api::shared();
    let user = User::new("paid");
    let (id, code) = code_for(&api, &moto_url(), &user).await;
    let token = api.verify_step_up(&user, &id, &code).await.body["step_up_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The domain API, against the same table and key, as a later flow's handler calls it.
    let clock = Arc::new(OffsetClock::default());
    let app = mfa_aws::app_from_env_with_clock(clock.clone(), &[])
        .await
        .unwrap();
    let me = UserId::parse(&user.sub).unwrap();
    let other = UserId::parse("someone-else").unwrap();
    step_up::require(&app, &me, Some(&token)).await.unwrap();
    assert_eq!(
        step_up::require(&app, &other, Some(&token))
            .await
            .unwrap_err()
            .code(),
        "step_up_required"
    );
    assert_eq!(
        step_up::require(&app, &me, None).await.unwrap_err().code(),
        "step_up_required"
    );
    assert_eq!(
        step_up::require(&app, &me, Some("garbage"))
            .await
            .unwrap_err()
            .code(),
        "step_up_required"
    );
    // Margins on both sides of 900 s: real seconds pass between issuing and checking.
    clock.advance(870);
    step_up::require(&app, &me, Some(&token)).await.unwrap();
    clock.advance(35);
    assert_eq!(
        step_up::require(&app, &me, Some(&token))
            .await
            .unwrap_err()
            .code(),
        "step_up_required"
    );
}
