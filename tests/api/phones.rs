//! Flow 3, phone by SMS or voice, over HTTP against the local stack: codes read from moto's SMS
//! record or the local voice inbox, as a person reads their phone.

use e2e::*;
use serde_json::{json, Value};

pub(crate) async fn start_phone(
    api: &Api,
    user: &User,
    step_up: &str,
    number: &str,
    channel: &str,
) -> Reply {
    let body = json!({ "phone_number": number, "channel": channel });
    start_phone_with(api, user, step_up, body).await
}

/// `POST /v1/factors/phone` with `body` as it is.
async fn start_phone_with(api: &Api, user: &User, step_up: &str, body: Value) -> Reply {
    let path = "/v1/factors/phone";
    api.send("POST", path, user, Some(step_up), Some(body), &[])
        .await
}

pub(crate) async fn verify_phone(api: &Api, user: &User, id: &str, code: &str) -> Reply {
    api.send(
        "POST",
        &format!("/v1/factors/phone/{id}/verify"),
        user,
        None,
        Some(json!({ "code": code })),
        &[],
    )
    .await
}

#[tokio::test]
async fn given_a_mobile_number_when_the_sms_code_is_entered_then_the_phone_is_active_and_masked() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let number = fresh_mobile();

    let r = api
        .send(
            "POST",
            "/v1/factors/phone",
            &user,
            None,
            Some(json!({ "phone_number": number, "channel": "sms" })),
            &[],
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));

    let r = start_phone(&api, &user, &step_up, &number, "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["channel"], "sms");
    assert_eq!(r.body["expires_in"], 600);
    let masked = r.body["phone"].as_str().unwrap();
    assert_eq!(masked, format!("+33*****{}", &number[number.len() - 4..]));
    let id = r.body["factor_id"].as_str().unwrap().to_owned();

    let sms = sms_to(&moto_url(), &number).await;
    assert_eq!(sms.len(), 1);
    assert!(sms[0].contains("Console verification code") && sms[0].contains("10 minutes"));
    let code = code_in(&sms[0], 6).unwrap();

    let wrong = verify_phone(&api, &user, &id, &wrong_code(&code)).await;
    assert_eq!((wrong.status.as_u16(), wrong.code()), (400, "invalid_code"));
    assert_eq!(wrong.body["error"]["attempts_remaining"], 4);
    let ok = verify_phone(&api, &user, &id, &code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["factor"]["type"], "phone");
    assert_eq!(ok.body["factor"]["phone"], masked);
    assert!(
        ok.body["recovery_code"].is_string(),
        "first factor: recovery code"
    );
    let again = verify_phone(&api, &user, &id, &code).await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));

    let dump = table_text(&table_name()).await;
    assert!(
        !dump.contains(&number[1..]),
        "the number is stored in the clear"
    );
    assert!(!dump.contains(&code));
}

async fn resend(api: &Api, user: &User, id: &str, channel: &str) -> Reply {
    api.send(
        "POST",
        &format!("/v1/factors/phone/{id}/resend"),
        user,
        None,
        Some(json!({ "channel": channel })),
        &[],
    )
    .await
}

/// A new user of a private stack who started adding a phone by SMS: (user, the step-up token,
/// the number, the pending factor's id).
async fn pending_phone(stack: &PrivateStack) -> (User, String, String, String) {
    let user = User::new("paid");
    let step_up = stack.api.step_up(&stack.moto, &user).await;
    let number = fresh_mobile();
    let r = start_phone(&stack.api, &user, &step_up, &number, "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    (user, step_up, number, id)
}

#[tokio::test]
async fn given_receive_a_call_instead_then_the_code_is_read_out_and_the_old_one_stops_working() {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let (user, _, number, id) = pending_phone(&stack).await;
    let sms_code = code_in(&sms_to(moto, &number).await[0], 6).unwrap();

    // "Receive a call instead" waits out the first minute of the resend back-off.
    stack.advance_clock(76).await;
    let resend = resend(api, &user, &id, "voice").await;
    assert_eq!(resend.status, 202, "{:?}", resend.body);
    assert_eq!(resend.body["channel"], "voice");
    let calls = calls_to(&number);
    assert_eq!(calls.len(), 1);
    let voice_code = spoken_code(&calls[0]);
    assert_eq!(voice_code.len(), 6);

    if voice_code != sms_code {
        let old = verify_phone(api, &user, &id, &sms_code).await;
        assert_eq!(old.code(), "invalid_code");
    }
    let ok = verify_phone(api, &user, &id, &voice_code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["factor"]["channel"], "voice");
}

/// The wait a `429 rate_limited` asks for, checked to be within `range`. A private stack's
/// clock runs on with real time, so a range's low end allows for a few seconds since the code
/// the wait is counted from.
fn waits(r: &Reply, range: std::ops::RangeInclusive<i64>) -> i64 {
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "rate_limited"),
        "{:?}",
        r.body
    );
    let wait = crate::pumping::retry_after(r);
    assert!(range.contains(&wait), "{wait} not in {range:?}");
    wait
}

