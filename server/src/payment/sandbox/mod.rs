//! The sandbox gateway: the embedded default's stand-in for Zarinpal, needing no network and
//! no merchant account.
//!
//! It behaves like a real gateway seen from the store: `request` opens a session and sends the
//! customer to a page (served by this server, see [`page`]) where they press Pay or Cancel and
//! are redirected to the callback with `Authority` and `Status=OK|NOK`; `verify` answers from
//! the session, with Zarinpal's codes: paid → `Paid` the first time and `AlreadyVerified`
//! after; unknown → -54, another amount → -50, cancelled or not paid → -51.
//!
//! Sessions live in the `payment_sandbox_sessions` table rather than in memory, so that the
//! page, the callback and the verification may be served by different replicas, and survive a
//! restart. They are kept apart from the store's `payments`: the store must learn the outcome
//! by verifying, as with a real gateway, so the checkout code exercised in development is the
//! one that runs in production. Every change of state is one conditional `UPDATE`, so that two
//! concurrent verifications (a callback delivered twice) yield one `Paid`.

pub mod page;

use async_trait::async_trait;
use chrono::Utc;
use entity::payment_sandbox_sessions::{self as sessions, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{PaymentError, PaymentGateway, PaymentRequest, PaymentStart, Settlement, Verification};

/// Where the sandbox's page is served; the session's authority follows.
pub const PAGE_PATH: &str = "/payments/sandbox";

/// The masked card every sandbox payment is made with.
pub const CARD_PAN_MASKED: &str = "603799******0000";

/// A session's state (`payment_sandbox_sessions.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Pending,
    Paid,
    Cancelled,
    Verified,
    Refunded,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Pending => "pending",
            SessionState::Paid => "paid",
            SessionState::Cancelled => "cancelled",
            SessionState::Verified => "verified",
            SessionState::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<SessionState> {
        [
            SessionState::Pending,
            SessionState::Paid,
            SessionState::Cancelled,
            SessionState::Verified,
            SessionState::Refunded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

pub struct SandboxGateway {
    db: DatabaseConnection,
    /// The server's public base URL, without a trailing `/`.
    public_base_url: String,
}

impl SandboxGateway {
    pub fn new(db: DatabaseConnection, public_base_url: &str) -> SandboxGateway {
        SandboxGateway {
            db,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// Moves a session from `from` to `to`; true when this call made the change. The condition
/// on the current state makes the change happen once however many callers race.
async fn transition(
    db: &DatabaseConnection,
    authority: &str,
    from: SessionState,
    to: SessionState,
    reference_id: Option<i64>,
) -> Result<bool, PaymentError> {
    let mut update = sessions::Entity::update_many()
        .col_expr(Column::State, Expr::value(to.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(reference_id) = reference_id {
        update = update.col_expr(Column::ReferenceId, Expr::value(reference_id));
    }
    let result = update
        .filter(Column::Authority.eq(authority))
        .filter(Column::State.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

async fn find(
    db: &DatabaseConnection,
    authority: &str,
) -> Result<Option<sessions::Model>, PaymentError> {
    Ok(sessions::Entity::find_by_id(authority.to_owned())
        .one(db)
        .await?)
}

fn state_of(session: &sessions::Model) -> Result<SessionState, PaymentError> {
    SessionState::parse(&session.state).ok_or_else(|| {
        PaymentError::Protocol(format!("sandbox session in state {:?}", session.state))
    })
}

fn settlement(session: &sessions::Model) -> Result<Settlement, PaymentError> {
    let reference_id = session
        .reference_id
        .ok_or_else(|| PaymentError::Protocol("sandbox session paid without a reference".into()))?;
    Ok(Settlement {
        reference_id: reference_id.to_string(),
        card_pan_masked: Some(CARD_PAN_MASKED.into()),
        fee_rial: 0,
    })
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    fn provider(&self) -> &'static str {
        "sandbox"
    }

    async fn request(&self, request: &PaymentRequest) -> Result<PaymentStart, PaymentError> {
        request.validate()?;
        // Shaped like Zarinpal's: a letter and 35 alphanumerics.
        let authority = format!("S{:035}", uuid::Uuid::new_v4().as_u128() % 10u128.pow(35));
        let now = Utc::now();
        sessions::Entity::insert(sessions::ActiveModel {
            authority: Set(authority.clone()),
            order_id: Set(request.order_id.clone()),
            amount: Set(request.amount_rial),
            description: Set(request.description.trim().to_owned()),
            callback_url: Set(request.callback_url.clone()),
            state: Set(SessionState::Pending.as_str().to_owned()),
            reference_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(PaymentStart {
            redirect_url: format!("{}{PAGE_PATH}/{authority}", self.public_base_url),
            authority,
        })
    }

    async fn verify(
        &self,
        authority: &str,
        amount_rial: i64,
    ) -> Result<Verification, PaymentError> {
        let Some(session) = find(&self.db, authority).await? else {
            return Ok(Verification::Failed {
                code: -54,
                message: "Invalid authority.".into(),
            });
        };
        if session.amount != amount_rial {
            return Ok(Verification::Failed {
                code: -50,
                message: "Session is not valid, amounts values is not the same.".into(),
            });
        }
        match state_of(&session)? {
            SessionState::Pending | SessionState::Cancelled => Ok(Verification::Failed {
                code: -51,
                message: "Session is not valid, session is not active paid try.".into(),
            }),
            SessionState::Verified | SessionState::Refunded => {
                Ok(Verification::AlreadyVerified(settlement(&session)?))
            }
            SessionState::Paid => {
                let first = transition(
                    &self.db,
                    authority,
                    SessionState::Paid,
                    SessionState::Verified,
                    None,
                )
                .await?;
                if first {
                    Ok(Verification::Paid(settlement(&session)?))
                } else {
                    // Another verification won the race; it is verified now.
                    Ok(Verification::AlreadyVerified(settlement(&session)?))
                }
            }
        }
    }

    /// The sandbox refunds any verified session in full, at once.
    async fn refund(
        &self,
        authority: &str,
        amount_rial: i64,
        _reason: &str,
    ) -> Result<super::Refund, PaymentError> {
        let Some(session) = find(&self.db, authority).await? else {
            return Err(PaymentError::Protocol(format!(
                "no sandbox session {authority}"
            )));
        };
        if session.amount != amount_rial {
            return Err(PaymentError::Protocol(format!(
                "refund of {amount_rial} for a session of {}",
                session.amount
            )));
        }
        let reference = format!("R{}", session.reference_id.unwrap_or_default());
        match state_of(&session)? {
            SessionState::Refunded => Ok(super::Refund::Refunded { reference }),
            SessionState::Verified => {
                transition(
                    &self.db,
                    authority,
                    SessionState::Verified,
                    SessionState::Refunded,
                    None,
                )
                .await?;
                Ok(super::Refund::Refunded { reference })
            }
            other => Err(PaymentError::Protocol(format!(
                "cannot refund a sandbox session that is {}",
                other.as_str()
            ))),
        }
    }
}
