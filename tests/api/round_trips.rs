//! Round trips per flow (issue 13): the AWS requests one API request costs, counted by a
//! private gateway (`GET /__dev/calls`, every attempt of every client). Counts, not times:
//! each flow's count is held at its goal, so a change that adds a round trip fails here.

use std::collections::BTreeMap;
use std::future::Future;

use e2e::*;

/// What `request` cost: its reply and the AWS requests it sent, per service.
async fn cost<F: Future<Output = Reply>>(
    stack: &PrivateStack,
    request: F,
) -> (Reply, BTreeMap<String, u64>) {
    let before = stack.calls().await;
    let reply = request.await;
    let after = stack.calls().await;
    let spent = after
        .iter()
        .map(|(service, n)| {
            (
                service.clone(),
                n - before.get(service).copied().unwrap_or(0),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    (reply, spent)
}

fn challenge_id(r: &Reply) -> String {
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["challenge_id"].as_str().unwrap().to_owned()
}

fn dynamodb(spent: &BTreeMap<String, u64>) -> u64 {
    spent.get("dynamodb").copied().unwrap_or(0)
}

#[tokio::test]
async fn each_flow_costs_no_more_round_trips_than_its_goal() {
    let stack = PrivateStack::start().await;
    let (api, moto) = (&stack.api, stack.moto.as_str());
    let (user, uri, _) = user_with_app_on(api, moto).await;
    // Warm: the data key and the signing key's public half are fetched once per cold start,
    // not per request; one login does both.
    let warm = challenge_id(&challenge(api, &user).await);
    let ok = verify(api, &user, &warm, "totp", &app_code(&uri, unix_now())).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);

    let (started, start_cost) = cost(&stack, challenge(api, &user)).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = started.body["challenge_id"].as_str().unwrap().to_owned();
    let code = app_code(&uri, unix_now() + 30);
    let (verified, verify_cost) = cost(&stack, verify(api, &user, &id, "totp", &code)).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);

    let (page, page_cost) = cost(&stack, api.send("GET", "/v1/mfa", &user, None, None, &[])).await;
    assert_eq!(page.status, 200, "{:?}", page.body);

    let fresh = User::new("paid");
    let step_up_id = api.start_step_up(&fresh).await;
    let mail = latest_mail(moto, &fresh.email).await;
    let step_up_code = code_in(&mail.body, 6).unwrap();
    let (stepped, step_up_cost) = cost(
        &stack,
        api.verify_step_up(&fresh, &step_up_id, &step_up_code),
    )
    .await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);

    let rows = [
        ("POST /v1/challenges", &start_cost, GOALS[0]),
        ("TOTP login verify", &verify_cost, GOALS[1]),
        ("email step-up verify", &step_up_cost, GOALS[2]),
        ("GET /v1/mfa", &page_cost, GOALS[3]),
    ];
    for (flow, spent, _) in &rows {
        eprintln!("[round-trips] {flow}: {spent:?}");
    }
    for (flow, spent, goal) in rows {
        assert!(
            dynamodb(spent) <= goal,
            "{flow}: {} DynamoDB requests, goal {goal}: {spent:?}",
            dynamodb(spent)
        );
    }
    // The assertion is signed by KMS once per login; nothing else there calls KMS when warm.
    assert_eq!(verify_cost.get("kms"), Some(&1), "{verify_cost:?}");
}

/// DynamoDB requests allowed: login start, TOTP login verify, email step-up verify, the page.
/// Issue 13's goals are 4, 4, 4 and 3; these are what the flows cost now (they were 7, 6, 5
/// and 5), so a change that adds one fails here.
const GOALS: [u64; 4] = [3, 3, 3, 3];
