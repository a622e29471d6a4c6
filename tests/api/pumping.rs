//! The SMS and voice pumping guard, over HTTP against private stacks with their own ceilings:
//! new numbers of one range are cut off at the range's ceiling and the range is blocked; a
//! country and a source IP have ceilings of their own; the whole service has a daily budget
//! past which only proven phones get codes; and a send that fails counts nowhere.

use crate::logs::{counted, lines, request_id};
use crate::phones::{start_phone, verify_phone};
use e2e::*;
use serde_json::Value;

pub(crate) fn retry_after(r: &Reply) -> i64 {
    r.headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 says when to retry: {:?}", r.headers))
}

/// A German mobile number no other test uses.
fn fresh_german() -> String {
    let number = format!("+49151{:08}", uuid::Uuid::new_v4().as_u128() % 100_000_000);
    secrets::saw(&number);
    number
}

/// The `n`th number of one range: `+3362123` then four digits.
fn in_range(n: u32) -> String {
    let number = format!("+3362123{n:04}");
    secrets::saw(&number);
    number
}

async fn events(api: &Api, user: &User) -> Vec<Value> {
    let r = api
        .send("GET", "/v1/mfa/events?limit=100", user, None, None, &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["events"].as_array().cloned().unwrap_or_default()
}

/// Users with an email step-up each, to spread sends over (a user's second enrolment right
/// after the first waits out the resend back-off).
async fn users_with_step_up(stack: &PrivateStack, n: usize) -> Vec<(User, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let user = User::new("paid");
        let token = stack.api.step_up_by_email(&stack.moto, &user).await;
        out.push((user, token));
    }
    out
}

/// A private stack whose range, country and IP ceilings are out of the way, except those `set`
/// (and anything else `set` names).
async fn stack_with(set: &[(&str, &str)]) -> PrivateStack {
    let mut env: Vec<(&str, &str)> = [
        ("SMS_GUARD_PREFIX_MAX", "10000"),
        ("SMS_GUARD_COUNTRY_MAX", "10000"),
        ("SMS_GUARD_IP_MAX", "10000"),
    ]
    .into_iter()
    .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
    .collect();
    env.extend_from_slice(set);
    PrivateStack::with_env(&env).await
}

