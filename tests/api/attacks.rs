//! What an attacker tried (issues 10 and 18), over HTTP against the local stack: the mailbox is
//! not a second factor, nothing is sent or consumed before the last step that can fail, and a
//! reset works whatever an account has piled up.

use e2e::*;
use serde_json::{json, Value};

async fn get(api: &Api, user: &User, path: &str) -> Reply {
    api.send("GET", path, user, None, None, &[]).await
}

/// The changes to 2FA an attacker would try with a step-up token: (method, path, body).
fn changes(app_id: &str, phone_id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("POST", "/v1/recovery-code".into(), None),
        ("POST", "/v1/factors/totp".into(), Some(json!({}))),
        (
            "POST",
            "/v1/factors/phone".into(),
            Some(json!({ "phone_number": fresh_mobile(), "channel": "sms" })),
        ),
        ("DELETE", format!("/v1/factors/totp/{app_id}"), None),
        ("DELETE", format!("/v1/factors/phone/{phone_id}"), None),
        (
            "PUT",
            "/v1/mfa/policy".into(),
            Some(json!({ "remember": "every_login" })),
        ),
        (
            "DELETE",
            "/v1/mfa".into(),
            Some(
                json!({ "challenge_id": uuid::Uuid::new_v4().to_string(), "method": "totp", "code": "123456" }),
            ),
        ),
    ]
}

