//! Flows 2 and 5 and the TOTP step-up, over HTTP against the local stack: an authenticator
//! app enrolled by scanning the PNG QR code, replay protection, recovery codes, events.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn given_a_scanned_qr_code_when_the_app_code_is_confirmed_then_the_factor_is_active_with_a_recovery_code_once(
) {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;

    // Without step-up: refused.
    let r = api
        .send(
            "POST",
            "/v1/factors/totp",
            &user,
            None,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));

    let r = start_app(&api, &user, &step_up, json!({ "label": "Phone" })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(
        (r.body["digits"].as_u64(), r.body["period"].as_u64()),
        (Some(6), Some(30))
    );
    assert_eq!(r.body["algorithm"], "SHA1");
    assert!(r.body["qr_svg"].as_str().unwrap().contains("<svg"));
    // The camera's view of the PNG is the URI the response states, with issuer and account.
    let uri = decode_qr_png(r.body["qr_png_base64"].as_str().unwrap());
    assert_eq!(uri, r.body["otpauth_uri"].as_str().unwrap());
    assert!(
        uri.starts_with("otpauth://totp/")
            && uri.contains("issuer=")
            && uri.contains("%40example.com")
    );
    assert_eq!(
        data_encoding::BASE32_NOPAD
            .decode(r.body["secret"].as_str().unwrap().as_bytes())
            .unwrap()
            .len(),
        20
    );
    let id = r.body["factor_id"].as_str().unwrap();
    let verify = format!("/v1/factors/totp/{id}/verify");

    let code = app_code(&uri, unix_now());
    let wrong = api
        .send(
            "POST",
            &verify,
            &user,
            None,
            Some(json!({ "code": wrong_code(&code) })),
            &[],
        )
        .await;
    assert_eq!((wrong.status.as_u16(), wrong.code()), (400, "invalid_code"));
    assert_eq!(wrong.body["error"]["attempts_remaining"], 4);

    let ok = api
        .send(
            "POST",
            &verify,
            &user,
            None,
            Some(json!({ "code": code })),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["factor"]["status"], "active");
    assert_eq!(ok.body["factor"]["label"], "Phone");
    assert!(ok.body["factor"].get("secret").is_none());
    let recovery = ok.body["recovery_code"]
        .as_str()
        .expect("first factor gets a recovery code");
    assert_eq!(recovery.len(), 32);

    // Confirming again is refused; a second app does not get another recovery code.
    let again = api
        .send(
            "POST",
            &verify,
            &user,
            None,
            Some(json!({ "code": code })),
            &[],
        )
        .await;
    assert_eq!((again.status.as_u16(), again.code()), (409, "conflict"));
    // The second app needs a step-up with the first (the email one no longer does).
    user.holds_app(&uri, 0);
    let (_, _, second) = enroll_app(&api, &moto_url(), &user, "Tablet").await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert!(second.body.get("recovery_code").is_none());

    // The account was told, and the trail has the events.
    let subjects: Vec<String> = mails_to(&moto_url(), &user.email)
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("two-factor method was added")),
        "{subjects:?}"
    );
    let dump = table_text(&table_name()).await;
    assert!(dump.contains(&format!("target={}", user.sub)));
    assert!(dump.contains("action=factor_added"));
}

#[tokio::test]
async fn given_twenty_concurrent_totp_step_ups_with_one_valid_code_then_exactly_one_succeeds() {
    let api = Api::shared();
    let user = User::new("paid");
    let (_, uri, confirm) = enroll_app(&api, &moto_url(), &user, "Phone").await;
    assert_eq!(confirm.status, 200);
    // The next step's code: valid now (+1 step skew) and newer than the one used to confirm.
    let code = app_code(&uri, unix_now() + 30);
    let statuses = api
        .post_concurrently(20, "/v1/step-up/totp", &user.token, json!({ "code": code }))
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 400, 429].contains(s)),
        "{statuses:?}"
    );
    // The same code later: still refused.
    let replay = api
        .post("/v1/step-up/totp", &user.token, json!({ "code": code }))
        .await;
    assert_ne!(replay.status, 200);
}