/// Real seconds a test step may take, allowed for in the waits it reads.
const LAG: i64 = 5;

#[tokio::test]
async fn each_resend_waits_twice_as_long_as_the_one_before_and_starting_again_does_not_escape_it() {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let (user, step_up, number, id) = pending_phone(&stack).await;
    // 1, 2, 4 and 8 minutes, each plus up to a quarter; asking early sends nothing.
    for (i, base) in [60, 120, 240, 480].into_iter().enumerate() {
        let wait = waits(
            &resend(api, &user, &id, "sms").await,
            base - LAG..=base + base / 4,
        );
        let ready = unix_now() as i64 + wait;
        // Asking again does not find an earlier time, nor does starting the enrolment again.
        let again = waits(&resend(api, &user, &id, "sms").await, 1..=wait);
        assert!(
            (unix_now() as i64 + again - ready).abs() <= 1,
            "{again} {wait}"
        );
        let again = start_phone(api, &user, &step_up, &fresh_mobile(), "sms").await;
        let again = waits(&again, 1..=wait);
        assert!(
            (unix_now() as i64 + again - ready).abs() <= 1,
            "{again} {wait}"
        );
        assert_eq!(
            sms_to(moto, &number).await.len(),
            i + 1,
            "nothing sent early"
        );
        stack
            .advance_clock(ready - unix_now() as i64 - 2 * LAG)
            .await;
        waits(&resend(api, &user, &id, "sms").await, 1..=2 * LAG);
        stack.advance_clock(2 * LAG).await;
        let r = resend(api, &user, &id, "sms").await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    // The code that went out last is the one that works.
    let codes = sms_to(moto, &number).await;
    assert_eq!(codes.len(), 5);
    let code = code_in(codes.last().unwrap(), 6).unwrap();
    assert_eq!(verify_phone(api, &user, &id, &code).await.status, 200);

    // An hour with no code starts the back-off again. A new login's first code goes out at
    // once; another code for the same login is a resend, and waits.
    stack.advance_clock(3600).await;
    let first = pending_login(api, &user).await.0;
    assert_eq!(send_code(api, &user, &first, "sms").await.status, 202);
    waits(&send_code(api, &user, &first, "voice").await, 60 - LAG..=75);
    assert!(calls_to(&number).is_empty(), "no call for a refused resend");
    let second = pending_login(api, &user).await.0;
    assert_eq!(send_code(api, &user, &second, "sms").await.status, 202);
    // Two codes in the hour now: the next resend waits two minutes.
    waits(
        &send_code(api, &user, &second, "voice").await,
        120 - LAG..=150,
    );
}

#[tokio::test]
async fn a_resend_that_fails_to_go_out_does_not_lengthen_the_back_off() {
    let mut stack = PrivateStack::start().await;
    let (user, _, _, id) = pending_phone(&stack).await;
    stack.advance_clock(76).await;
    // The data key is in the gateway's memory: only SNS fails now.
    stack.stop_moto();
    for _ in 0..3 {
        let r = resend(&stack.api, &user, &id, "sms").await;
        assert_eq!(r.status, 503, "{:?}", r.body);
    }
    stack.restart_moto().await;
    let r = resend(&stack.api, &user, &id, "sms").await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    // Had the failed resends counted, this wait would be 16 minutes, not 2.
    waits(
        &resend(&stack.api, &user, &id, "sms").await,
        120 - LAG..=150,
    );
    stack.stop_moto();
}

#[tokio::test]
async fn given_a_landline_then_voice_is_accepted_and_sms_refused() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    // A London landline of the range kept for drama, a different one each run: the
    // number's own send limits outlast a run on a long-lived local stack.
    let landline = &format!("+44207946{:04}", uuid::Uuid::new_v4().as_u128() % 1000);
    secrets::saw(landline);
    let sms = start_phone(&api, &user, &step_up, landline, "sms").await;
    assert_eq!((sms.status.as_u16(), sms.code()), (400, "invalid_request"));
    assert!(sms.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("landline"));
    let voice = start_phone(&api, &user, &step_up, landline, "voice").await;
    assert_eq!(voice.status, 201, "{:?}", voice.body);
    assert!(calls_to(landline)
        .last()
        .unwrap()
        .contains("verification code"));
}