/// The id of the user's active factor of `kind`, from the settings page.
async fn factor_id(api: &Api, user: &User, kind: &str) -> String {
    let page = get(api, user, "/v1/mfa").await;
    page.body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} factor: {:?}", page.body))["factor_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn given_the_password_and_the_mailbox_when_stepping_up_by_email_then_no_change_to_2fa_is_allowed(
) {
    let api = Api::shared();
    // A trial owner, so that turning 2FA off is possible at all. The first factor was enrolled
    // with an email step-up (no factor yet): that still works.
    let user = User::new("trial");
    let (app_id, uri, ok) = enroll_app(&api, &moto_url(), &user, "Phone").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let number = add_phone(&api, &user).await;
    let phone_id = factor_id(&api, &user, "phone").await;
    let before = get(&api, &user, "/v1/mfa").await.body;

    // The attacker has the login token and reads the mailbox.
    let id = api.start_step_up(&user).await;
    let code = code_in(&latest_mail(&moto_url(), &user.email).await.body, 6).unwrap();
    let email = api.verify_step_up(&user, &id, &code).await;
    assert_eq!(email.status, 200, "{:?}", email.body);
    assert_eq!(email.body["level"], "email");
    assert_eq!(email.body["expires_in"], 900);
    let email_token = email.body["step_up_token"].as_str().unwrap().to_owned();

    for (method, path, body) in changes(&app_id, &phone_id) {
        let r = api
            .send(method, &path, &user, Some(&email_token), body, &[])
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "step_up_required"),
            "{method} {path}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["required_level"], "factor");
        assert_eq!(
            r.body["error"]["methods"],
            json!(["totp", "sms", "voice", "recovery_code"])
        );
    }
    // Nothing changed, no code was texted to the attacker's number, and each refusal is on the
    // trail as a failure.
    assert_eq!(get(&api, &user, "/v1/mfa").await.body, before);
    let events = get(&api, &user, "/v1/mfa/events?limit=100").await.body;
    let refused = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "step_up_refused" && e["outcome"] == "failure")
        .count();
    assert_eq!(refused, 7, "{events}");

    // With a factor step-up, each change works as before. By the app:
    let app_token = api.step_up_by_app(&user, &uri, 0).await;
    let r = api
        .send(
            "POST",
            "/v1/recovery-code",
            &user,
            Some(&app_token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let recovery = r.body["recovery_code"].as_str().unwrap().to_owned();
    let r = api
        .send(
            "PUT",
            "/v1/mfa/policy",
            &user,
            Some(&app_token),
            Some(json!({ "remember": "every_login" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // By SMS:
    let sms_token = api.step_up_by_phone(&moto_url(), &user, &number).await;
    let r = start_app(&api, &user, &sms_token, json!({ "label": "Tablet" })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // By a call:
    let r = start_phone_step_up(&api, &user, "voice").await;
    assert_eq!(
        (r.status.as_u16(), &r.body["delivery"]),
        (202, &json!("voice"))
    );
    let spoken = spoken_code(calls_to(&number).last().unwrap());
    let voice = api
        .send(
            "POST",
            "/v1/step-up/phone/verify",
            &user,
            None,
            Some(json!({ "challenge_id": r.body["challenge_id"], "code": spoken })),
            &[],
        )
        .await;
    assert_eq!(voice.status, 200, "{:?}", voice.body);
    assert_eq!(voice.body["level"], "factor");
    let voice_token = voice.body["step_up_token"].as_str().unwrap().to_owned();
    let r = api
        .send(
            "POST",
            "/v1/factors/phone",
            &user,
            Some(&voice_token),
            Some(json!({ "phone_number": fresh_mobile(), "channel": "sms" })),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // By the recovery code: once, and the answer holds the code that replaces it.
    let r = step_up_by_recovery(&api, &user, &recovery).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (&r.body["level"], &r.body["expires_in"]),
        (&json!("factor"), &json!(900))
    );
    let next = r.body["new_recovery_code"].as_str().unwrap();
    assert_ne!(next, recovery);
    assert_eq!(next.len(), 32);
    let recovery_token = r.body["step_up_token"].as_str().unwrap().to_owned();
    assert_eq!(
        step_up_by_recovery(&api, &user, &recovery).await.code(),
        "invalid_code"
    );
    let r = api
        .send(
            "DELETE",
            &format!("/v1/factors/phone/{phone_id}"),
            &user,
            Some(&recovery_token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = api
        .send(
            "DELETE",
            &format!("/v1/factors/totp/{}", {
                let page = get(&api, &user, "/v1/mfa").await.body;
                page["factors"][0]["factor_id"].as_str().unwrap().to_owned()
            }),
            &user,
            Some(&recovery_token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    // With no factor left, the mailbox is enough again (for a first factor).
    let page = get(&api, &user, "/v1/mfa").await.body;
    assert_eq!(page["enabled"], false, "{page}");
    assert_eq!(page["step_up_methods"], json!(["email"]));
}

#[tokio::test]
async fn given_an_admin_with_a_factor_then_a_member_reset_needs_a_factor_step_up() {
    let api = Api::shared();
    let org = format!("org-{}", uuid::Uuid::new_v4().simple());
    let owner = User::in_org(&org, "owner");
    let (_, uri, ok) = enroll_app(&api, &moto_url(), &owner, "Phone").await;
    assert_eq!(ok.status, 200);
    let member = User::in_org(&org, "member");
    let (_, _, ok) = enroll_app(&api, &moto_url(), &member, "Phone").await;
    assert_eq!(ok.status, 200);
    challenge(&api, &member).await;
    let path = format!("/v1/orgs/{org}/members/{}/mfa-reset", member.sub);

    let email = api.step_up_by_email(&moto_url(), &owner).await;
    let r = api
        .send("POST", &path, &owner, Some(&email), Some(json!({})), &[])
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));
    assert_eq!(r.body["error"]["required_level"], "factor");
    assert_eq!(
        get(&api, &member, "/v1/mfa").await.body["enabled"],
        true,
        "nothing was reset"
    );

    let factor = api.step_up_by_app(&owner, &uri, 0).await;
    let r = api
        .send("POST", &path, &owner, Some(&factor), Some(json!({})), &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(get(&api, &member, "/v1/mfa").await.body["enabled"], false);
}

#[tokio::test]
async fn given_a_phone_step_up_code_then_it_is_worthless_once_the_phone_is_removed() {
    let api = Api::shared();
    let (user, uri, _) = user_with_app(&api).await;
    let number = add_phone(&api, &user).await;
    let r = start_phone_step_up(&api, &user, "sms").await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body["to"],
        format!("+33*****{}", &number[number.len() - 4..])
    );
    let id = r.body["challenge_id"].as_str().unwrap().to_owned();
    let code = code_in(sms_to(&moto_url(), &number).await.last().unwrap(), 6).unwrap();

    let token = api.step_up_by_app(&user, &uri, 0).await;
    let phone_id = factor_id(&api, &user, "phone").await;
    let r = api
        .send(
            "DELETE",
            &format!("/v1/factors/phone/{phone_id}"),
            &user,
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .send(
            "POST",
            "/v1/step-up/phone/verify",
            &user,
            None,
            Some(json!({ "challenge_id": id, "code": code })),
            &[],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (400, "invalid_code"),
        "{:?}",
        r.body
    );
}

/// Asks for a step-up code on the user's phone by `channel`.
async fn start_phone_step_up(api: &Api, user: &User, channel: &str) -> Reply {
    api.send(
        "POST",
        "/v1/step-up/phone",
        user,
        None,
        Some(json!({ "channel": channel })),
        &[],
    )
    .await
}

// --- Issue 10 -------------------------------------------------------------------------------

fn challenge_id(r: &Reply) -> String {
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["challenge_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn given_a_bogus_foreign_used_or_expired_challenge_when_a_code_is_sent_then_nothing_goes_out_and_no_slot_is_taken(
) {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let user = User::new("paid");
    let number = add_phone_on(api, moto, &user).await;
    let (other, _, _) = user_with_app_on(api, moto).await;
    let foreign = challenge_id(&challenge(api, &other).await);
    let used = challenge_id(&challenge(api, &user).await);
    assert_eq!(send_code(api, &user, &used, "sms").await.status, 202);
    let code = code_in(sms_to(moto, &number).await.last().unwrap(), 6).unwrap();
    assert_eq!(verify(api, &user, &used, "sms", &code).await.status, 200);
    let expired = challenge_id(&challenge(api, &user).await);
    stack.advance_clock(601).await;
    let (texts, calls) = (sms_to(moto, &number).await.len(), calls_to(&number).len());

    let random = uuid::Uuid::new_v4().to_string();
    for (id, expect) in [
        (&random, (404, "not_found")),
        (&foreign, (404, "not_found")),
        (&used, (410, "expired")),
        (&expired, (410, "expired")),
    ] {
        for channel in ["sms", "voice"] {
            let r = send_code(api, &user, id, channel).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                expect,
                "{channel} {:?}",
                r.body
            );
        }
    }
    assert_eq!(sms_to(moto, &number).await.len(), texts, "no text went out");
    assert_eq!(calls_to(&number).len(), calls, "no call went out");
    // No send slot was taken: two of the user's five in 15 minutes are used (the enrollment
    // and the login), so exactly three more codes go out. (Each is a new login's first code:
    // another code for one login would wait out the resend back-off.)
    for _ in 0..3 {
        let open = challenge_id(&challenge(api, &user).await);
        let r = send_code(api, &user, &open, "sms").await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    let open = challenge_id(&challenge(api, &user).await);
    let r = send_code(api, &user, &open, "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
}

#[tokio::test]
async fn given_kms_down_when_a_login_is_verified_then_503_consumes_nothing_and_the_same_request_succeeds_later(
) {
    let mut stack = PrivateStack::start().await;
    let api = stack.api.clone();
    let (user, uri, recovery) = user_with_app_on(&api, &stack.moto).await;
    let by_app = challenge_id(&challenge(&api, &user).await);
    let by_recovery = challenge_id(&challenge(&api, &user).await);
    let code = app_code(&uri, unix_now() + 30);

    stack.stop_moto();
    for (id, method, code) in [
        (&by_app, "totp", &code),
        (&by_recovery, "recovery_code", &recovery),
    ] {
        let r = verify(&api, &user, id, method, code).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "unavailable"),
            "{:?}",
            r.body
        );
        assert_eq!(r.headers["retry-after"], "5");
    }
    stack.restart_moto().await;

    // The very same requests now pass: challenge, app step and recovery code were untouched.
    let r = verify(&api, &user, &by_app, "totp", &code).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    check_assertion(&api, &user, r.body["assertion"].as_str().unwrap(), "otp").await;
    let r = verify(&api, &user, &by_recovery, "recovery_code", &recovery).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    check_assertion(&api, &user, r.body["assertion"].as_str().unwrap(), "kba").await;
    let next = r.body["new_recovery_code"].as_str().unwrap().to_owned();
    // Only now is the old recovery code used up, and the new one works.
    let again = challenge_id(&challenge(&api, &user).await);
    let r = verify(&api, &user, &again, "recovery_code", &recovery).await;
    assert_eq!(r.code(), "invalid_code");
    assert_eq!(
        verify(&api, &user, &again, "recovery_code", &next)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn given_the_signing_key_alias_moves_to_a_new_key_then_a_warm_function_still_signs_what_its_jwks_verifies(
) {
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let (user, uri, recovery) = user_with_app_on(api, &stack.moto).await;
    let id = challenge_id(&challenge(api, &user).await);
    let r = verify(api, &user, &id, "totp", &app_code(&uri, unix_now() + 30)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    check_assertion(api, &user, r.body["assertion"].as_str().unwrap(), "otp").await;

    // The operator points the alias at a new key.
    let sdk = aws_defaults().endpoint_url(&stack.moto).load().await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let alias = std::env::var("ASSERTION_KEY_ID").unwrap_or_else(|_| "alias/mfa-assertion".into());
    kms.update_alias()
        .alias_name(alias)
        .target_key_id(key.key_metadata().unwrap().key_id())
        .send()
        .await
        .unwrap();

    let id = challenge_id(&challenge(api, &user).await);
    let r = verify(api, &user, &id, "recovery_code", &recovery).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    check_assertion(api, &user, r.body["assertion"].as_str().unwrap(), "kba").await;
}

#[tokio::test]
async fn given_a_code_sent_by_call_then_it_verifies_as_voice_and_the_assertion_says_tel() {
    let api = Api::shared();
    let (user, number) = user_with_phone(&api).await;
    let id = challenge_id(&challenge(&api, &user).await);
    assert_eq!(send_code(&api, &user, &id, "voice").await.status, 202);
    let code = spoken_code(calls_to(&number).last().unwrap());
    // Claiming it came by text is refused, and uses no try.
    for _ in 0..5 {
        let r = verify(&api, &user, &id, "sms", &code).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{:?}",
            r.body
        );
    }
    let r = verify(&api, &user, &id, "voice", &code).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    check_assertion(&api, &user, r.body["assertion"].as_str().unwrap(), "tel").await;
}

#[tokio::test]
async fn given_a_forged_or_anothers_events_cursor_then_400() {
    let api = Api::shared();
    let (user, _, recovery) = user_with_app(&api).await;
    let r = step_up_by_recovery(&api, &user, &recovery).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let first = get(&api, &user, "/v1/mfa/events?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let next = get(
        &api,
        &user,
        &format!("/v1/mfa/events?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(next.body["events"].as_array().unwrap().len(), 1);

    // Well-formed but not handed out: the time and id of an event, encoded as before.
    let forged = data_encoding::BASE64URL_NOPAD
        .encode(format!("{:012}#{}", unix_now(), uuid::Uuid::now_v7()).as_bytes());
    let r = get(&api, &user, &format!("/v1/mfa/events?cursor={forged}")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_request"));
    let other = User::new("paid");
    let r = get(&api, &other, &format!("/v1/mfa/events?cursor={cursor}")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_request"));
}

#[tokio::test]
async fn given_ten_step_ups_in_15_minutes_then_the_next_waits_and_its_recovery_code_is_not_used_up()
{
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let (user, _, mut code) = user_with_app_on(api, &stack.moto).await;
    // The enrollment's own step-up was the first of ten.
    for _ in 0..9 {
        let r = step_up_by_recovery(api, &user, &code).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        code = r.body["new_recovery_code"].as_str().unwrap().to_owned();
    }
    let r = step_up_by_recovery(api, &user, &code).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "rate_limited"),
        "{:?}",
        r.body
    );
    assert!(r.headers.contains_key("retry-after"));
    stack.advance_clock(901).await;
    let r = step_up_by_recovery(api, &user, &code).await;
    assert_eq!(
        r.status, 200,
        "the refused request left the code working: {:?}",
        r.body
    );
}

/// A wrong recovery code of the right form.
const WRONG_RECOVERY: &str = "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AA";

#[tokio::test]
async fn given_wrong_codes_on_every_step_up_then_they_share_the_login_budget_and_the_100th_locks_it(
) {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let (user, uri, recovery) = user_with_app_on(api, moto).await;
    let number = add_phone_on(api, moto, &user).await;
    let mut offset: i64 = 0;
    let mut wrong = 0;
    let mut turn = 0;
    let mut first_window = None;
    let mut phone: Option<(String, u32)> = None;
    let post = |path: &'static str, body: Value| {
        let user = &user;
        async move { api.send("POST", path, user, None, Some(body), &[]).await }
    };
    while wrong < 100 {
        let kind = ["totp", "recovery", "phone"][turn % 3];
        let r = match kind {
            "totp" => {
                let code = wrong_code(&app_code(&uri, (unix_now() as i64 + offset) as u64));
                post("/v1/step-up/totp", json!({ "code": code })).await
            }
            "recovery" => {
                post(
                    "/v1/step-up/recovery-code",
                    json!({ "recovery_code": WRONG_RECOVERY }),
                )
                .await
            }
            _ => {
                if phone.as_ref().is_none_or(|(_, tries)| *tries == 5) {
                    let sent = post("/v1/step-up/phone", json!({ "channel": "sms" })).await;
                    if sent.status != 202 {
                        assert_eq!(sent.code(), "rate_limited", "{:?}", sent.body);
                        let wait: i64 = sent.headers["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        stack.advance_clock(wait + 1).await;
                        offset += wait + 1;
                        continue;
                    }
                    phone = Some((sent.body["challenge_id"].as_str().unwrap().to_owned(), 0));
                }
                let (id, _) = phone.clone().unwrap();
                let code =
                    wrong_code(&code_in(sms_to(moto, &number).await.last().unwrap(), 6).unwrap());
                post(
                    "/v1/step-up/phone/verify",
                    json!({ "challenge_id": id, "code": code }),
                )
                .await
            }
        };
        match (r.status.as_u16(), r.code()) {
            (400, "invalid_code") | (429, "too_many_attempts") => {
                wrong += 1;
                turn += 1;
                if let (Some((_, tries)), "phone") = (phone.as_mut(), kind) {
                    *tries += 1;
                }
            }
            // The phone's challenge lapsed while the clock moved: ask for another code.
            (410, "expired") if kind == "phone" => phone = None,
            (429, "rate_limited") => {
                first_window.get_or_insert(wrong);
                let wait: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                stack.advance_clock(wait + 1).await;
                offset += wait + 1;
            }
            other => panic!("{kind}: {other:?} {:?}", r.body),
        }
    }
    // At most 10 wrong codes in the first hour, whichever step-up they went to.
    assert_eq!(first_window, Some(10));

    // The 100th wrong code locked the second step: the right codes are refused everywhere.
    let right = app_code(&uri, (unix_now() as i64 + offset + 30) as u64);
    let r = post("/v1/step-up/totp", json!({ "code": right })).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "too_many_attempts"),
        "{:?}",
        r.body
    );
    let r = post(
        "/v1/step-up/recovery-code",
        json!({ "recovery_code": recovery }),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "too_many_attempts"),
        "{:?}",
        r.body
    );
    let id = challenge_id(&challenge(api, &user).await);
    let r = verify(api, &user, &id, "totp", &right).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "too_many_attempts"),
        "{:?}",
        r.body
    );
    let events = get(api, &user, "/v1/mfa/events?limit=100").await.body;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "login_locked"),
        "{events}"
    );
}

/// The user's stored factor items, pending and lapsed ones included (read, never changed).
async fn stored_factors(table: &str, user: &User) -> usize {
    let db = dynamodb(None).await;
    let mut n = 0;
    let mut start = None;
    loop {
        let page = db
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :f)")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.sub)),
            )
            .expression_attribute_values(
                ":f",
                aws_sdk_dynamodb::types::AttributeValue::S("FACTOR#".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        n += page.items().len();
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return n,
        }
    }
}

#[tokio::test]
async fn given_more_than_100_lapsed_enrollments_then_turning_2fa_off_and_an_admin_reset_still_work()
{
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let org = format!("org-{}", uuid::Uuid::new_v4().simple());
    let member = User::with(json!({ "org_id": org, "org_role": "member", "plan": "trial" }));
    let (_, uri, ok) = enroll_app(api, moto, &member, "Phone").await;
    assert_eq!(ok.status, 200);
    let recovery = ok.body["recovery_code"].as_str().unwrap().to_owned();
    challenge(api, &member).await;

    // Four pending apps at a time (five with the active one), left to lapse, again and again.
    let mut offset: i64 = 0;
    let mut piled = 0;
    while piled < 104 {
        let token = api.step_up_by_app(&member, &uri, offset).await;
        for _ in 0..4 {
            let r = start_app(api, &member, &token, json!({})).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            piled += 1;
        }
        stack.advance_clock(601).await;
        offset += 601;
    }
    assert!(stored_factors(&stack.table, &member).await > 100);

    // Turning 2FA off (trial) with a current code: the recovery code.
    let token = api.step_up_by_app(&member, &uri, offset).await;
    let id = challenge_id(&challenge(api, &member).await);
    let r = api
        .send(
            "DELETE",
            "/v1/mfa",
            &member,
            Some(&token),
            Some(json!({ "challenge_id": id, "method": "recovery_code", "code": recovery })),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(
        stored_factors(&stack.table, &member).await > 100,
        "the lapsed ones are still there"
    );

    // Enrolled again, then reset by the owner, with the pile still there.
    let (_, _, ok) = enroll_app_at(
        api,
        moto,
        &member,
        "Again",
        (unix_now() as i64 + offset) as u64,
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let owner = User::in_org(&org, "owner");
    let step_up = api.step_up(moto, &owner).await;
    let r = api
        .send(
            "POST",
            &format!("/v1/orgs/{org}/members/{}/mfa-reset", member.sub),
            &owner,
            Some(&step_up),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let page = get(api, &member, "/v1/mfa").await.body;
    assert_eq!(
        (page["enabled"].clone(), page["factors"].clone()),
        (json!(false), json!([]))
    );
    assert_eq!(
        challenge(api, &member).await.body["status"],
        "enrollment_required"
    );
}

/// A user with an app who spent four of the app step-up's five tries: (user, the right code
/// as a body, a wrong code as a body).
async fn one_app_try_left(api: &Api, moto: &str) -> (User, Value, Value) {
    let (user, uri, _) = user_with_app_on(api, moto).await;
    let right = app_code(&uri, unix_now() + 30);
    let wrong = json!({ "code": wrong_code(&right) });
    for _ in 0..4 {
        let r = api
            .post("/v1/step-up/totp", &user.token, wrong.clone())
            .await;
        assert_eq!(r.code(), "invalid_code", "{:?}", r.body);
    }
    (user, json!({ "code": right }), wrong)
}

/// Ten wrong codes and the right one, sent at once; the replies, the right one's last.
async fn race_right_against_wrong(
    api: &Api,
    user: &User,
    path: &str,
    right: Value,
    wrong: Value,
) -> Vec<Reply> {
    let mut bodies = vec![wrong; 10];
    bodies.push(right);
    api.post_all_at_once(path, &user.token, bodies).await
}

#[tokio::test]
async fn given_one_app_step_up_try_left_when_wrong_codes_race_the_right_one_then_one_wrong_code_is_counted(
) {
    let api = Api::shared();
    for round in 0..5 {
        let (user, right, wrong) = one_app_try_left(&api, &moto_url()).await;
        // One try of five is left: one wrong code uses it and every other is refused before
        // it counts. The right code passes only if it was taken before that wrong one (a
        // right code after it is refused: see the held-commit test below).
        let replies = race_right_against_wrong(&api, &user, "/v1/step-up/totp", right, wrong).await;
        let answers: Vec<(u16, &str)> = replies
            .iter()
            .map(|r| (r.status.as_u16(), r.code()))
            .collect();
        let counted = answers.iter().filter(|(_, c)| *c == "invalid_code").count();
        assert_eq!(counted, 1, "round {round}: {answers:?}");
        assert!(
            answers[..10]
                .iter()
                .all(|a| matches!(a, (400, "invalid_code") | (429, "rate_limited"))),
            "round {round}: {answers:?}"
        );
        assert!(
            matches!(answers[10], (200, _) | (429, "rate_limited")),
            "round {round}: {answers:?}"
        );
    }
}

/// A login challenge's stored tries and status (read, never changed).
async fn stored_challenge(user: &User, id: &str) -> (i64, String) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let item = dynamodb(None)
        .await
        .get_item()
        .table_name(table_name())
        .key("pk", S(format!("USER#{}", user.sub)))
        .key("sk", S(format!("CHALLENGE#login#{id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the challenge is stored");
    let attempts = item["attempts"].as_n().unwrap().parse().unwrap();
    (attempts, item["status"].as_s().unwrap().clone())
}

#[tokio::test]
async fn given_a_challenge_with_one_try_left_when_wrong_codes_race_the_right_one_then_not_both_are_taken(
) {
    let api = Api::shared();
    for round in 0..5 {
        let (user, uri, _) = user_with_app_on(&api, &moto_url()).await;
        let id = challenge_id(&challenge(&api, &user).await);
        let right = app_code(&uri, unix_now() + 30);
        for _ in 0..4 {
            let r = verify(&api, &user, &id, "totp", &wrong_code(&right)).await;
            assert_eq!(r.code(), "invalid_code", "{:?}", r.body);
        }
        let path = format!("/v1/challenges/{id}/verify");
        let body = |code: &str| json!({ "method": "totp", "code": code });
        let replies =
            race_right_against_wrong(&api, &user, &path, body(&right), body(&wrong_code(&right)))
                .await;
        let approved = replies.iter().filter(|r| r.status == 200).count();
        let (attempts, status) = stored_challenge(&user, &id).await;
        let answers: Vec<(u16, &str)> = replies
            .iter()
            .map(|r| (r.status.as_u16(), r.code()))
            .collect();
        // The fifth try went either to a wrong code or to the right one, never to both.
        assert!(approved <= 1, "round {round}: {answers:?}");
        assert_eq!(
            (attempts - 4) as usize + approved,
            1,
            "round {round}: {attempts} tries, {status}, {answers:?}"
        );
        assert_eq!(status == "used", approved == 1, "round {round}: {status}");
    }
}

#[tokio::test]
async fn given_a_right_app_code_held_before_its_commit_when_a_wrong_one_uses_the_last_try_then_the_right_one_is_refused(
) {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let (user, right, wrong) = one_app_try_left(api, moto).await;
    // The right code is compared while a try is left, then held just before its commit; a
    // wrong code uses the last try meanwhile.
    stack.pause_next_transaction(4000).await;
    let held = {
        let (api, token) = (api.clone(), user.token.clone());
        tokio::spawn(async move { api.post("/v1/step-up/totp", &token, right).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let last = api.post("/v1/step-up/totp", &user.token, wrong).await;
    assert_eq!(
        (last.status.as_u16(), last.code()),
        (400, "invalid_code"),
        "{:?}",
        last.body
    );
    assert_eq!(last.body["error"]["attempts_remaining"], 0);
    let r = held.await.expect("the held request");
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "rate_limited"),
        "a right code after the limit was reached: {:?}",
        r.body
    );
    assert!(r.headers.contains_key("retry-after"));
}
