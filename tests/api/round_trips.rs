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
/// and 5; the step-up verify was 3 until the token budget joined the challenge's read), so a
/// change that adds one fails here.
const GOALS: [u64; 4] = [3, 3, 2, 3];

#[tokio::test]
async fn given_assertions_signed_in_process_then_a_login_costs_no_kms_request_and_every_cold_start_signs_with_the_one_sealed_key(
) {
    let mut stack = PrivateStack::with_env(&[("ASSERTION_SIGNER", "local")]).await;
    let moto = stack.moto.clone();
    let (user, uri, _) = user_with_app_on(&stack.api, &moto).await;
    // The first login makes the key (sealed under the data key) and signs with it.
    let first = challenge_id(&challenge(&stack.api, &user).await);
    let ok = verify(
        &stack.api,
        &user,
        &first,
        "totp",
        &app_code(&uri, unix_now()),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let assertion = ok.body["assertion"].as_str().unwrap().to_owned();
    check_assertion(&stack.api, &user, &assertion, "otp").await;

    // Warm, a login sends no KMS request at all, and no more DynamoDB requests than with KMS.
    let (started, start_cost) = cost(&stack, challenge(&stack.api, &user)).await;
    let id = challenge_id(&started);
    let code = app_code(&uri, unix_now() + 30);
    let (verified, verify_cost) = cost(&stack, verify(&stack.api, &user, &id, "totp", &code)).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    for spent in [&start_cost, &verify_cost] {
        assert_eq!(spent.get("kms"), None, "{spent:?}");
    }
    assert!(dynamodb(&verify_cost) <= GOALS[1], "{verify_cost:?}");
    check_assertion(
        &stack.api,
        &user,
        verified.body["assertion"].as_str().unwrap(),
        "otp",
    )
    .await;

    // The table holds the private half only sealed: 12-byte nonce, 32-byte key, 16-byte tag.
    let item = e2e::dynamodb(None)
        .await
        .get_item()
        .table_name(&stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CONFIG".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("SIGNING_KEY#v1".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the sealed signing key is stored");
    assert_eq!(item["sealed"].as_b().unwrap().as_ref().len(), 12 + 32 + 16);

    // A new cold start opens the same key: the JWKS is unchanged and still verifies the
    // first login's assertion.
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    stack.restart_gateway();
    let jwks = stack
        .api
        .send("GET", "/.well-known/jwks.json", &user, None, None, &[])
        .await;
    assert_eq!(jwks.status, 200, "{:?}", jwks.body);
    let jwks = jwks.body;
    let kids: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, vec![kid(&assertion)]);
    check_assertion(&stack.api, &user, &assertion, "otp").await;
}