#[tokio::test]
async fn given_wrong_totp_codes_then_step_up_is_refused_and_limited() {
    let api = Api::shared();
    let user = User::new("paid");
    let none = api
        .post("/v1/step-up/totp", &user.token, json!({ "code": "123456" }))
        .await;
    assert_eq!((none.status.as_u16(), none.code()), (409, "conflict"));
    let (_, uri, _) = enroll_app(&api, &moto_url(), &user, "Phone").await;
    let wrong = wrong_code(&app_code(&uri, unix_now() + 30));
    for remaining in (0..5).rev() {
        let r = api
            .post("/v1/step-up/totp", &user.token, json!({ "code": wrong }))
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_code"));
        assert_eq!(r.body["error"]["attempts_remaining"], remaining);
    }
    let limited = api
        .post(
            "/v1/step-up/totp",
            &user.token,
            json!({ "code": app_code(&uri, unix_now() + 30) }),
        )
        .await;
    assert_eq!(
        (limited.status.as_u16(), limited.code()),
        (429, "rate_limited")
    );
    assert!(limited.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn given_five_apps_then_a_sixth_is_refused_and_delete_needs_step_up() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let mut ids = vec![];
    for i in 0..5 {
        let r = api
            .send(
                "POST",
                "/v1/factors/totp",
                &user,
                Some(&step_up),
                Some(json!({ "label": format!("App {i}") })),
                &[],
            )
            .await;
        assert_eq!(r.status, 201);
        ids.push(r.body["factor_id"].as_str().unwrap().to_owned());
    }
    let sixth = start_app(&api, &user, &step_up, json!({})).await;
    assert_eq!((sixth.status.as_u16(), sixth.code()), (409, "conflict"));

    let path = format!("/v1/factors/totp/{}", ids[0]);
    let r = api.send("DELETE", &path, &user, None, None, &[]).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));
    let r = api
        .send("DELETE", &path, &user, Some("not-a-token"), None, &[])
        .await;
    assert_eq!(r.status, 403);
    let other = User::new("paid");
    let others_token = api.step_up(&moto_url(), &other).await;
    let r = api
        .send("DELETE", &path, &user, Some(&others_token), None, &[])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "step_up_required"),
        "a step-up token is bound to its user"
    );
    let r = api
        .send("DELETE", &path, &user, Some(&step_up), None, &[])
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .send("DELETE", &path, &user, Some(&step_up), None, &[])
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    let bad = api
        .send(
            "DELETE",
            "/v1/factors/totp/nope",
            &user,
            Some(&step_up),
            None,
            &[],
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "invalid_request"));
    // Room again for one more.
    let r = start_app(&api, &user, &step_up, json!({})).await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn given_a_pending_app_left_for_ten_minutes_then_it_lapses() {
    let stack = PrivateStack::start().await;
    let user = User::new("paid");
    let step_up = stack.api.step_up(&stack.moto, &user).await;
    let r = start_app(&stack.api, &user, &step_up, json!({})).await;
    assert_eq!(r.status, 201);
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_owned();
    let id = r.body["factor_id"].as_str().unwrap().to_owned();
    stack.advance_clock(601).await;
    let code = app_code(&uri, unix_now() + 601);
    let late = stack
        .api
        .send(
            "POST",
            &format!("/v1/factors/totp/{id}/verify"),
            &user,
            None,
            Some(json!({ "code": code })),
            &[],
        )
        .await;
    assert_eq!((late.status.as_u16(), late.code()), (410, "expired"));
}

