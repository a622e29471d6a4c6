//! An organisation's 2FA policy (issue 19, part 3), over HTTP: its owners and admins read and
//! set it with a step-up, the owners are emailed, and each member's login follows it (methods
//! left out are neither offered nor accepted, a member with none allowed must enroll one, 2FA
//! required on any plan, computers remembered no longer than it says). Every organisation here
//! is new, so no other test's users are under its policy.

use e2e::*;
use serde_json::{json, Value};

fn new_org() -> String {
    format!("org-{}", uuid::Uuid::new_v4().simple())
}

fn path(org: &str) -> String {
    format!("/v1/orgs/{org}/policy")
}

async fn get_policy(api: &Api, user: &User, org: &str) -> Reply {
    api.send("GET", &path(org), user, None, None, &[]).await
}

async fn put_policy(
    api: &Api,
    user: &User,
    org: &str,
    step_up: Option<&str>,
    body: Value,
) -> Reply {
    api.send("PUT", &path(org), user, step_up, Some(body), &[])
        .await
}

/// Sets `org`'s policy as `owner` (an email step-up: the owner has no factor).
async fn set_policy(api: &Api, moto: &str, owner: &User, org: &str, body: Value) {
    let step_up = api.step_up_by_email(moto, owner).await;
    let r = put_policy(api, owner, org, Some(&step_up), body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// A policy allowing apps only, remembering computers for `days`.
fn apps_only(days: u16) -> Value {
    json!({ "require_mfa": true, "allowed_methods": ["totp"], "remember_device_max_days": days })
}

fn status_of(r: &Reply) -> (u16, &str) {
    (r.status.as_u16(), r.body["status"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn owners_and_admins_set_the_policy_with_a_step_up_and_the_owners_are_told() {
    let api = Api::shared();
    let org = new_org();
    let (owner, other_owner) = (User::in_org(&org, "owner"), User::in_org(&org, "owner"));
    let (admin, member) = (User::in_org(&org, "admin"), User::in_org(&org, "member"));
    // The service learns an organisation's owners from their logins.
    for u in [&owner, &other_owner, &admin, &member] {
        assert_eq!(challenge(&api, u).await.status, 200);
    }
    // Until one is set, the service's defaults.
    let r = get_policy(&api, &admin, &org).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (
            &r.body["require_mfa"],
            &r.body["allowed_methods"],
            &r.body["remember_device_max_days"]
        ),
        (
            &json!(false),
            &json!(["webauthn", "totp", "sms", "voice"]),
            &json!(30)
        )
    );
    assert!(r.body.get("updated_at").is_none());

    let policy = json!({
        "require_mfa": true, "allowed_methods": ["totp", "webauthn"], "remember_device_max_days": 7
    });
    // A member, or an owner of another organisation, may neither read nor set it.
    let stranger = User::in_org(&new_org(), "owner");
    for who in [&member, &stranger] {
        let step_up = api.step_up_by_email(&moto_url(), who).await;
        for r in [
            get_policy(&api, who, &org).await,
            put_policy(&api, who, &org, Some(&step_up), policy.clone()).await,
        ] {
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (403, "forbidden"),
                "{:?}",
                r.body
            );
        }
    }
    // Without a step-up: refused.
    let r = put_policy(&api, &admin, &org, None, policy.clone()).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));
    // A policy that cannot hold: 400, with the reason.
    let step_up = api.step_up_by_email(&moto_url(), &admin).await;
    for bad in [
        json!({ "require_mfa": true, "allowed_methods": [], "remember_device_max_days": 7 }),
        json!({ "require_mfa": true, "allowed_methods": ["recovery_code"], "remember_device_max_days": 7 }),
        json!({ "require_mfa": true, "allowed_methods": ["totp", "totp"], "remember_device_max_days": 7 }),
        json!({ "require_mfa": true, "allowed_methods": ["pigeon"], "remember_device_max_days": 7 }),
        json!({ "require_mfa": true, "allowed_methods": ["totp"], "remember_device_max_days": 31 }),
        json!({ "require_mfa": true, "allowed_methods": ["totp"], "remember_device_max_days": -1 }),
        json!({ "require_mfa": "yes", "allowed_methods": ["totp"], "remember_device_max_days": 7 }),
        json!({ "allowed_methods": ["totp"], "remember_device_max_days": 7 }),
        json!({ "require_mfa": true, "allowed_methods": ["totp"], "remember_device_max_days": 7, "x": 1 }),
    ] {
        let r = put_policy(&api, &admin, &org, Some(&step_up), bad.clone()).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{bad}: {:?}",
            r.body
        );
    }
    assert!(get_policy(&api, &owner, &org)
        .await
        .body
        .get("updated_at")
        .is_none());

    // An admin sets it; an owner reads it back.
    let r = put_policy(&api, &admin, &org, Some(&step_up), policy).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = get_policy(&api, &owner, &org).await;
    assert_eq!(r.body["allowed_methods"], json!(["webauthn", "totp"]));
    assert_eq!(
        (&r.body["require_mfa"], &r.body["remember_device_max_days"]),
        (&json!(true), &json!(7))
    );
    assert_eq!(r.body["updated_by"], admin.sub.as_str());
    // The change is on the admin's trail, and each owner (only they) is emailed.
    let trail = api
        .send("GET", "/v1/mfa/events", &admin, None, None, &[])
        .await;
    let changed: Vec<&Value> = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "org_policy_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{:?}", trail.body);
    assert!(changed[0]["detail"].as_str().unwrap().contains(&org));
    let told = |mails: Vec<Mail>| {
        mails
            .iter()
            .any(|m| m.subject.contains("two-factor policy changed"))
    };
    for (who, expect) in [
        (&owner, true),
        (&other_owner, true),
        (&admin, false),
        (&member, false),
    ] {
        assert_eq!(
            told(mails_to(&moto_url(), &who.email).await),
            expect,
            "{}",
            who.sub
        );
    }
}

