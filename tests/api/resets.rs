//! Admin reset (flow 6), self-service reset (flow 8) and the event trail, over HTTP against the
//! local stack. The fault test and the waiting period use a private stack (fault injection and
//! clock control on its own gateway).

use e2e::*;
use serde_json::{json, Value};

fn reset_path(org: &str, member: &User) -> String {
    format!("/v1/orgs/{org}/members/{}/mfa-reset", member.sub)
}

pub(crate) async fn reset(
    api: &Api,
    caller: &User,
    step_up: Option<&str>,
    org: &str,
    member: &User,
) -> Reply {
    api.send(
        "POST",
        &reset_path(org, member),
        caller,
        step_up,
        Some(json!({ "reason": "lost phone" })),
        &[],
    )
    .await
}

async fn get(api: &Api, user: &User, path: &str) -> Reply {
    api.send("GET", path, user, None, None, &[]).await
}

fn status(r: &Reply) -> (u16, &str) {
    (r.status.as_u16(), r.body["status"].as_str().unwrap_or(""))
}

fn actions(events: &Reply) -> Vec<String> {
    events.body["events"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// A user with an app and a remembered device, known to the service through a login; the
/// device token.
pub(crate) async fn member_with_app_and_device(api: &Api, moto: &str, user: &User) -> String {
    let (_, uri, ok) = enroll_app(api, moto, user, "Phone").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let c = challenge(api, user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["challenge_id"].as_str().unwrap();
    let code = app_code(&uri, unix_now() + 30);
    let ok = verify_and_remember(api, user, id, "totp", &code, "Laptop").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    ok.body["device_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn given_each_caller_and_target_then_admin_reset_answers_as_the_authorization_matrix_says() {
    let api = Api::shared();
    let moto = moto_url();
    let org = format!("org-{}", uuid::Uuid::new_v4().simple());
    // Targets: a member on trial (a reset must still force enrollment), an admin, an owner.
    let member = User::with(json!({ "org_id": org, "org_role": "member", "plan": "trial" }));
    let admin_target = User::in_org(&org, "admin");
    let owner_target = User::in_org(&org, "owner");
    let mut devices = Vec::new();
    for t in [&member, &admin_target, &owner_target] {
        devices.push(member_with_app_and_device(&api, &moto, t).await);
    }
    // Callers.
    let owner = User::in_org(&org, "owner");
    let admin = User::in_org(&org, "admin");
    let plain = User::in_org(&org, "member");
    let other_admin = User::in_org("org-elsewhere", "admin");
    let support = User::with(
        json!({ "org_id": "ops", "org_role": "member", "plan": "paid", "scope": "openid mfa:support" }),
    );

    // Authorization comes before the step-up; the step-up before any change.
    let r = reset(&api, &plain, None, &org, &member).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let r = reset(&api, &owner, None, &org, &member).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));
    assert_eq!(status(&challenge(&api, &member).await), (201, "pending"));

    let targets = [&member, &admin_target, &owner_target];
    let matrix: [(&str, &User, [u16; 3]); 5] = [
        ("owner", &owner, [200, 200, 200]),
        ("admin", &admin, [200, 200, 403]),
        ("member", &plain, [403, 403, 403]),
        ("other org's admin", &other_admin, [403, 403, 403]),
        ("support", &support, [200, 200, 200]),
    ];
    for (name, caller, expected) in matrix {
        let step_up = api.step_up(&moto, caller).await;
        for (target, want) in targets.iter().zip(expected) {
            let r = reset(&api, caller, Some(&step_up), &org, target).await;
            assert_eq!(r.status.as_u16(), want, "{name} resetting: {:?}", r.body);
            if want == 200 {
                assert_eq!(r.body["status"], "reset");
                assert_eq!(r.body["user_id"], target.sub.as_str());
            } else {
                assert_eq!(r.code(), "forbidden");
            }
        }
    }

    // The member's next login asks to enroll, even on trial and with the remembered device.
    assert_eq!(
        status(&challenge(&api, &member).await),
        (200, "enrollment_required")
    );
    assert_eq!(
        status(&challenge_with_device(&api, &member, &devices[0]).await),
        (200, "enrollment_required")
    );
    let page = get(&api, &member, "/v1/mfa").await;
    assert_eq!(page.body["enabled"], false);
    assert_eq!(page.body["enrollment_required"], true);
    assert_eq!(page.body["recovery_code"], Value::Null);
    assert_eq!(page.body["remembered_devices"], 0);
    // The member was emailed who reset it, when and why, once (the later resets were no-ops).
    let notices: Vec<Mail> = mails_to(&moto, &member.email)
        .await
        .into_iter()
        .filter(|m| m.subject == "Two-factor authentication on your account was reset")
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].body.contains(&owner.email),
        "{}",
        notices[0].body
    );
    assert!(notices[0].body.contains("lost phone"));
    assert!(notices[0].body.contains("When: "));

    // Events on both sides; an owner reads the member's trail, others cannot.
    let path = format!("/v1/orgs/{org}/members/{}/events", member.sub);
    let trail = get(&api, &owner, &path).await;
    assert_eq!(trail.status, 200, "{:?}", trail.body);
    let reset_event = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "mfa_reset")
        .expect("mfa_reset on the member's trail")
        .clone();
    assert_eq!(reset_event["actor"], owner.sub.as_str());
    assert_eq!(reset_event["target"], member.sub.as_str());
    assert_eq!(reset_event["outcome"], "success");
    assert!(actions(&get(&api, &owner, "/v1/mfa/events").await)
        .contains(&"member_mfa_reset".to_owned()));
    let refused = actions(&get(&api, &admin, "/v1/mfa/events?limit=100").await);
    assert!(refused.contains(&"member_mfa_reset".to_owned()));
    for outsider in [&plain, &other_admin] {
        let r = get(&api, outsider, &path).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    }
    // Unknown members, members of another organisation, and oneself.
    let step_up = api.step_up(&moto, &owner).await;
    let stranger = User::new("paid");
    let r = reset(&api, &owner, Some(&step_up), &org, &stranger).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    challenge(&api, &owner).await;
    let r = reset(&api, &owner, Some(&step_up), &org, &owner).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));

    // Enrolling again clears the requirement.
    let (_, _, ok) = enroll_app(&api, &moto, &member, "New phone").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert!(
        ok.body["recovery_code"].is_string(),
        "a fresh recovery code"
    );
    assert_eq!(status(&challenge(&api, &member).await), (201, "pending"));
}