/// Each of `users` enrols a new number `number()`, and each gets its code.
async fn each_sends_a_new_number(
    stack: &PrivateStack,
    users: &[(User, String)],
    number: impl Fn() -> String,
) {
    for (user, token) in users {
        let r = start_phone(&stack.api, user, token, &number(), "sms").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

#[tokio::test]
async fn two_hundred_new_numbers_of_one_range_are_cut_off_at_its_ceiling_and_the_range_is_blocked()
{
    let stack = stack_with(&[("SMS_GUARD_PREFIX_MAX", "10")]).await;
    let users = users_with_step_up(&stack, 200).await;
    let mut sent = 0;
    let mut refused = Vec::new();
    let mut tripped_by = None;
    for i in 0..200u32 {
        let (user, token) = &users[i as usize % users.len()];
        let r = start_phone(&stack.api, user, token, &in_range(i), "sms").await;
        match r.status.as_u16() {
            201 => sent += 1,
            429 => {
                assert_eq!(r.code(), "rate_limited", "{:?}", r.body);
                if tripped_by.is_none() {
                    tripped_by = Some((i as usize % users.len(), request_id(&r)));
                }
                refused.push(retry_after(&r));
            }
            other => panic!("send {i}: {other} {:?}", r.body),
        }
    }
    assert_eq!(sent, 10, "the range's ceiling");
    assert_eq!(refused.len(), 190);
    // Blocked for 12 hours (the default), and every later send is told so.
    assert!(
        refused.iter().all(|&s| (43_000..=43_200).contains(&s)),
        "{refused:?}"
    );
    let delivered: Vec<_> = all_sms(&stack.moto)
        .await
        .into_iter()
        .filter(|(to, _)| to.starts_with("+3362123"))
        .collect();
    assert_eq!(delivered.len(), 10, "no message for a refused send");

    // The user whose send tripped it has the event; the metric is counted on that request.
    let (who, request) = tripped_by.unwrap();
    let trail = events(&stack.api, &users[who].0).await;
    let blocked: Vec<_> = trail
        .iter()
        .filter(|e| e["action"] == "phone_range_blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{trail:?}");
    assert_eq!(blocked[0]["outcome"], "failure");
    assert!(!blocked[0]["detail"].as_str().unwrap().contains("+3362123"));
    assert!(counted(&lines(&stack.log), &request).contains(&"PhoneRangesBlocked".to_owned()));

    // Another range is not blocked; the blocked one opens again when the block lapses.
    let (user, token) = users_with_step_up(&stack, 1).await.pop().unwrap();
    let r = start_phone(&stack.api, &user, &token, &fresh_mobile(), "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    stack.advance_clock(12 * 3600).await;
    let (user, token) = users_with_step_up(&stack, 1).await.pop().unwrap();
    let r = start_phone(&stack.api, &user, &token, &in_range(500), "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

/// Enrols the phone `number` for `user` (its first code, then the code it received).
async fn enrol(stack: &PrivateStack, user: &User, number: &str) {
    let token = stack.api.step_up_by_email(&stack.moto, user).await;
    let r = start_phone(&stack.api, user, &token, number, "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["factor_id"].as_str().unwrap();
    let code = code_in(&sms_to(&stack.moto, number).await.pop().unwrap(), 6).unwrap();
    let ok = verify_phone(&stack.api, user, id, &code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

/// A login code to the user's proven phone.
async fn login_sms(stack: &PrivateStack, user: &User) -> Reply {
    let c = challenge(&stack.api, user).await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    let id = c.body["challenge_id"].as_str().unwrap();
    send_code(&stack.api, user, id, "sms").await
}

#[tokio::test]
async fn a_proven_phone_still_gets_its_login_code_while_its_range_is_blocked_unless_the_operator_says_no(
) {
    for (held_back, expect) in [("true", 202), ("false", 429)] {
        let mut stack = stack_with(&[
            ("SMS_GUARD_PREFIX_MAX", "2"),
            ("SMS_GUARD_PROVEN_PHONES_IN_BLOCK", held_back),
        ])
        .await;
        // Proven before the block: it took one of the range's two new-number sends.
        let user = User::new("paid");
        let number = in_range(0);
        enrol(&stack, &user, &number).await;
        // One more new number fills the range, and the next trips it.
        let (other, token) = users_with_step_up(&stack, 1).await.pop().unwrap();
        let r = start_phone(&stack.api, &other, &token, &in_range(1), "sms").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let third = User::new("paid");
        let token = stack.api.step_up_by_email(&stack.moto, &third).await;
        let r = start_phone(&stack.api, &third, &token, &in_range(2), "sms").await;
        assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));

        let before = sms_to(&stack.moto, &number).await.len();
        let r = login_sms(&stack, &user).await;
        assert_eq!(
            r.status.as_u16(),
            expect,
            "held back: {held_back}: {:?}",
            r.body
        );
        let after = sms_to(&stack.moto, &number).await.len();
        assert_eq!(after - before, usize::from(expect == 202));
        if expect == 429 {
            assert_eq!(r.code(), "rate_limited");
            assert!(retry_after(&r) > 40_000);
        }
        stack.stop_moto();
    }
}

#[tokio::test]
async fn a_country_and_a_source_ip_have_ceilings_of_their_own_and_block_nothing() {
    // Country: 3 new French numbers an hour, each of another range.
    let mut stack = stack_with(&[("SMS_GUARD_COUNTRY_MAX", "3")]).await;
    let users = users_with_step_up(&stack, 4).await;
    each_sends_a_new_number(&stack, &users[..3], fresh_mobile).await;
    let (user, token) = &users[3];
    let r = start_phone(&stack.api, user, token, &fresh_mobile(), "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    assert!((1..=3600).contains(&retry_after(&r)), "until the hour ends");
    // Another country is not counted with France.
    let r = start_phone(&stack.api, user, token, &fresh_german(), "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // The next hour's window has room again, and nothing was blocked.
    stack.advance_clock(3600).await;
    let token = stack.api.step_up_by_email(&stack.moto, user).await;
    let r = start_phone(&stack.api, user, &token, &fresh_mobile(), "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(events(&stack.api, user)
        .await
        .iter()
        .all(|e| e["action"] != "phone_range_blocked"));
    stack.stop_moto();

    // Source IP: every request of this test comes from 127.0.0.1.
    let mut stack = stack_with(&[("SMS_GUARD_IP_MAX", "2")]).await;
    let users = users_with_step_up(&stack, 3).await;
    each_sends_a_new_number(&stack, &users[..2], fresh_mobile).await;
    let (user, token) = &users[2];
    let r = start_phone(&stack.api, user, token, &fresh_german(), "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    stack.stop_moto();
}

#[tokio::test]
async fn past_the_daily_budget_only_proven_phones_get_codes() {
    let mut stack = stack_with(&[("SMS_DAILY_BUDGET", "3")]).await;
    // Three messages: a phone enrolled (one), two more new numbers.
    let proven = User::new("paid");
    let number = fresh_mobile();
    enrol(&stack, &proven, &number).await;
    let users = users_with_step_up(&stack, 3).await;
    each_sends_a_new_number(&stack, &users[..2], fresh_mobile).await;
    let (user, token) = &users[2];
    let r = start_phone(&stack.api, user, token, &fresh_mobile(), "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    assert!(
        (1..=86_400).contains(&retry_after(&r)),
        "until the day ends"
    );
    // The proven phone still gets its login code, twice.
    for _ in 0..2 {
        let r = login_sms(&stack, &proven).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    assert_eq!(sms_to(&stack.moto, &number).await.len(), 3);
    // The next day has a budget again.
    stack.advance_clock(86_400).await;
    let token = stack.api.step_up_by_email(&stack.moto, user).await;
    let r = start_phone(&stack.api, user, &token, &fresh_mobile(), "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    stack.stop_moto();
}

#[tokio::test]
async fn a_send_that_fails_is_counted_by_no_guard() {
    let mut stack = stack_with(&[
        ("SMS_GUARD_PREFIX_MAX", "2"),
        ("SMS_GUARD_COUNTRY_MAX", "2"),
        ("SMS_GUARD_IP_MAX", "2"),
        ("SMS_DAILY_BUDGET", "2"),
    ])
    .await;
    let users = users_with_step_up(&stack, 3).await;
    // The data key is in the gateway's memory from the step-ups: only SNS fails now.
    stack.stop_moto();
    for (user, token) in &users {
        let r = start_phone(&stack.api, user, token, &in_range(7), "sms").await;
        assert_eq!(r.status, 503, "{:?}", r.body);
    }
    stack.restart_moto().await;
    // Had the failed sends counted, every ceiling of 2 would be full.
    for (user, token) in &users[..2] {
        let r = start_phone(&stack.api, user, token, &in_range(8), "sms").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let (user, token) = &users[2];
    let r = start_phone(&stack.api, user, token, &in_range(9), "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    stack.stop_moto();
}
