//! Fault runs: DynamoDB Local or moto stopped at every point in the middle of a send, a verify
//! and a reset. For each point k the private gateway stops the dependency just before its kth
//! AWS call of the request; then the answer must be a 503 with `Retry-After` (or the whole
//! success, when the stop came after the last call that mattered), nothing may be half-written
//! (the table is as it was, no message went out), and once the dependency is back the same
//! request must succeed. The sweep ends at the first k the request did not reach.

use e2e::*;
use serde_json::json;

use crate::phones::start_phone;
use crate::resets::{member_with_app_and_device, reset};

/// The request under test, ready to be sent (its setup done with every dependency up).
enum Ready {
    /// `POST /v1/challenges/{id}/send` by SMS to `number`.
    Send {
        user: User,
        challenge: String,
        number: String,
    },
    /// `POST /v1/challenges/{id}/verify` with the SMS code.
    Verify {
        user: User,
        challenge: String,
        code: String,
    },
    /// `POST /v1/step-up/email`: a code by email.
    StepUpSend { user: User },
    /// `POST /v1/step-up/email/verify` with the emailed code.
    StepUpVerify {
        user: User,
        challenge: String,
        code: String,
    },
    /// `POST /v1/step-up/totp` with an app code, right or wrong.
    AppStepUp {
        user: User,
        code: String,
        right: bool,
    },
    /// `POST /v1/step-up/recovery-code` with the recovery code.
    RecoveryStepUp { user: User, code: String },
    /// `POST /v1/factors/phone/{id}/resend` by SMS for a pending phone.
    Resend {
        user: User,
        factor: String,
        number: String,
    },
    /// `POST /v1/factors/totp/{id}/verify`: a pending app confirmed with its code, computed
    /// from `uri` when the request is sent (a restart of DynamoDB Local on a loaded machine can
    /// outlast the step a code computed earlier belongs to).
    Activate {
        user: User,
        factor: String,
        uri: String,
    },
    /// An owner resets a member's 2FA.
    Reset {
        owner: User,
        step_up: String,
        org: String,
        member: User,
    },
}

#[derive(Debug, Clone, Copy)]
enum Flow {
    Send,
    Verify,
    StepUpSend,
    StepUpVerify,
    AppStepUp,
    WrongAppStepUp,
    RecoveryStepUp,
    Resend,
    Activate,
    Reset,
}

async fn sms_count(stack: &PrivateStack, number: &str) -> usize {
    sms_to(&stack.moto, number).await.len()
}

/// The consecutive wrong codes counted for `user` (their login guard).
async fn counted_failures(stack: &PrivateStack, user: &User) -> usize {
    let key = format!("pk=S(\"USER#{}\")", user.sub);
    let guard = stack
        .snapshot()
        .await
        .into_iter()
        .find(|l| l.contains(&key) && l.contains("sk=S(\"LOGIN_GUARD\")"));
    guard
        .and_then(|l| {
            l.split(' ')
                .find_map(|a| a.strip_prefix("consecutive_failures=N(\""))
                .and_then(|n| n.trim_end_matches("\")").parse().ok())
        })
        .unwrap_or(0)
}

/// The phone sends counted for `user` (slots taken in their limiter).
async fn counted_sends(stack: &PrivateStack, user: &User) -> usize {
    let key = format!("pk=S(\"USER#{}\")", user.sub);
    stack
        .snapshot()
        .await
        .iter()
        .filter(|l| l.contains(&key) && l.contains("sk=S(\"LIMIT#phone-sends\")"))
        .flat_map(|l| l.split(' '))
        .filter(|a| is_slot_attribute(a))
        .count()
}

/// Every text that went out to the number was counted, and only those.
async fn assert_counted_as_sent(stack: &PrivateStack, ready: &Ready, at: &str) {
    if let Ready::Send { user, number, .. } | Ready::Resend { user, number, .. } = ready {
        assert_eq!(
            counted_sends(stack, user).await,
            sms_count(stack, number).await,
            "{at}: sends counted and texts sent differ"
        );
    }
}

