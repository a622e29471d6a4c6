//! Fault injection for tests (dev gateway started with `DEV_FAULT_INJECTION=1`): an SDK
//! interceptor that, when armed, poisons the next DynamoDB transaction by making the condition
//! of its last item one that cannot hold. DynamoDB then cancels the whole transaction after it
//! has seen every earlier write in it, which is how a test shows that a multi-item change (a reset) is never
//! left half-done. Production code is untouched: only the local gateway's client carries this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
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