#[tokio::test]
async fn given_a_refused_transaction_then_a_reset_leaves_the_old_state_whole() {
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let org = format!("org-{}", uuid::Uuid::new_v4().simple());
    let member = User::in_org(&org, "member");
    let device = member_with_app_and_device(api, &stack.moto, &member).await;
    let owner = User::in_org(&org, "owner");
    let step_up = api.step_up(&stack.moto, &owner).await;
    let before = get(api, &member, "/v1/mfa").await;
    assert_eq!(before.body["enabled"], true);

    // DynamoDB refuses the transaction after seeing all of its writes.
    stack.poison_next_transaction().await;
    let r = reset(api, &owner, Some(&step_up), &org, &member).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "conflict"),
        "{:?}",
        r.body
    );
    let after = get(api, &member, "/v1/mfa").await;
    assert_eq!(after.body, before.body, "the old state, whole");
    assert_eq!(
        status(&challenge_with_device(api, &member, &device).await),
        (200, "approved")
    );
    assert!(!actions(&get(api, &member, "/v1/mfa/events").await).contains(&"mfa_reset".to_owned()));
    assert!(mails_to(&stack.moto, &member.email)
        .await
        .iter()
        .all(|m| !m.subject.contains("was reset")));

    // Retried, it happens entirely.
    let r = reset(api, &owner, Some(&step_up), &org, &member).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let after = get(api, &member, "/v1/mfa").await;
    assert_eq!(after.body["factors"], json!([]));
    assert_eq!(after.body["recovery_code"], Value::Null);
    assert_eq!(after.body["remembered_devices"], 0);
    assert_eq!(
        status(&challenge_with_device(api, &member, &device).await),
        (200, "enrollment_required")
    );
}

async fn cancel_request(api: &Api, user: &User, id: &str) -> Reply {
    api.send(
        "DELETE",
        &format!("/v1/mfa/reset-requests/{id}"),
        user,
        None,
        None,
        &[],
    )
    .await
}

async fn reset_request(api: &Api, user: &User) -> Reply {
    api.send("POST", "/v1/mfa/reset-requests", user, None, None, &[])
        .await
}

async fn confirm(api: &Api, user: &User, id: &str, code: &str) -> Reply {
    api.send(
        "POST",
        &format!("/v1/mfa/reset-requests/{id}/confirm"),
        user,
        None,
        Some(json!({ "code": code })),
        &[],
    )
    .await
}

