//! Fault injection for tests (dev gateway started with `DEV_FAULT_INJECTION=1`), as SDK
//! interceptors on the local gateway's clients only; production code is untouched.
//!
//! - [`PoisonNextTransaction`], when armed, poisons the next DynamoDB transaction by making the
//!   condition of its last item one that cannot hold. DynamoDB then cancels the whole
//!   transaction after it has seen every earlier write in it, which is how a test shows that a
//!   multi-item change (a reset) is never left half-done.
//! - [`PauseNextTransaction`], when armed, holds the next DynamoDB transaction back for a
//!   while before it is sent, so a test can let another request commit first: what a right
//!   code's commit does when a wrong one used the last try in between.
//! - [`StopAtCall`], when armed, stops a process (DynamoDB Local or moto, by the pid the test
//!   gives) just before the gateway's Nth AWS call from then on: a dependency going away at an
//!   exact point in the middle of a request. `TERM` ends it and waits until its port is closed
//!   (the test starts it again on its data); `STOP` freezes it, so calls hang until the SDK's
//!   timeouts (the test resumes it with `CONT`, its state whole, as after a network outage).

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::TransactWriteItem;

/// Arms and carries out the poisoning; clones share the switch.
#[derive(Debug, Clone, Default)]
pub struct PoisonNextTransaction {
    armed: Arc<AtomicBool>,
}

impl PoisonNextTransaction {
    pub fn new() -> Self {
        PoisonNextTransaction {
            armed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The next `TransactWriteItems` will be refused by DynamoDB.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Makes the last item's condition impossible (its own names and values stay in use).
    fn poison(item: &mut TransactWriteItem) {
        const NEVER: &str = "attribute_exists(pk) AND attribute_not_exists(pk)";
        let cond = if let Some(p) = item.put.as_mut() {
            &mut p.condition_expression
        } else if let Some(u) = item.update.as_mut() {
            &mut u.condition_expression
        } else if let Some(d) = item.delete.as_mut() {
            &mut d.condition_expression
        } else if let Some(c) = item.condition_check.as_mut() {
            let c = &mut c.condition_expression;
            *c = format!("({c}) AND {NEVER}");
            return;
        } else {
            return;
        };
        *cond = Some(match cond.take() {
            Some(old) => format!("({old}) AND {NEVER}"),
            None => NEVER.to_owned(),
        });
    }
}

impl Intercept for PoisonNextTransaction {
    fn name(&self) -> &'static str {
        "PoisonNextTransaction"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(input) = context
            .input_mut()
            .downcast_mut::<TransactWriteItemsInput>()
        {
            if self.armed.swap(false, Ordering::SeqCst) {
                if let Some(last) = input.transact_items.as_mut().and_then(|i| i.last_mut()) {
                    Self::poison(last);
                    tracing::warn!("fault injected: this transaction will be refused");
                }
            }
        }
        Ok(())
    }
}

/// Holds the next `TransactWriteItems` back; clones share the plan.
#[derive(Debug, Clone, Default)]
pub struct PauseNextTransaction {
    pause: Arc<Mutex<Option<Duration>>>,
}

impl PauseNextTransaction {
    /// The longest a test may hold a transaction back.
    pub const MAX: Duration = Duration::from_secs(10);

    /// The next transaction waits `pause` (at most [`Self::MAX`]) before it is sent.
    pub fn arm(&self, pause: Duration) {
        *self.pause.lock().unwrap_or_else(|e| e.into_inner()) = Some(pause.min(Self::MAX));
    }
}

impl Intercept for PauseNextTransaction {
    fn name(&self) -> &'static str {
        "PauseNextTransaction"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if context
            .input()
            .downcast_ref::<TransactWriteItemsInput>()
            .is_none()
        {
            return Ok(());
        }
        let pause = self.pause.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(pause) = pause {
            tracing::warn!(
                ms = pause.as_millis() as u64,
                "fault injected: this transaction is held back"
            );
            // Interceptors cannot await: the worker hands its other tasks over while it waits.
            tokio::task::block_in_place(|| std::thread::sleep(pause));
        }
        Ok(())
    }
}