#[tokio::test]
async fn given_a_number_typed_with_spaces_and_punctuation_or_as_national_then_it_is_stored_as_e164()
{
    let api = Api::shared();
    let moto = moto_url();
    // +33 6 ab cd ef gh, typed three ways.
    for (typed, country) in [
        (Some("+33 6 {a} {b} {c} {d}"), None),
        (Some("+33 (6) {a}-{b}.{c}.{d}"), None),
        (Some("06 {a} {b} {c} {d}"), Some("FR")),
    ] {
        let e164 = fresh_mobile();
        let rest = &e164[4..];
        let typed = typed
            .unwrap()
            .replace("{a}", &rest[0..2])
            .replace("{b}", &rest[2..4])
            .replace("{c}", &rest[4..6])
            .replace("{d}", &rest[6..8]);
        let user = User::new("paid");
        let step_up = api.step_up(&moto, &user).await;
        let mut body = json!({ "phone_number": typed, "channel": "sms" });
        if let Some(c) = country {
            body["country"] = c.into();
        }
        let r = start_phone_with(&api, &user, &step_up, body).await;
        assert_eq!(r.status, 201, "{typed}: {:?}", r.body);
        assert_eq!(
            r.body["phone"].as_str().unwrap(),
            format!("+33*****{}", &e164[8..]),
            "{typed}"
        );
        // The code went to the E.164 number, and it verifies.
        let sms = sms_to(&moto, &e164).await;
        let code = code_in(sms.last().expect("an SMS to the E.164 number"), 6).unwrap();
        let id = r.body["factor_id"].as_str().unwrap();
        let done = verify_phone(&api, &user, id, &code).await;
        assert_eq!(done.status, 200, "{typed}: {:?}", done.body);
        assert_eq!(done.body["factor"]["phone"], r.body["phone"]);
    }
}