/// A user with a phone and an open login challenge: (user, challenge id, number).
async fn login_with_phone(stack: &PrivateStack) -> (User, String, String) {
    let user = User::new("paid");
    let number = add_phone_on(&stack.api, &stack.moto, &user).await;
    let c = challenge(&stack.api, &user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["challenge_id"].as_str().unwrap().to_owned();
    (user, id, number)
}

async fn prepare(stack: &PrivateStack, flow: Flow) -> Ready {
    match flow {
        Flow::Send => {
            let (user, challenge, number) = login_with_phone(stack).await;
            Ready::Send {
                user,
                challenge,
                number,
            }
        }
        Flow::Verify => {
            let (user, challenge, number) = login_with_phone(stack).await;
            let sent = send_code(&stack.api, &user, &challenge, "sms").await;
            assert_eq!(sent.status, 202, "{:?}", sent.body);
            let code = code_in(sms_to(&stack.moto, &number).await.last().unwrap(), 6).unwrap();
            Ready::Verify {
                user,
                challenge,
                code,
            }
        }
        Flow::StepUpSend => Ready::StepUpSend {
            user: User::new("paid"),
        },
        Flow::StepUpVerify => {
            let user = User::new("paid");
            let (challenge, code) = code_for(&stack.api, &stack.moto, &user).await;
            Ready::StepUpVerify {
                user,
                challenge,
                code,
            }
        }
        Flow::AppStepUp | Flow::WrongAppStepUp => {
            let (user, uri, _) = user_with_app_on(&stack.api, &stack.moto).await;
            // The next step's code: newer than the one that confirmed the app.
            let code = app_code(&uri, unix_now() + 30);
            let right = matches!(flow, Flow::AppStepUp);
            Ready::AppStepUp {
                user,
                code: if right { code } else { wrong_code(&code) },
                right,
            }
        }
        Flow::RecoveryStepUp => {
            let (user, _, code) = user_with_app_on(&stack.api, &stack.moto).await;
            Ready::RecoveryStepUp { user, code }
        }
        Flow::Resend => {
            let user = User::new("paid");
            let step_up = stack.api.step_up(&stack.moto, &user).await;
            let number = fresh_mobile();
            let r = start_phone(&stack.api, &user, &step_up, &number, "sms").await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            // The first resend waits out a minute of back-off (and at most a quarter more).
            stack.advance_clock(76).await;
            Ready::Resend {
                user,
                factor: r.body["factor_id"].as_str().unwrap().to_owned(),
                number,
            }
        }
        Flow::Activate => {
            let user = User::new("paid");
            let step_up = stack.api.step_up(&stack.moto, &user).await;
            let r = start_app(&stack.api, &user, &step_up, json!({ "label": "Phone" })).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            let uri = decode_qr_png(r.body["qr_png_base64"].as_str().unwrap());
            Ready::Activate {
                user,
                factor: r.body["factor_id"].as_str().unwrap().to_owned(),
                uri,
            }
        }
        Flow::Reset => {
            let org = format!("org-{}", uuid::Uuid::new_v4().simple());
            let member = User::in_org(&org, "member");
            member_with_app_and_device(&stack.api, &stack.moto, &member).await;
            let owner = User::in_org(&org, "owner");
            let step_up = stack.api.step_up(&stack.moto, &owner).await;
            Ready::Reset {
                owner,
                step_up,
                org,
                member,
            }
        }
    }
}

async fn send(stack: &PrivateStack, ready: &Ready) -> Reply {
    match ready {
        Ready::Send {
            user, challenge, ..
        } => send_code(&stack.api, user, challenge, "sms").await,
        Ready::Verify {
            user,
            challenge,
            code,
        } => verify(&stack.api, user, challenge, "sms", code).await,
        Ready::StepUpSend { user } => {
            stack
                .api
                .post("/v1/step-up/email", &user.token, json!({}))
                .await
        }
        Ready::StepUpVerify {
            user,
            challenge,
            code,
        } => stack.api.verify_step_up(user, challenge, code).await,
        Ready::AppStepUp { user, code, .. } => {
            stack
                .api
                .post("/v1/step-up/totp", &user.token, json!({ "code": code }))
                .await
        }
        Ready::RecoveryStepUp { user, code } => step_up_by_recovery(&stack.api, user, code).await,
        Ready::Resend { user, factor, .. } => {
            let path = format!("/v1/factors/phone/{factor}/resend");
            stack.api.post(&path, &user.token, json!({})).await
        }
        Ready::Activate { user, factor, uri } => {
            let path = format!("/v1/factors/totp/{factor}/verify");
            let code = app_code(uri, unix_now());
            stack
                .api
                .post(&path, &user.token, json!({ "code": code }))
                .await
        }
        Ready::Reset {
            owner,
            step_up,
            org,
            member,
        } => reset(&stack.api, owner, Some(step_up), org, member).await,
    }
}

/// The messages the request under test sends: texts to the number, or emails to the user.
async fn messages(stack: &PrivateStack, ready: &Ready) -> usize {
    match ready {
        Ready::Send { number, .. } | Ready::Resend { number, .. } => sms_count(stack, number).await,
        Ready::StepUpSend { user } => mails_to(&stack.moto, &user.email).await.len(),
        _ => 0,
    }
}

/// The request did all it is for: the code went out, the login was approved, the step-up
/// token issued, the member has no factor left.
async fn assert_done(stack: &PrivateStack, ready: &Ready, r: &Reply, sent_before: usize) {
    match ready {
        Ready::Send { .. } => {
            assert_eq!(r.status, 202, "{:?}", r.body);
            assert_eq!(messages(stack, ready).await, sent_before + 1);
        }
        Ready::StepUpSend { .. } | Ready::Resend { .. } => {
            assert_eq!(r.status, 202, "{:?}", r.body);
            assert_eq!(messages(stack, ready).await, sent_before + 1);
        }
        Ready::AppStepUp { right: true, .. } | Ready::RecoveryStepUp { .. } => {
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["level"], "factor", "{:?}", r.body);
        }
        Ready::AppStepUp { user, .. } => {
            // The wrong code is counted whole: the route's try and the account's failure.
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (400, "invalid_code"),
                "{:?}",
                r.body
            );
            assert_eq!(r.body["error"]["attempts_remaining"], 4, "{:?}", r.body);
            assert_eq!(counted_failures(stack, user).await, 1);
        }
        Ready::Activate { user, .. } => {
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert!(r.body["recovery_code"].is_string(), "{:?}", r.body);
            let page = stack
                .api
                .send("GET", "/v1/mfa", user, None, None, &[])
                .await;
            assert_eq!(
                page.body["factors"][0]["status"], "active",
                "{:?}",
                page.body
            );
        }
        Ready::StepUpVerify { .. } => {
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert!(r.body["step_up_token"].is_string(), "{:?}", r.body);
        }
        Ready::Verify { user, .. } => {
            assert_eq!(r.status, 200, "{:?}", r.body);
            assert_eq!(r.body["status"], "approved");
            check_assertion(
                &stack.api,
                user,
                r.body["assertion"].as_str().unwrap(),
                "sms",
            )
            .await;
        }
        Ready::Reset { member, .. } => {
            assert_eq!(r.status, 200, "{:?}", r.body);
            let page = stack
                .api
                .send("GET", "/v1/mfa", member, None, None, &[])
                .await;
            assert_eq!(page.body["factors"], json!([]));
        }
    }
}