#[tokio::test]
async fn a_method_the_organisation_leaves_out_is_neither_offered_nor_accepted_and_a_member_with_none_left_must_enroll(
) {
    let api = Api::shared();
    let org = new_org();
    let owner = User::in_org(&org, "owner");
    // A member with an app and a phone, and one with a phone only.
    let both = User::in_org(&org, "member");
    let (_, uri, ok) = enroll_app(&api, &moto_url(), &both, "Laptop").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let number = add_phone(&api, &both).await;
    let phone_only = User::in_org(&org, "member");
    add_phone(&api, &phone_only).await;
    let c = challenge(&api, &phone_only).await;
    assert_eq!(c.body["methods"], json!(["sms", "voice", "recovery_code"]));

    set_policy(
        &api,
        &moto_url(),
        &owner,
        &org,
        json!({
            "require_mfa": false, "allowed_methods": ["totp"], "remember_device_max_days": 30
        }),
    )
    .await;

    // No SMS or call is offered, and none is sent or accepted; the app still works.
    let c = challenge(&api, &both).await;
    assert_eq!(
        c.body["methods"],
        json!(["totp", "recovery_code"]),
        "{:?}",
        c.body
    );
    assert!(c.body.get("phones").is_none());
    let id = c.body["challenge_id"].as_str().unwrap().to_owned();
    let texts = sms_to(&moto_url(), &number).await.len();
    let r = send_code(&api, &both, &id, "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_request"));
    assert_eq!(
        sms_to(&moto_url(), &number).await.len(),
        texts,
        "no text sent"
    );
    for _ in 0..6 {
        let r = verify(&api, &both, &id, "sms", "123456").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "not counted"
        );
    }
    let r = verify(&api, &both, &id, "totp", &app_code(&uri, unix_now() + 30)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // A member whose only factor is left out must enroll an allowed one.
    let r = challenge(&api, &phone_only).await;
    assert_eq!(status_of(&r), (200, "enrollment_required"), "{:?}", r.body);
    assert_eq!(r.body["allowed_methods"], json!(["totp"]));
    // Their security page says so too; the member with an allowed app is not asked.
    for (who, expect) in [(&phone_only, true), (&both, false)] {
        let page = api.send("GET", "/v1/mfa", who, None, None, &[]).await;
        assert_eq!(page.body["enrollment_required"], expect, "{:?}", page.body);
    }

    // The same person logging in to another organisation of theirs, with no policy, keeps SMS:
    // a login follows the organisation it is for.
    let elsewhere = both.in_another_org(&new_org(), "member");
    let c = challenge(&api, &elsewhere).await;
    assert_eq!(
        c.body["methods"],
        json!(["totp", "sms", "voice", "recovery_code"])
    );
}