#[tokio::test]
async fn given_ten_malformed_or_unsuitable_numbers_then_each_is_refused_with_a_reason() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let cases = [
        ("4155552671", "country code"),
        ("+1 415 555 2671 ext 3", "digits, spaces, dashes"),
        ("+1/415/555/2671", "digits, spaces, dashes"),
        ("+999123456789", "not a phone number"),
        ("+1415555", "valid"),
        ("+18005550199", "toll-free"),
        ("+19005550123", "premium"),
        ("+445612345678", "VoIP"),
        ("+447640123456", "cannot receive codes"),
        ("+2348031234567", "country"),
    ];
    for (number, reason) in cases {
        let r = start_phone(&api, &user, &step_up, number, "sms").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{number}"
        );
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(reason), "{number}: {msg}");
    }
    for body in [
        json!({ "phone_number": 33612345678u64, "channel": "sms" }),
        json!({ "phone_number": "+33612345678", "channel": "fax" }),
        json!({ "phone_number": "+33612345678" }),
    ] {
        let r = api
            .send(
                "POST",
                "/v1/factors/phone",
                &user,
                Some(&step_up),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_request"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn given_a_deny_listed_number_then_it_is_refused() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    // PHONE_DENY_LIST in local/env.sh: the operator's own numbers.
    let r = start_phone(&api, &user, &step_up, "+14155550100", "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_request"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot be used"));
    assert!(sms_to(&moto_url(), "+14155550100").await.is_empty());
}

#[tokio::test]
async fn given_one_number_then_codes_to_it_are_limited_per_hour_whoever_asks() {
    let api = Api::shared();
    let number = fresh_mobile();
    // Five users each ask once: the number's hourly budget (5) is spent.
    for _ in 0..5 {
        let user = User::new("paid");
        let step_up = api.step_up(&moto_url(), &user).await;
        assert_eq!(
            start_phone(&api, &user, &step_up, &number, "sms")
                .await
                .status,
            201
        );
    }
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let r = start_phone(&api, &user, &step_up, &number, "sms").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 900 && retry <= 3600, "{retry}");
    assert_eq!(sms_to(&moto_url(), &number).await.len(), 5);
}

#[tokio::test]
async fn given_a_new_number_verified_in_place_of_a_phone_then_it_replaces_it_and_reset_removes_it()
{
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let (first, second) = (fresh_mobile(), fresh_mobile());
    let r = start_phone(&api, &user, &step_up, &first, "sms").await;
    let first_id = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = code_in(&sms_to(&moto_url(), &first).await[0], 6).unwrap();
    assert_eq!(
        verify_phone(&api, &user, &first_id, &code).await.status,
        200
    );

    // Changing the number needs a step-up with the first one (the email one no longer does).
    user.holds_phone(&first);
    let step_up = api.step_up(&moto_url(), &user).await;
    let body = json!({ "phone_number": second, "channel": "sms", "replaces": first_id });
    let r = start_phone_with(&api, &user, &step_up, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let second_id = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = code_in(&sms_to(&moto_url(), &second).await[0], 6).unwrap();
    let ok = verify_phone(&api, &user, &second_id, &code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert!(ok.body.get("recovery_code").is_none());

    // The phone it replaced is gone.
    let gone = api
        .send(
            "DELETE",
            &format!("/v1/factors/phone/{first_id}"),
            &user,
            Some(&step_up),
            None,
            &[],
        )
        .await;
    assert_eq!((gone.status.as_u16(), gone.code()), (404, "not_found"));
    let subjects: Vec<String> = mails_to(&moto_url(), &user.email)
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("phone number changed")),
        "{subjects:?}"
    );
    assert!(table_text(&table_name())
        .await
        .contains("action=phone_changed"));

    // "Reset" next to the number.
    let reset = api
        .send(
            "DELETE",
            &format!("/v1/factors/phone/{second_id}"),
            &user,
            Some(&step_up),
            None,
            &[],
        )
        .await;
    assert_eq!(reset.status, 204);
    // A new phone can be added afterwards, and is the first factor again.
    let third = fresh_mobile();
    let r = start_phone(&api, &user, &step_up, &third, "sms").await;
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = code_in(&sms_to(&moto_url(), &third).await[0], 6).unwrap();
    let ok = verify_phone(&api, &user, &id, &code).await;
    assert_eq!(ok.status, 200);
    assert!(ok.body["recovery_code"].is_string());
}

/// Adds `number` as one more phone of `user` with the step-up token `step_up`, and verifies
/// it; the factor id. The next phone is verified at least a second later, so the order the
/// service keeps them in (by verification) is this order.
async fn add_another_phone(api: &Api, user: &User, step_up: &str, number: &str) -> String {
    let r = start_phone(api, user, step_up, number, "sms").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    let code = code_in(sms_to(&moto_url(), number).await.last().unwrap(), 6).unwrap();
    let ok = verify_phone(api, user, &id, &code).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    id
}

/// A user with an authenticator app (their step-ups take no text, so the texts of a test stay
/// within the 5 per 15 minutes a user may get) and `n` phones: the user, a step-up token, the
/// numbers and the phones' ids.
async fn user_with_phones(api: &Api, n: usize) -> (User, String, Vec<String>, Vec<String>) {
    let (user, _, _) = user_with_app(api).await;
    let step_up = api.step_up(&moto_url(), &user).await;
    let numbers: Vec<String> = (0..n).map(|_| fresh_mobile()).collect();
    let mut ids = Vec::with_capacity(n);
    for number in &numbers {
        ids.push(add_another_phone(api, &user, &step_up, number).await);
    }
    (user, step_up, numbers, ids)
}

fn ends_like(masked: &Value, number: &str) -> bool {
    masked
        .as_str()
        .is_some_and(|m| m.ends_with(&number[number.len() - 4..]))
}

/// A login code by SMS to the phone `factor_id`.
async fn send_to(api: &Api, user: &User, challenge: &str, factor_id: &str) -> Reply {
    let path = format!("/v1/challenges/{challenge}/send");
    let body = json!({ "channel": "sms", "factor_id": factor_id });
    api.send("POST", &path, user, None, Some(body), &[]).await
}

/// How many texts each number has had.
async fn texts_to_each(numbers: &[String]) -> Vec<usize> {
    let mut out = Vec::with_capacity(numbers.len());
    for n in numbers {
        out.push(sms_to(&moto_url(), n).await.len());
    }
    out
}

#[tokio::test]
async fn three_phones_are_kept_side_by_side_a_fourth_is_refused_and_a_login_sends_to_the_one_picked(
) {
    let api = Api::shared();
    let (user, step_up, numbers, ids) = user_with_phones(&api, 3).await;
    // A fourth is refused, and so is a number the user already has: no code goes out.
    let fourth = fresh_mobile();
    for number in [&fourth, &numbers[0]] {
        let before = sms_to(&moto_url(), number).await.len();
        let r = start_phone(&api, &user, &step_up, number, "sms").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (409, "conflict"),
            "{:?}",
            r.body
        );
        assert_eq!(sms_to(&moto_url(), number).await.len(), before);
    }
    let page = api.send("GET", "/v1/mfa", &user, None, None, &[]).await;
    let phones = |page: &Value| -> Vec<Value> {
        page["factors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == "phone" && f["status"] == "active")
            .cloned()
            .collect()
    };
    assert_eq!(phones(&page.body).len(), 3, "{:?}", page.body);

    // The login lists each phone, in the order they were added, with what it takes.
    let (id, body) = pending_login(&api, &user).await;
    let offered = body["phones"].as_array().unwrap();
    assert_eq!(offered.len(), 3, "{body:?}");
    for ((p, fid), number) in offered.iter().zip(&ids).zip(&numbers) {
        assert_eq!(p["factor_id"], fid.as_str());
        assert!(ends_like(&p["phone"], number), "{p:?}");
        assert_eq!(p["channels"], json!(["sms", "voice"]));
    }
    // The code goes to the phone picked, and to no other; only that phone is marked used.
    let before = texts_to_each(&numbers).await;
    let r = send_to(&api, &user, &id, &ids[1]).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert!(ends_like(&r.body["to"], &numbers[1]));
    let after = texts_to_each(&numbers).await;
    assert_eq!(after, vec![before[0], before[1] + 1, before[2]]);
    let code = code_in(sms_to(&moto_url(), &numbers[1]).await.last().unwrap(), 6).unwrap();
    assert_eq!(verify(&api, &user, &id, "sms", &code).await.status, 200);
    let page = api.send("GET", "/v1/mfa", &user, None, None, &[]).await;
    let used: Vec<bool> = phones(&page.body)
        .iter()
        .map(|f| f.get("last_used_at").is_some())
        .collect();
    assert_eq!(used.iter().filter(|u| **u).count(), 1, "{:?}", page.body);

    // A phone that is not one of the user's: 404, nothing sent. A malformed id: 400.
    let (id, _) = pending_login(&api, &user).await;
    let (other, _) = user_with_phone(&api).await;
    let (_, theirs) = pending_login(&api, &other).await;
    let theirs = theirs["phones"][0]["factor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for fid in [uuid::Uuid::new_v4().to_string(), theirs] {
        let r = send_to(&api, &user, &id, &fid).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (404, "not_found"),
            "{:?}",
            r.body
        );
    }
    let r = send_to(&api, &user, &id, "x").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_request"));
    assert_eq!(texts_to_each(&numbers).await, after, "nothing sent");

    // A code sent to a phone that is removed before it is entered is worthless.
    let r = send_to(&api, &user, &id, &ids[2]).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let code = code_in(sms_to(&moto_url(), &numbers[2]).await.last().unwrap(), 6).unwrap();
    let path = format!("/v1/factors/phone/{}", ids[2]);
    let gone = api
        .send("DELETE", &path, &user, Some(&step_up), None, &[])
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    let r = verify(&api, &user, &id, "sms", &code).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_code"));
}

