//! What the gateways log: one JSON line per request naming it, counters in CloudWatch Embedded
//! Metric Format, and (after the whole suite) no secret the suite saw.

use e2e::secrets::leaks;
use e2e::{code_for, wrong_code, PrivateStack, User};
use mfa_domain::rules::MAX_ATTEMPTS_PER_CHALLENGE;
use serde_json::{json, Value};

/// The JSON lines of a log, as written so far.
pub(crate) fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The counter lines of one request (by its API Gateway request id).
pub(crate) fn counted(log: &[Value], request_id: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l["request_id"] == request_id && l.get("_aws").is_some())
        .filter_map(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].as_str())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn request_id(r: &e2e::Reply) -> String {
    r.headers
        .get("apigw-requestid")
        .and_then(|v| v.to_str().ok())
        .expect("the answer names its request")
        .to_owned()
}

#[tokio::test]
async fn given_codes_sent_checked_and_refused_then_each_request_is_one_named_line_and_counted_in_emf(
) {
    let mut stack = PrivateStack::start().await;
    let user = User::new("paid");
    let send = stack
        .api
        .post("/v1/step-up/email", &user.token, json!({}))
        .await;
    assert_eq!(send.status, 202);
    let id = send.body["challenge_id"].as_str().unwrap().to_owned();
    let code = e2e::code_in(&e2e::latest_mail(&stack.moto, &user.email).await.body, 6).unwrap();
    let wrong = stack
        .api
        .verify_step_up(&user, &id, &wrong_code(&code))
        .await;
    assert_eq!(wrong.code(), "invalid_code");
    let right = stack.api.verify_step_up(&user, &id, &code).await;
    assert_eq!(right.status, 200);
    // A second challenge whose tries all go on wrong codes: the last one locks it.
    let (other, other_code) = code_for(&stack.api, &stack.moto, &user).await;
    let mut last = None;
    for _ in 0..MAX_ATTEMPTS_PER_CHALLENGE {
        last = Some(
            stack
                .api
                .verify_step_up(&user, &other, &wrong_code(&other_code))
                .await,
        );
    }
    let locked = last.unwrap();
    assert_eq!(locked.code(), "too_many_attempts");
    // The mail service goes away: the send is refused and counted as a delivery failure.
    stack.stop_moto();
    let undelivered = stack
        .api
        .post("/v1/step-up/email", &user.token, json!({}))
        .await;
    assert_eq!(undelivered.status, 503);

    let log = lines(&stack.log);
    assert_eq!(counted(&log, &request_id(&send)), ["CodesSent"]);
    assert_eq!(counted(&log, &request_id(&wrong)), ["VerificationsFailed"]);
    assert_eq!(counted(&log, &request_id(&right)), ["VerificationsPassed"]);
    let mut at_lock = counted(&log, &request_id(&locked));
    at_lock.sort();
    assert_eq!(at_lock, ["Lockouts", "VerificationsFailed"]);
    assert_eq!(
        counted(&log, &request_id(&undelivered)),
        ["DeliveryFailures"]
    );
    let emf = log
        .iter()
        .find(|l| l["request_id"] == request_id(&send) && l.get("_aws").is_some())
        .unwrap();
    assert_eq!(emf["Function"], "step-up");
    assert_eq!(emf["CodesSent"], 1);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );

    // One closing line per request: its function, route, status and outcome.
    for (reply, route, status, outcome, code) in [
        (&send, "POST /v1/step-up/email", 202, "ok", "-"),
        (
            &wrong,
            "POST /v1/step-up/email/verify",
            400,
            "refused",
            "invalid_code",
        ),
        (
            &undelivered,
            "POST /v1/step-up/email",
            503,
            "unavailable",
            "unavailable",
        ),
    ] {
        let id = request_id(reply);
        let done: Vec<&Value> = log
            .iter()
            .filter(|l| l["fields"]["message"] == "request done" && l["span"]["request_id"] == id)
            .collect();
        assert_eq!(done.len(), 1, "{id}: {done:?}");
        let line = done[0];
        assert_eq!(line["span"]["function"], "step-up");
        assert_eq!(line["span"]["route"], route);
        assert_eq!(line["fields"]["status"], status);
        assert_eq!(line["fields"]["outcome"], outcome);
        assert_eq!(line["fields"]["code"], code);
    }
}

/// Run by `make test` after the whole suite, with every gateway at TRACE (`--ignored`): no log
/// any gateway wrote holds a code, token, app secret, recovery code, full phone number or
/// address the suite saw.
#[test]
#[ignore = "reads the logs of a whole suite run: make test runs it last"]
fn after_the_whole_suite_at_trace_no_gateway_log_holds_a_secret_it_saw() {
    let secrets_file = std::env::var("E2E_SECRETS_FILE").expect("E2E_SECRETS_FILE");
    let dir = std::env::var("E2E_LOG_DIR").expect("E2E_LOG_DIR");
    let mut seen: Vec<String> = std::fs::read_to_string(&secrets_file)
        .expect("the suite recorded what it saw")
        .lines()
        .map(str::to_owned)
        .collect();
    seen.sort();
    seen.dedup();
    // The run saw every kind of secret, or this audit would prove nothing.
    let kinds = [
        (
            "one-time codes",
            seen.iter()
                .filter(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()))
                .count(),
        ),
        (
            "JWTs (dev tokens, assertions)",
            seen.iter().filter(|s| s.starts_with("eyJ")).count(),
        ),
        (
            "addresses",
            seen.iter()
                .filter(|s| s.contains('@') && !s.contains("://"))
                .count(),
        ),
        (
            "phone numbers",
            seen.iter().filter(|s| s.starts_with('+')).count(),
        ),
        (
            "app URIs",
            seen.iter().filter(|s| s.starts_with("otpauth://")).count(),
        ),
    ];
    for (kind, n) in kinds {
        assert!(n >= 10, "the suite saw only {n} {kind}");
    }
    let logs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("E2E_LOG_DIR")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect();
    let requests: usize = logs
        .iter()
        .map(|(_, t)| t.matches("\"request done\"").count())
        .sum();
    assert!(requests >= 1_000, "only {requests} requests logged");
    assert!(
        logs.iter().any(|(_, t)| t.contains("\"level\":\"TRACE\"")),
        "the gateways did not log at TRACE"
    );
    let found = leaks(&seen, logs.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let shown: Vec<String> = found
        .iter()
        .map(|l| format!("{}... in {}", &l.secret[..4.min(l.secret.len())], l.log))
        .collect();
    assert!(found.is_empty(), "secrets in the logs: {shown:?}");
    eprintln!(
        "[logs] {} secrets checked against {} logs ({} requests, {} MB): none found",
        seen.len(),
        logs.len(),
        requests,
        logs.iter().map(|(_, t)| t.len()).sum::<usize>() / 1_000_000
    );
}
