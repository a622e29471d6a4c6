//! Fault injection for tests (dev gateway started with `DEV_FAULT_INJECTION=1`): an SDK
//! interceptor that, when armed, poisons the next DynamoDB transaction by appending a condition
//! check that cannot hold. DynamoDB then cancels the whole transaction after it has seen every
//! earlier write in it, which is how a test shows that a multi-item change (a reset) is never
//! left half-done. Production code is untouched: only the local gateway's client carries this.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};

/// Arms and carries out the poisoning; clones share the switch.
#[derive(Debug, Clone)]
pub struct PoisonNextTransaction {
    armed: Arc<AtomicBool>,
    table: String,
}

impl PoisonNextTransaction {
    pub fn new(table: &str) -> Self {
        PoisonNextTransaction {
            armed: Arc::new(AtomicBool::new(false)),
            table: table.to_owned(),
        }
    }

    /// The next `TransactWriteItems` will be refused by DynamoDB.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// A condition check on an item that never exists, as the transaction's last item.
    fn poison(&self) -> Result<TransactWriteItem, Box<dyn std::error::Error + Send + Sync>> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("FAULT#injected".into()))
            .key("sk", AttributeValue::S(uuid::Uuid::new_v4().to_string()))
            .condition_expression("attribute_exists(pk)")
            .build()?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
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
                let poison = self.poison()?;
                input
                    .transact_items
                    .get_or_insert_with(Vec::new)
                    .push(poison);
                tracing::warn!("fault injected: this transaction will be refused");
            }
        }
        Ok(())
    }
}
