//! Replay races at scale (`make fuzz`, ignored by `make test`): for every way a code is checked,
//! 50 rounds of 20 concurrent requests carrying the same valid code. A round passes when at
//! most one request succeeds; the run fails on any round with two or more. Each round prints a
//! line, and each way a summary (`[races] <way>: <rounds> rounds, <n> with one success, 0 with
//! more`), which docs/SECURITY.md reports.

use e2e::*;
use serde_json::{json, Value};

const ROUNDS: usize = 50;
const CONCURRENT: usize = 20;

/// Runs `ROUNDS` rounds: `round()` sets one up and returns the path and body to race.
async fn race<F, Fut>(way: &str, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (Api, String, String, Value)>,
{
    let (mut single, mut none) = (0, 0);
    for n in 0..ROUNDS {
        let (api, token, path, body) = round().await;
        let statuses = api.post_concurrently(CONCURRENT, &path, &token, body).await;
        let ok = statuses.iter().filter(|s| (200..300).contains(*s)).count();
        assert!(
            statuses.iter().all(|s| *s < 500),
            "{way} round {n}: a 5xx: {statuses:?}"
        );
        assert!(ok <= 1, "{way} round {n}: {ok} successes: {statuses:?}");
        if ok == 1 {
            single += 1
        } else {
            none += 1
        }
    }
    println!(
        "[races] {way}: {ROUNDS} rounds of {CONCURRENT}, {single} with one success, {none} with none, 0 with more"
    );
    // A round where the valid code never passes would hide a broken setup.
    assert!(
        single >= ROUNDS * 9 / 10,
        "{way}: only {single} rounds passed at all"
    );
}

async fn login_challenge(api: &Api, user: &User) -> String {
    pending_login(api, user).await.0
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_login_by_app() {
    race("login by app", || async {
        let api = Api::shared();
        let (user, uri, _) = user_with_app(&api).await;
        let id = login_challenge(&api, &user).await;
        let code = app_code(&uri, unix_now() + 30);
        let body = json!({ "method": "totp", "code": code });
        (
            api,
            user.token.clone(),
            format!("/v1/challenges/{id}/verify"),
            body,
        )
    })
    .await;
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_login_by_recovery_code() {
    race("login by recovery code", || async {
        let api = Api::shared();
        let (user, _, recovery) = user_with_app(&api).await;
        let id = login_challenge(&api, &user).await;
        let body = json!({ "method": "recovery_code", "code": recovery });
        (
            api,
            user.token.clone(),
            format!("/v1/challenges/{id}/verify"),
            body,
        )
    })
    .await;
}

async fn phone_round(channel: &'static str) -> (Api, String, String, Value) {
    let api = Api::shared();
    let (user, number) = user_with_phone(&api).await;
    let id = login_challenge(&api, &user).await;
    let sent = send_code(&api, &user, &id, channel).await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let code = match channel {
        "sms" => code_in(sms_to(&moto_url(), &number).await.last().unwrap(), 6).unwrap(),
        _ => spoken_code(calls_to(&number).last().unwrap()),
    };
    let body = json!({ "method": channel, "code": code });
    (
        api,
        user.token.clone(),
        format!("/v1/challenges/{id}/verify"),
        body,
    )
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_login_by_sms() {
    race("login by SMS", || phone_round("sms")).await;
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_login_by_voice() {
    race("login by voice", || phone_round("voice")).await;
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_email_step_up() {
    race("email step-up", || async {
        let api = Api::shared();
        let user = User::new("trial");
        let id = api.start_step_up(&user).await;
        let mail = latest_mail(&moto_url(), &user.email).await;
        let code = code_in(&mail.body, 6).unwrap();
        let body = json!({ "challenge_id": id, "code": code });
        (
            api,
            user.token.clone(),
            "/v1/step-up/email/verify".to_owned(),
            body,
        )
    })
    .await;
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_totp_step_up() {
    race("TOTP step-up", || async {
        let api = Api::shared();
        let (user, uri, _) = user_with_app(&api).await;
        let body = json!({ "code": app_code(&uri, unix_now() + 30) });
        (api, user.token.clone(), "/v1/step-up/totp".to_owned(), body)
    })
    .await;
}

#[tokio::test]
#[ignore = "make fuzz"]
async fn replay_race_factor_activation() {
    race("app activation", || async {
        let api = Api::shared();
        let user = User::new("trial");
        let step_up = api.step_up(&moto_url(), &user).await;
        let r = start_app(&api, &user, &step_up, json!({})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["factor_id"].as_str().unwrap();
        let code = app_code(r.body["otpauth_uri"].as_str().unwrap(), unix_now());
        let body = json!({ "code": code });
        (
            api,
            user.token.clone(),
            format!("/v1/factors/totp/{id}/verify"),
            body,
        )
    })
    .await;
}