/// Requests a self-service reset and confirms it with the emailed code; the request id.
async fn requested_and_confirmed(api: &Api, moto: &str, owner: &User) -> String {
    let r = reset_request(api, owner).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.body["request_id"].as_str().unwrap().to_owned();
    let mail = latest_mail(moto, &owner.email).await;
    assert!(
        mail.subject.starts_with("Confirm the reset"),
        "{}",
        mail.subject
    );
    let code = code_in(&mail.body, 6).unwrap();
    let wrong = confirm(api, owner, &id, &wrong_code(&code)).await;
    assert_eq!((wrong.status.as_u16(), wrong.code()), (400, "invalid_code"));
    let ok = confirm(api, owner, &id, &code).await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    assert!(ok.body["completes_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        latest_mail(moto, &owner.email).await.subject,
        "Two-factor authentication on your account will be reset"
    );
    id
}

#[tokio::test]
async fn given_a_confirmed_self_service_reset_then_it_completes_after_the_wait_and_a_cancelled_one_never_does(
) {
    let stack = PrivateStack::start().await;
    let api = &stack.api;
    let moto = &stack.moto;
    let owner = User::in_org(&format!("org-{}", uuid::Uuid::new_v4().simple()), "owner");
    member_with_app_and_device(api, moto, &owner).await;
    let cancelling = User::in_org(&format!("org-{}", uuid::Uuid::new_v4().simple()), "owner");
    member_with_app_and_device(api, moto, &cancelling).await;

    let id = requested_and_confirmed(api, moto, &owner).await;
    let again = reset_request(api, &owner).await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));
    let other = requested_and_confirmed(api, moto, &cancelling).await;
    let r = cancel_request(api, &cancelling, &other).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(
        latest_mail(moto, &cancelling.email).await.subject,
        "The reset of your two-factor authentication was cancelled"
    );

    // During the wait nothing changes.
    stack.advance_clock(23 * 3600).await;
    assert_eq!(status(&challenge(api, &owner).await), (201, "pending"));
    // After it, the first request completes it, once.
    stack.advance_clock(3600 + 60).await;
    assert_eq!(
        status(&challenge(api, &owner).await),
        (200, "enrollment_required")
    );
    let done = mails_to(moto, &owner.email)
        .await
        .into_iter()
        .filter(|m| m.subject == "Two-factor authentication on your account was reset")
        .count();
    assert_eq!(done, 1);
    let page = get(api, &owner, "/v1/mfa").await;
    assert_eq!(page.body["factors"], json!([]));
    assert_eq!(page.body["enrollment_required"], true);
    let trail = actions(&get(api, &owner, "/v1/mfa/events").await);
    assert_eq!(trail[..2], ["mfa_reset", "self_reset_requested"]);
    let late = cancel_request(api, &owner, &id).await;
    assert_eq!((late.status.as_u16(), late.code()), (409, "conflict"));

    // The cancelled one never completes.
    assert_eq!(status(&challenge(api, &cancelling).await), (201, "pending"));
    assert_eq!(get(api, &cancelling, "/v1/mfa").await.body["enabled"], true);
}

#[tokio::test]
async fn given_self_service_reset_then_only_paid_owners_may_ask_and_the_mailbox_is_not_spammed() {
    let api = Api::shared();
    let moto = moto_url();
    let member = User::in_org("org-1", "member");
    let r = reset_request(&api, &member).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"));
    let trial_owner =
        User::with(json!({ "org_id": "org-1", "org_role": "owner", "plan": "trial" }));
    assert_eq!(reset_request(&api, &trial_owner).await.status, 403);
    let no_factor = User::new("paid");
    let r = reset_request(&api, &no_factor).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "conflict"));

    let (owner, _, _) = user_with_app(&api).await;
    // An unconfirmed request can be cancelled too; its code then stops working.
    let r = reset_request(&api, &owner).await;
    let id = r.body["request_id"].as_str().unwrap().to_owned();
    let code = code_in(&latest_mail(&moto, &owner.email).await.body, 6).unwrap();
    let r = cancel_request(&api, &owner, &id).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = confirm(&api, &owner, &id, &code).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    // 3 codes a day, then 429 with Retry-After and no email.
    for _ in 0..2 {
        assert_eq!(reset_request(&api, &owner).await.status, 202);
    }
    let sent = mails_to(&moto, &owner.email).await.len();
    let r = reset_request(&api, &owner).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(mails_to(&moto, &owner.email).await.len(), sent);
}

#[tokio::test]
async fn given_security_events_then_each_names_actor_target_time_origin_outcome_and_lives_400_days()
{
    let api = Api::shared();
    let (user, _, _) = user_with_app(&api).await;
    let step_up = api.step_up(&moto_url(), &user).await;
    let r = api
        .send(
            "PUT",
            "/v1/mfa/policy",
            &user,
            Some(&step_up),
            Some(json!({ "remember": "every_login" })),
            &[("user-agent", "events-test/1.0")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let db = dynamodb(None).await;
    let items = db
        .query()
        .table_name(table_name())
        .key_condition_expression("pk = :pk AND begins_with(sk, :e)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.sub)),
        )
        .expression_attribute_values(
            ":e",
            aws_sdk_dynamodb::types::AttributeValue::S("EVENT#".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 2, "factor_added and policy_changed");
    let n = |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
             k: &str| { item[k].as_n().unwrap().parse::<i64>().unwrap() };
    for item in &items {
        for k in [
            "actor",
            "target",
            "action",
            "outcome",
            "source_ip",
            "user_agent",
        ] {
            assert!(
                item.get(k).and_then(|v| v.as_s().ok()).is_some(),
                "{k} in {item:?}"
            );
        }
        assert_eq!(n(item, "ttl") - n(item, "at"), 400 * 86_400);
    }
    let policy = items
        .iter()
        .find(|i| i["action"].as_s().unwrap() == "policy_changed")
        .unwrap();
    assert_eq!(policy["user_agent"].as_s().unwrap(), "events-test/1.0");
    assert_eq!(policy["source_ip"].as_s().unwrap(), "127.0.0.1");
}
