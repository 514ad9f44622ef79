//! Messages to customers. A notification is a `notifications` row (what is said to whom, and
//! whether it went out) plus an outbox row that gets it delivered: both are written in the
//! transaction of the event they tell about, and [`SmsHandler`] sends it afterwards, retrying
//! through the outbox. Sending therefore never blocks or fails the request that caused it.

use std::sync::Arc;

use chrono::Utc;
use entity::{customers, notifications, orders, outbox};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

use crate::outbox::{self as effects, Handler, HandlerError};
use crate::sms::SmsProvider;

/// What a notification is about; the name is stored as its `template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    OrderPaid,
    /// Uses the order's `tracking_code`.
    OrderShipped,
    /// A sales return entered in Mahak refunded the order (see `crate::reconcile`).
    OrderReturned,
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::OrderPaid => "order_paid",
            Template::OrderShipped => "order_shipped",
            Template::OrderReturned => "order_returned",
        }
    }
}

/// Queues an SMS to the order's customer; call it inside the transaction of the change.
pub async fn notify_order<C: ConnectionTrait>(
    db: &C,
    order: &orders::Model,
    template: Template,
) -> Result<(), DbErr> {
    let Some(customer) = customers::Entity::find_by_id(order.customer_id)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let text = match template {
        Template::OrderPaid => format!(
            "سفارش {} به مبلغ {} ریال پرداخت شد. از خرید شما سپاسگزاریم.",
            persian_digits(&order.number.to_string()),
            persian_digits(&group_thousands(order.grand_total)),
        ),
        Template::OrderShipped => format!(
            "سفارش {} ارسال شد. کد رهگیری مرسوله: {}",
            persian_digits(&order.number.to_string()),
            order.tracking_code.as_deref().unwrap_or("-"),
        ),
        Template::OrderReturned => format!(
            "سفارش {} به مبلغ {} ریال مرجوع شد و وضعیت آن به «بازپرداخت‌شده» تغییر کرد.",
            persian_digits(&order.number.to_string()),
            persian_digits(&group_thousands(order.grand_total)),
        ),
    };
    let id = Uuid::now_v7();
    notifications::ActiveModel {
        id: Set(id),
        customer_id: Set(Some(customer.id)),
        channel: Set("sms".into()),
        recipient: Set(customer.phone.clone()),
        template: Set(template.name().into()),
        payload: Set(json!({ "orderNumber": order.number, "text": text })),
        status: Set("pending".into()),
        attempts: Set(0),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    effects::enqueue(
        db,
        effects::topics::SMS,
        &id.to_string(),
        json!({ "notificationId": id }),
    )
    .await?;
    Ok(())
}

/// Delivers `notification.sms` outbox rows through the configured SMS provider.
pub struct SmsHandler {
    pub db: DatabaseConnection,
    pub sms: Arc<dyn SmsProvider>,
}

impl SmsHandler {
    async fn record(
        &self,
        id: Uuid,
        status: &str,
        attempts: i32,
        error: Option<String>,
    ) -> Result<(), DbErr> {
        notifications::ActiveModel {
            id: Set(id),
            status: Set(status.into()),
            attempts: Set(attempts),
            last_error: Set(error),
            sent_at: Set((status == "sent").then(Utc::now)),
            ..Default::default()
        }
        .update(&self.db)
        .await
        .map(drop)
    }
}

fn notification_id(row: &outbox::Model) -> Option<Uuid> {
    row.payload["notificationId"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
}

#[async_trait::async_trait]
impl Handler for SmsHandler {
    fn topic(&self) -> &'static str {
        effects::topics::SMS
    }

    async fn handle(&self, row: &outbox::Model) -> Result<(), HandlerError> {
        let id = notification_id(row)
            .ok_or_else(|| HandlerError::Permanent("payload has no notificationId".into()))?;
        let retry = |err: DbErr| HandlerError::Retry(err.to_string());
        let Some(notification) = notifications::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(retry)?
        else {
            return Err(HandlerError::Permanent(format!(
                "notification {id} does not exist"
            )));
        };
        if notification.status == "sent" {
            return Ok(());
        }
        let text = notification.payload["text"].as_str().unwrap_or_default();
        // The outbox row id is the provider's de-duplication key: a retry after a lost answer
        // does not send the message twice.
        match self
            .sms
            .send_text(&notification.recipient, text, row.id)
            .await
        {
            Ok(()) => {
                self.record(id, "sent", notification.attempts + 1, None)
                    .await
                    .map_err(retry)?;
                metrics::counter!("notifications_sent_total", "template" => notification.template)
                    .increment(1);
                Ok(())
            }
            Err(err) => {
                let error = err.to_string();
                self.record(
                    id,
                    "pending",
                    notification.attempts + 1,
                    Some(error.clone()),
                )
                .await
                .map_err(retry)?;
                Err(HandlerError::Retry(error))
            }
        }
    }

    async fn gave_up(&self, row: &outbox::Model, error: &str) {
        let Some(id) = notification_id(row) else {
            return;
        };
        let update = notifications::ActiveModel {
            id: Set(id),
            status: Set("failed".into()),
            last_error: Set(Some(error.to_string())),
            ..Default::default()
        };
        if let Err(err) = update.update(&self.db).await {
            tracing::warn!(%id, error = %err, "could not mark the notification failed");
        }
    }
}

/// `1234567` → `1,234,567` (then made Persian by [`persian_digits`], with the Persian
/// thousands separator).
fn group_thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 {
        out.insert(0, '-');
    }
    out
}

fn persian_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32('۰' as u32 + (c as u32 - '0' as u32)).unwrap_or(c),
            ',' => '٬',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_persian() {
        assert_eq!(persian_digits(&group_thousands(0)), "۰");
        assert_eq!(persian_digits(&group_thousands(999)), "۹۹۹");
        assert_eq!(persian_digits(&group_thousands(1_234_567)), "۱٬۲۳۴٬۵۶۷");
        assert_eq!(group_thousands(-1000), "-1,000");
    }
}