/// Sweeps every stop point of `flow` with `which` stopped; the number of points that stopped
/// the request before it was done.
async fn sweep(flow: Flow, which: Dependency) -> u32 {
    let mut stack = match which {
        Dependency::DynamoDb => PrivateStack::with_own_dynamodb().await,
        Dependency::Moto => PrivateStack::start().await,
    };
    let mut refused = 0;
    for k in 1.. {
        assert!(k <= 40, "{flow:?}: more than 40 AWS calls in one request");
        let ready = prepare(&stack, flow).await;
        let sms_before = messages(&stack, &ready).await;
        let before = stack.snapshot().await;
        stack.stop_at_call(which, k).await;
        let r = send(&stack, &ready).await;
        if !stack.stop_fired().await {
            // The request made fewer than k calls: every point has been tried.
            assert_done(&stack, &ready, &r, sms_before).await;
            return refused;
        }
        stack.restart(which).await;
        let at = format!("{flow:?} with {which:?} stopped before call {k}");
        if r.status.is_success() {
            // Stopped after the last call that mattered: the request is whole.
            assert_done(&stack, &ready, &r, sms_before).await;
            assert_counted_as_sent(&stack, &ready, &at).await;
            continue;
        }
        refused += 1;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, "unavailable"),
            "{at}: {:?}",
            r.body
        );
        assert!(
            r.headers.contains_key("retry-after"),
            "{at}: no Retry-After"
        );
        if let (
            Dependency::Moto,
            Ready::Send {
                user,
                challenge,
                number,
            },
        ) = (which, &ready)
        {
            // A frozen SNS had the text when the call timed out: it goes out once SNS is back.
            // The send kept its code and its count, so the text is counted and its code works.
            let mut texts = sms_to(&stack.moto, number).await;
            for _ in 0..50 {
                if texts.len() > sms_before {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                texts = sms_to(&stack.moto, number).await;
            }
            assert_eq!(texts.len(), sms_before + 1, "{at}: one text, not retried");
            assert_counted_as_sent(&stack, &ready, &at).await;
            let code = code_in(texts.last().unwrap(), 6).unwrap();
            let ok = verify(&stack.api, user, challenge, "sms", &code).await;
            assert_eq!(ok.status, 200, "{at}: {:?}", ok.body);
            continue;
        }
        let after = stack.snapshot().await;
        let added: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
        let removed: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "{at}: the table changed; now {added:#?}, was {removed:#?}"
        );
        assert_eq!(
            messages(&stack, &ready).await,
            sms_before,
            "{at}: a message went out"
        );
        assert_counted_as_sent(&stack, &ready, &at).await;
        let again = send(&stack, &ready).await;
        assert_done(&stack, &ready, &again, sms_before).await;
        assert_counted_as_sent(&stack, &ready, &at).await;
    }
    unreachable!()
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_a_login_send_then_503_nothing_sent_or_counted_and_it_works_after(
) {
    let points = sweep(Flow::Send, Dependency::DynamoDb).await;
    eprintln!("[faults] send, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_a_login_verify_then_503_nothing_used_up_and_it_works_after(
) {
    let points = sweep(Flow::Verify, Dependency::DynamoDb).await;
    eprintln!("[faults] verify, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_an_admin_reset_then_503_nothing_half_reset_and_it_works_after(
) {
    let points = sweep(Flow::Reset, Dependency::DynamoDb).await;
    eprintln!("[faults] reset, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_moto_frozen_at_any_point_of_a_login_send_then_503_and_the_text_that_arrives_is_counted_and_works(
) {
    let points = sweep(Flow::Send, Dependency::Moto).await;
    assert!(points > 0, "moto was never reached");
    eprintln!(
        "[faults] send, moto frozen: {points} points timed out, each text counted and working"
    );
}

#[tokio::test]
async fn given_moto_stopped_at_any_point_of_a_login_verify_then_503_nothing_used_up_and_it_works_after(
) {
    let points = sweep(Flow::Verify, Dependency::Moto).await;
    eprintln!("[faults] verify, moto stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_moto_stopped_at_any_point_of_an_admin_reset_then_the_reset_is_whole_or_503_and_it_works_after(
) {
    // A reset's notice email is best effort after the commit; moto down before the commit
    // refuses the reset whole.
    let points = sweep(Flow::Reset, Dependency::Moto).await;
    eprintln!("[faults] reset, moto stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_an_email_step_up_send_then_503_nothing_sent_or_counted_and_it_works_after(
) {
    let points = sweep(Flow::StepUpSend, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!("[faults] step-up email send, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_an_email_step_up_verify_then_503_nothing_used_up_and_it_works_after(
) {
    let points = sweep(Flow::StepUpVerify, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!(
        "[faults] step-up email verify, DynamoDB stopped: {points} points refused, all whole"
    );
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_an_app_step_up_then_503_nothing_used_up_and_it_works_after(
) {
    let points = sweep(Flow::AppStepUp, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!("[faults] app step-up, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_a_wrong_app_code_then_503_nothing_counted_and_then_it_is_counted_once(
) {
    let points = sweep(Flow::WrongAppStepUp, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!("[faults] wrong app code, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_a_recovery_code_step_up_then_503_the_code_still_works_after(
) {
    let points = sweep(Flow::RecoveryStepUp, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!(
        "[faults] recovery-code step-up, DynamoDB stopped: {points} points refused, all whole"
    );
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_a_phone_code_resend_then_503_nothing_sent_or_counted_and_it_works_after(
) {
    let points = sweep(Flow::Resend, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!("[faults] phone resend, DynamoDB stopped: {points} points refused, all whole");
}

#[tokio::test]
async fn given_dynamodb_stopped_at_any_point_of_an_app_activation_then_503_nothing_half_activated_and_it_works_after(
) {
    let points = sweep(Flow::Activate, Dependency::DynamoDb).await;
    assert!(points > 0);
    eprintln!("[faults] app activation, DynamoDB stopped: {points} points refused, all whole");
}