#[tokio::test]
async fn a_removed_phone_frees_its_place_for_another() {
    let api = Api::shared();
    let (user, step_up, _, ids) = user_with_phones(&api, 3).await;
    let path = format!("/v1/factors/phone/{}", ids[1]);
    let gone = api
        .send("DELETE", &path, &user, Some(&step_up), None, &[])
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    add_another_phone(&api, &user, &step_up, &fresh_mobile()).await;
    let (_, body) = pending_login(&api, &user).await;
    assert_eq!(body["phones"].as_array().unwrap().len(), 3, "{body:?}");
}

#[tokio::test]
async fn with_two_phones_each_code_approves_once_and_wrong_codes_share_the_accounts_budget() {
    let api = Api::shared();
    let (user, _, numbers, ids) = user_with_phones(&api, 2).await;
    // Replay, per phone: the code approves its login once; again, it is refused.
    for (fid, number) in ids.iter().zip(&numbers) {
        let (id, _) = pending_login(&api, &user).await;
        let r = send_to(&api, &user, &id, fid).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let code = code_in(sms_to(&moto_url(), number).await.last().unwrap(), 6).unwrap();
        assert_eq!(verify(&api, &user, &id, "sms", &code).await.status, 200);
        let again = verify(&api, &user, &id, "sms", &code).await;
        assert_eq!((again.status.as_u16(), again.code()), (410, "expired"));
    }
    // Wrong codes, whichever phone a login could use, come out of one budget: 10 an hour.
    let mut wrong = 0;
    while wrong < 10 {
        let (id, _) = pending_login(&api, &user).await;
        for _ in 0..4.min(10 - wrong) {
            let r = verify(&api, &user, &id, "sms", "000000").await;
            assert_eq!(r.code(), "invalid_code", "{:?}", r.body);
            wrong += 1;
        }
    }
    let (id, _) = pending_login(&api, &user).await;
    let r = verify(&api, &user, &id, "sms", "000000").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (429, "rate_limited"),
        "{:?}",
        r.body
    );
}