/// Stops a process before the Nth AWS call; clones share the plan.
#[derive(Debug, Clone, Default)]
pub struct StopAtCall {
    plan: Arc<Mutex<Option<Stop>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// Calls to let through first, plus one: 1 stops before the very next call.
    pub at_call: u32,
    pub pid: u32,
    pub port: u16,
    /// Freeze (`SIGSTOP`) rather than end (`SIGTERM`).
    pub freeze: bool,
}

impl StopAtCall {
    /// Stops `stop.pid` just before the `stop.at_call`th AWS call from now.
    pub fn arm(&self, stop: Stop) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
    }

    /// Forgets the plan; true if it had not fired yet.
    pub fn disarm(&self) -> bool {
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }

    fn before_call(&self) {
        let fire = {
            let mut plan = self.plan.lock().unwrap_or_else(|e| e.into_inner());
            match plan.as_mut() {
                Some(s) if s.at_call > 1 => {
                    s.at_call -= 1;
                    None
                }
                Some(_) => plan.take(),
                None => None,
            }
        };
        if let Some(stop) = fire {
            Self::stop(stop);
        }
    }

    /// SIGTERM, then wait (at most 20 s) until nothing answers on the port. Only a real pid is
    /// signalled: never 0, 1 or a value `kill` would read as a process group.
    fn stop(stop: Stop) {
        if stop.pid <= 1 || i32::try_from(stop.pid).is_err() {
            tracing::error!(pid = stop.pid, "fault injection refused: not a process id");
            return;
        }
        let _ = std::process::Command::new("kill")
            .arg(if stop.freeze { "-STOP" } else { "-TERM" })
            .arg(stop.pid.to_string())
            .status();
        if stop.freeze {
            tracing::warn!(
                pid = stop.pid,
                "fault injected: a dependency froze before this call"
            );
            return;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], stop.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline
            && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::warn!(
            pid = stop.pid,
            port = stop.port,
            "fault injected: a dependency was stopped before this call"
        );
    }
}

impl Intercept for StopAtCall {
    fn name(&self) -> &'static str {
        "StopAtCall"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.before_call();
        Ok(())
    }
}

/// Counts the AWS requests the gateway sends, per service (the signing name in the request's
/// credential scope: `dynamodb`, `kms`, `ses`, `sns`...), every attempt of a retry included:
/// the round trips a flow costs. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct CountCalls {
    counts: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
}

impl CountCalls {
    /// The requests sent so far, per service.
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The service a signed request is for, from `Credential=AKID/date/region/service/aws4_request`.
    fn service_of(authorization: &str) -> Option<&str> {
        let scope = authorization.split("Credential=").nth(1)?;
        let scope = scope.split([',', ' ']).next()?;
        let mut parts = scope.rsplit('/');
        (parts.next()? == "aws4_request").then_some(())?;
        parts.next()
    }
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let service = context
            .request()
            .headers()
            .get("authorization")
            .and_then(Self::service_of)
            .unwrap_or("unsigned")
            .to_owned();
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(service)
            .or_default() += 1;
        Ok(())
    }
}

/// The dev gateway's fault switches.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub calls: CountCalls,
    pub poison: PoisonNextTransaction,
    pub pause: PauseNextTransaction,
    pub stop: StopAtCall,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_is_counted_under_its_credential_scopes_service() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/dynamodb/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(CountCalls::service_of(auth), Some("dynamodb"));
        assert_eq!(CountCalls::service_of("Bearer x"), None);
        assert_eq!(
            CountCalls::service_of("AWS4-HMAC-SHA256 Credential=AKID/d/r/kms/other"),
            None
        );
    }

    #[test]
    fn a_stop_fires_once_just_before_the_nth_call_and_can_be_disarmed() {
        let stop = StopAtCall::default();
        let mut victim = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // A port nothing listens on: the wait for it to close ends at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        stop.arm(Stop {
            at_call: 3,
            pid: victim.id(),
            port,
            freeze: false,
        });
        stop.before_call();
        stop.before_call();
        assert!(
            victim.try_wait().unwrap().is_none(),
            "not before the 3rd call"
        );
        stop.before_call();
        let status = victim.wait().unwrap();
        assert!(!status.success(), "stopped at the 3rd call: {status:?}");
        assert!(!stop.disarm(), "fired once");
        stop.arm(Stop {
            at_call: 5,
            pid: 1,
            port,
            freeze: false,
        });
        stop.before_call();
        assert!(stop.disarm(), "still armed");
        assert!(!stop.disarm());
    }
}