#[tokio::test]
async fn given_a_regenerated_recovery_code_then_the_old_one_is_refused_and_the_new_one_accepted() {
    let api = Api::shared();
    let user = User::new("paid");
    let no_factor_token = api.step_up(&moto_url(), &user).await;
    let r = api
        .send(
            "POST",
            "/v1/recovery-code",
            &user,
            Some(&no_factor_token),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "conflict"),
        "no recovery code before 2FA is on"
    );

    let (_, _, confirm) = enroll_app(&api, &moto_url(), &user, "Phone").await;
    let first = confirm.body["recovery_code"].as_str().unwrap().to_owned();
    let r = api
        .send("POST", "/v1/recovery-code", &user, None, None, &[])
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"));

    let step_up = api.step_up(&moto_url(), &user).await;
    let r = api
        .send(
            "POST",
            "/v1/recovery-code",
            &user,
            Some(&step_up),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let second = r.body["recovery_code"].as_str().unwrap().to_owned();
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));

    let text = api
        .send(
            "POST",
            "/v1/recovery-code",
            &user,
            Some(&step_up),
            None,
            &[("accept", "text/plain")],
        )
        .await;
    assert_eq!(text.status, 201);
    assert_eq!(
        text.headers["content-disposition"],
        "attachment; filename=\"recovery-code.txt\""
    );
    assert!(text.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let third = text
        .text
        .lines()
        .find(|l| l.len() == 32 && l.matches('-').count() == 6)
        .unwrap()
        .to_owned();
    assert_ne!(third, second);

    // Redeemed by the recovery-code step-up: only the latest code works, once.
    for old in [&first, &second] {
        assert_eq!(
            step_up_by_recovery(&api, &user, old).await.code(),
            "invalid_code"
        );
    }
    let next = step_up_by_recovery(&api, &user, &third).await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(
        step_up_by_recovery(&api, &user, &third).await.code(),
        "invalid_code"
    );
    assert_ne!(next.body["new_recovery_code"].as_str().unwrap(), third);

    let subjects: Vec<String> = mails_to(&moto_url(), &user.email)
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("recovery code was replaced")),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn given_enrolled_apps_and_recovery_codes_then_the_table_holds_none_of_their_secrets() {
    let api = Api::shared();
    let user = User::new("paid");
    let step_up = api.step_up(&moto_url(), &user).await;
    let r = start_app(&api, &user, &step_up, json!({})).await;
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let raw = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let uri = decode_qr_png(r.body["qr_png_base64"].as_str().unwrap());
    let id = r.body["factor_id"].as_str().unwrap();
    let confirm = api
        .send(
            "POST",
            &format!("/v1/factors/totp/{id}/verify"),
            &user,
            None,
            Some(json!({ "code": app_code(&uri, unix_now()) })),
            &[],
        )
        .await;
    let recovery = confirm.body["recovery_code"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let dump = table_text(&table_name()).await;
    assert!(!dump.contains(&secret));
    assert!(!dump.contains(&recovery));
    assert!(!dump.contains(&String::from_utf8_lossy(&raw).into_owned()));
}

/// `PATCH` a factor's label at `path`, with `step_up` if given.
pub(crate) async fn rename(
    api: &Api,
    user: &User,
    path: &str,
    step_up: Option<&str>,
    label: &str,
) -> Reply {
    api.send(
        "PATCH",
        path,
        user,
        step_up,
        Some(json!({ "label": label })),
        &[],
    )
    .await
}

#[tokio::test]
async fn an_app_and_a_phone_are_renamed_only_with_a_factor_step_up_and_show_their_new_names() {
    let api = Api::shared();
    let (user, _, _) = user_with_app(&api).await;
    add_phone(&api, &user).await;
    let page = api.send("GET", "/v1/mfa", &user, None, None, &[]).await;
    let id_of = |kind: &str| {
        page.body["factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["type"] == kind)
            .and_then(|f| f["factor_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let (app, phone) = (id_of("totp"), id_of("phone"));
    // The mailbox alone is not enough once the user has a factor.
    let by_email = api.step_up_by_email(&moto_url(), &user).await;
    let step_up = api.step_up(&moto_url(), &user).await;
    // A user of their own (no factor, so their email step-up may change things).
    let stranger = User::new("paid");
    let theirs = api.step_up_by_email(&moto_url(), &stranger).await;
    for (kind, id, other, name) in [
        ("totp", &app, &phone, "Work laptop"),
        ("phone", &phone, &app, "Work phone"),
    ] {
        let path = format!("/v1/factors/{kind}/{id}");
        for token in [None, Some(by_email.as_str())] {
            let r = rename(&api, &user, &path, token, name).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (403, "step_up_required"),
                "{kind}"
            );
        }
        let r = rename(&api, &user, &path, Some(&step_up), &format!("  {name} ")).await;
        assert_eq!(r.status, 200, "{kind}: {:?}", r.body);
        assert_eq!(
            (r.body["label"].as_str(), r.body["type"].as_str()),
            (Some(name), Some(kind))
        );
        if kind == "phone" {
            assert!(r.body["phone"].as_str().unwrap().starts_with("+33*****"));
        }
        for bad in ["", &"x".repeat(65), "a\nb"] {
            let r = rename(&api, &user, &path, Some(&step_up), bad).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (400, "invalid_request"),
                "{bad:?}"
            );
        }
        // Another kind's id, an unknown id and another user's factor are not the caller's.
        let wrong_kind = format!("/v1/factors/{kind}/{other}");
        let unknown = format!("/v1/factors/{kind}/{}", uuid::Uuid::new_v4());
        for path in [wrong_kind, unknown] {
            let r = rename(&api, &user, &path, Some(&step_up), "x").await;
            assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"), "{path}");
        }
        let r = rename(
            &api,
            &stranger,
            &format!("/v1/factors/{kind}/{id}"),
            Some(&theirs),
            "x",
        )
        .await;
        assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    }
    let page = api.send("GET", "/v1/mfa", &user, None, None, &[]).await;
    let labels: Vec<_> = page.body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap(),
                f["label"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(labels.contains(&("totp", "Work laptop")), "{labels:?}");
    assert!(labels.contains(&("phone", "Work phone")), "{labels:?}");
}

/// The user's factors of `kind` as `GET /v1/mfa` lists them.
async fn listed(api: &Api, user: &User, kind: &str) -> Vec<serde_json::Value> {
    let page = api.send("GET", "/v1/mfa", user, None, None, &[]).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    page.body["factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_factor_shows_when_it_was_added_and_when_a_login_or_step_up_last_used_it() {
    let api = Api::shared();
    let (user, number) = user_with_phone(&api).await;
    let phone = listed(&api, &user, "phone").await.remove(0);
    assert!(phone["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(phone.get("last_used_at").is_none(), "{phone:?}");

    // A login by SMS uses the phone.
    let c = challenge(&api, &user).await;
    let id = c.body["challenge_id"].as_str().unwrap().to_owned();
    assert_eq!(send_code(&api, &user, &id, "sms").await.status, 202);
    let code = code_in(sms_to(&moto_url(), &number).await.last().unwrap(), 6).unwrap();
    assert_eq!(verify(&api, &user, &id, "sms", &code).await.status, 200);
    let phone = listed(&api, &user, "phone").await.remove(0);
    let used = phone["last_used_at"].as_str().unwrap().to_owned();
    assert!(
        used.as_str() >= phone["created_at"].as_str().unwrap(),
        "{phone:?}"
    );

    // An app added next is unused until a login takes its code.
    let (_, uri, ok) = enroll_app(&api, &moto_url(), &user, "Laptop").await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let app = listed(&api, &user, "totp").await.remove(0);
    assert!(app["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(app.get("last_used_at").is_none(), "{app:?}");
    let c = challenge(&api, &user).await;
    let id = c.body["challenge_id"].as_str().unwrap();
    let r = verify(&api, &user, id, "totp", &app_code(&uri, unix_now() + 30)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let app = listed(&api, &user, "totp").await.remove(0);
    assert!(app["last_used_at"].as_str().unwrap() >= app["created_at"].as_str().unwrap());

    // A step-up by phone uses the phone too.
    let (other, number) = user_with_phone(&api).await;
    assert!(listed(&api, &other, "phone").await[0]
        .get("last_used_at")
        .is_none());
    api.step_up_by_phone(&moto_url(), &other, &number).await;
    assert!(listed(&api, &other, "phone").await[0]["last_used_at"]
        .as_str()
        .is_some());
}