#[tokio::test]
async fn an_organisation_that_requires_2fa_requires_it_of_trial_members_too() {
    let api = Api::shared();
    let org = new_org();
    let owner = User::in_org(&org, "owner");
    let trial = User::with(json!({ "org_id": org, "org_role": "member", "plan": "trial" }));
    assert_eq!(
        status_of(&challenge(&api, &trial).await),
        (200, "not_required")
    );
    set_policy(&api, &moto_url(), &owner, &org, json!({
        "require_mfa": true, "allowed_methods": ["webauthn", "totp"], "remember_device_max_days": 30
    }))
    .await;
    let r = challenge(&api, &trial).await;
    assert_eq!(status_of(&r), (200, "enrollment_required"), "{:?}", r.body);
    assert_eq!(r.body["allowed_methods"], json!(["webauthn", "totp"]));
    let page = api.send("GET", "/v1/mfa", &trial, None, None, &[]).await;
    assert_eq!(
        (&page.body["required"], &page.body["enrollment_required"]),
        (&json!(true), &json!(true)),
        "{:?}",
        page.body
    );

    // A trial member who has 2FA may not turn it off while the organisation requires it.
    let (_, uri, ok) = enroll_app(&api, &moto_url(), &trial, "Laptop").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let step_up = api.step_up(&moto_url(), &trial).await;
    let c = challenge(&api, &trial).await;
    let body = json!({
        "challenge_id": c.body["challenge_id"], "method": "totp",
        "code": app_code(&uri, unix_now() + 30)
    });
    let r = api
        .send("DELETE", "/v1/mfa", &trial, Some(&step_up), Some(body), &[])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "mfa_required"),
        "{:?}",
        r.body
    );
    let page = api.send("GET", "/v1/mfa", &trial, None, None, &[]).await;
    assert_eq!(page.body["enabled"], true, "{:?}", page.body);
}

#[tokio::test]
async fn a_computer_stays_remembered_only_as_long_as_the_organisation_allows() {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let org = new_org();
    let owner = User::in_org(&org, "owner");
    let member = User::in_org(&org, "member");
    let (_, uri, ok) = enroll_app(api, moto, &member, "Laptop").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    set_policy(api, moto, &owner, &org, apps_only(1)).await;
    let c = challenge(api, &member).await;
    let id = c.body["challenge_id"].as_str().unwrap();
    let code = app_code(&uri, unix_now() + 30);
    let r = verify_and_remember(api, &member, id, "totp", &code, "Laptop").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let device = r.body["device_token"].as_str().unwrap().to_owned();
    // Within the day, the computer is remembered; a day later it is asked for a code again.
    let r = challenge_with_device(api, &member, &device).await;
    assert_eq!(status_of(&r), (200, "approved"), "{:?}", r.body);
    stack.advance_clock(86_400).await;
    let r = challenge_with_device(api, &member, &device).await;
    assert_eq!(status_of(&r), (201, "pending"), "{:?}", r.body);

    // At 0 days, no computer is remembered at all.
    set_policy(api, moto, &owner, &org, apps_only(0)).await;
    let id = r.body["challenge_id"].as_str().unwrap();
    let code = app_code(&uri, unix_now() + 86_400 + 30);
    let r = verify_and_remember(api, &member, id, "totp", &code, "Laptop").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get("device_token").is_none(), "{:?}", r.body);
}
