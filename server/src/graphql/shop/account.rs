//! Sign-in and the customer's account on the shop schema: OTP sign-in, token refresh and
//! logout, the profile, and saved addresses. Resolvers parse input, find the caller and call
//! `crate::auth`; a customer only ever reaches their own rows (every query filters by the
//! caller's id, so another customer's address id is simply `NOT_FOUND`).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{customer_addresses, customers};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::auth::{self, otp, refresh, Caller};
use crate::error::{ApiError, ApiResult};
use crate::graphql::Services;
use crate::http::RequestContext;

const MAX_NAME: usize = 100;
const MAX_ADDRESSES: usize = 20;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous)
}

fn request<'a>(ctx: &Context<'a>) -> Option<&'a RequestContext> {
    ctx.data_opt::<RequestContext>()
}

async fn me(ctx: &Context<'_>) -> ApiResult<customers::Model> {
    auth::current_customer(&services(ctx).db, caller(ctx)).await
}

/// An Iranian mobile number in any common form, as E.164.
pub fn parse_phone(field: &'static str, text: &str) -> ApiResult<String> {
    sync::phone::iran_mobile_e164(text).ok_or_else(|| {
        ApiError::bad_input(
            field,
            "not an Iranian mobile number; expected a form like 09121234567 or +989121234567",
        )
    })
}

fn parse_uuid(id: &ID, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found(what))
}

/// The answer to `requestOtp`.
#[derive(SimpleObject)]
pub struct OtpRequested {
    pub sent_at: DateTime<Utc>,
    /// Seconds before another code may be requested for this phone.
    pub retry_after_seconds: i32,
    /// Seconds the code stays valid.
    pub expires_in_seconds: i32,
}

/// Tokens given at sign-in and on refresh.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// JWT to send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Opaque; exchange it with `refreshToken` for new tokens. Single use.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i32,
    pub customer: Customer,
}

/// The signed-in customer.
pub struct Customer(customers::Model);

#[Object]
impl Customer {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// E.164, e.g. `+989121234567`.
    async fn phone(&self) -> &str {
        &self.0.phone
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Saved addresses, the default first.
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<Address>> {
        list_addresses(&services(ctx).db, self.0.id).await
    }
    /// The customer's account in the store's books (Mahak): balance, credit, and whether
    /// orders can be charged to it (`payOnAccount`). Status `NOT_LINKED` while the store's
    /// accounting does not know the customer.
    async fn account_balance(&self, ctx: &Context<'_>) -> ApiResult<super::credit::AccountBalance> {
        Ok(super::credit::AccountBalance(
            crate::account_credit::standing(&services(ctx).db, &self.0).await?,
        ))
    }
}

/// A saved delivery address.
pub struct Address(customer_addresses::Model);

#[Object]
impl Address {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The customer's label: "Home", "Office".
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn recipient_name(&self) -> &str {
        &self.0.recipient_name
    }
    /// E.164.
    async fn recipient_phone(&self) -> &str {
        &self.0.recipient_phone
    }
    async fn province(&self) -> &str {
        &self.0.province
    }
    async fn city(&self) -> &str {
        &self.0.city
    }
    async fn address_line(&self) -> &str {
        &self.0.address_line
    }
    /// Ten digits.
    async fn postal_code(&self) -> &str {
        &self.0.postal_code
    }
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
}

/// Profile fields; a field left out is unchanged, an empty string clears it.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

#[derive(InputObject)]
pub struct AddressInput {
    pub title: String,
    pub recipient_name: String,
    /// Any common form of an Iranian mobile number.
    pub recipient_phone: String,
    pub province: String,
    pub city: String,
    pub address_line: String,
    /// Ten digits (Persian digits and dashes accepted).
    pub postal_code: String,
    /// Make this the default address (the first address always is).
    pub is_default: Option<bool>,
}

/// A cleaned name: trimmed, `None` when empty, at most `MAX_NAME` characters.
fn clean_name(field: &'static str, value: &str) -> ApiResult<Option<String>> {
    let value = value.trim();
    if value.chars().count() > MAX_NAME {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "must not hold control characters",
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_string()))
}

fn clean_email(value: &str) -> ApiResult<Option<String>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::bad_input("email", "not a valid email address");
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(Some(value.to_ascii_lowercase()))
}

fn required(field: &'static str, value: &str, max: usize) -> ApiResult<String> {
    match clean_name(field, value) {
        Ok(Some(value)) if value.chars().count() <= max => Ok(value),
        Ok(Some(_)) => Err(ApiError::bad_input(
            field,
            format!("at most {max} characters"),
        )),
        Ok(None) => Err(ApiError::bad_input(field, "is required")),
        Err(err) => Err(err),
    }
}

fn clean_postal_code(value: &str) -> ApiResult<String> {
    let digits: String = otp::normalize_code(value)
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect();
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(ApiError::bad_input("postalCode", "must be 10 digits"))
    }
}

/// Validated address fields.
struct CleanAddress {
    title: String,
    recipient_name: String,
    recipient_phone: String,
    province: String,
    city: String,
    address_line: String,
    postal_code: String,
}

impl AddressInput {
    fn clean(&self) -> ApiResult<CleanAddress> {
        let address_line = self.address_line.trim();
        if address_line.is_empty() || address_line.chars().count() > 500 {
            return Err(ApiError::bad_input(
                "addressLine",
                "is required, at most 500 characters",
            ));
        }
        Ok(CleanAddress {
            title: required("title", &self.title, 50)?,
            recipient_name: required("recipientName", &self.recipient_name, MAX_NAME)?,
            recipient_phone: parse_phone("recipientPhone", &self.recipient_phone)?,
            province: required("province", &self.province, MAX_NAME)?,
            city: required("city", &self.city, MAX_NAME)?,
            address_line: address_line.to_string(),
            postal_code: clean_postal_code(&self.postal_code)?,
        })
    }
}

async fn list_addresses(db: &DatabaseConnection, customer_id: Uuid) -> ApiResult<Vec<Address>> {
    Ok(customer_addresses::Entity::find()
        .filter(customer_addresses::Column::CustomerId.eq(customer_id))
        .order_by_desc(customer_addresses::Column::IsDefault)
        .order_by_asc(customer_addresses::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(Address)
        .collect())
}

/// One of the customer's own addresses; anyone else's is `NOT_FOUND`.
async fn own_address(
    db: &impl sea_orm::ConnectionTrait,
    customer_id: Uuid,
    id: &ID,
) -> ApiResult<customer_addresses::Model> {
    let id = parse_uuid(id, "address")?;
    customer_addresses::Entity::find_by_id(id)
        .filter(customer_addresses::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or(ApiError::not_found("address"))
}

/// Makes `address_id` the customer's only default address.
async fn make_default(
    db: &impl sea_orm::ConnectionTrait,
    customer_id: Uuid,
    address_id: Uuid,
) -> ApiResult<()> {
    customer_addresses::Entity::update_many()
        .col_expr(
            customer_addresses::Column::IsDefault,
            Expr::col(customer_addresses::Column::Id).eq(address_id),
        )
        .filter(customer_addresses::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn signed_in(
    ctx: &Context<'_>,
    customer: customers::Model,
    refresh_token: String,
) -> ApiResult<AuthPayload> {
    let issued = services(ctx)
        .auth
        .jwt
        .issue(customer.id)
        .map_err(ApiError::internal)?;
    Ok(AuthPayload {
        access_token: issued.token,
        refresh_token,
        expires_in: i32::try_from(issued.expires_in).unwrap_or(i32::MAX),
        customer: Customer(customer),
    })
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in customer.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Customer> {
        Ok(Customer(me(ctx).await?))
    }

    /// The signed-in customer's saved addresses, the default first.
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<Address>> {
        let customer = me(ctx).await?;
        list_addresses(&services(ctx).db, customer.id).await
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Sends a sign-in code by SMS to an Iranian mobile number (`09...`, `+989...`,
    /// `00989...`, `989...`, Persian or Arabic digits). A new code makes earlier ones invalid.
    async fn request_otp(&self, ctx: &Context<'_>, phone: String) -> ApiResult<OtpRequested> {
        let phone = parse_phone("phone", &phone)?;
        let services = services(ctx);
        let ip = request(ctx).and_then(|r| r.client_ip);
        let sent = otp::request(&services.db, &services.auth, &phone, ip).await?;
        Ok(OtpRequested {
            sent_at: sent.sent_at,
            retry_after_seconds: i32::try_from(sent.retry_after_secs).unwrap_or(i32::MAX),
            expires_in_seconds: i32::try_from(sent.expires_in_secs).unwrap_or(i32::MAX),
        })
    }

    /// Signs in with the code sent to `phone`, creating the customer on first sign-in. With an
    /// `X-Cart-Token` header, that guest cart is merged into the customer's cart (quantities
    /// added, capped at the stock available).
    async fn verify_otp(
        &self,
        ctx: &Context<'_>,
        phone: String,
        code: String,
    ) -> ApiResult<AuthPayload> {
        let phone = parse_phone("phone", &phone)?;
        let services = services(ctx);
        let request = request(ctx);
        let ip = request.and_then(|r| r.client_ip);
        let customer = otp::verify(&services.db, &services.auth, &phone, &code, ip).await?;
        let user_agent = request.and_then(|r| r.user_agent.clone());
        let refresh_token =
            refresh::start_family(&services.db, &services.auth, customer.id, user_agent).await?;
        super::cart::merge_on_sign_in(ctx, customer.id).await;
        signed_in(ctx, customer, refresh_token).await
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once; presenting a
    /// spent one signs out every session of that sign-in.
    async fn refresh_token(&self, ctx: &Context<'_>, token: String) -> ApiResult<AuthPayload> {
        let services = services(ctx);
        let (customer_id, next) = refresh::rotate(&services.db, &services.auth, &token).await?;
        let customer =
            auth::current_customer(&services.db, &Caller::Customer { id: customer_id }).await?;
        signed_in(ctx, customer, next).await
    }

    /// Signs out: the refresh token and every token rotated from the same sign-in stop working.
    /// Access tokens already issued expire on their own (they are short-lived).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<bool> {
        refresh::logout(&services(ctx).db, &refresh_token).await?;
        Ok(true)
    }

    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> ApiResult<Customer> {
        let customer = me(ctx).await?;
        let mut active = customer.into_active_model();
        if let Some(first_name) = &input.first_name {
            active.first_name = Set(clean_name("firstName", first_name)?);
        }
        if let Some(last_name) = &input.last_name {
            active.last_name = Set(clean_name("lastName", last_name)?);
        }
        if let Some(email) = &input.email {
            active.email = Set(clean_email(email)?);
        }
        active.updated_at = Set(Utc::now());
        Ok(Customer(active.update(&services(ctx).db).await?))
    }

    async fn add_address(&self, ctx: &Context<'_>, input: AddressInput) -> ApiResult<Address> {
        let customer = me(ctx).await?;
        let clean = input.clean()?;
        let db = &services(ctx).db;
        let txn = db.begin().await?;
        let existing = customer_addresses::Entity::find()
            .filter(customer_addresses::Column::CustomerId.eq(customer.id))
            .all(&txn)
            .await?;
        if existing.len() >= MAX_ADDRESSES {
            return Err(ApiError::bad_input(
                "input",
                format!("at most {MAX_ADDRESSES} addresses"),
            ));
        }
        let now = Utc::now();
        let id = auth::new_id();
        customer_addresses::ActiveModel {
            id: Set(id),
            customer_id: Set(customer.id),
            title: Set(clean.title),
            recipient_name: Set(clean.recipient_name),
            recipient_phone: Set(clean.recipient_phone),
            province: Set(clean.province),
            city: Set(clean.city),
            address_line: Set(clean.address_line),
            postal_code: Set(clean.postal_code),
            is_default: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        if existing.is_empty() || input.is_default == Some(true) {
            make_default(&txn, customer.id, id).await?;
        }
        let address = own_address(&txn, customer.id, &ID(id.to_string())).await?;
        txn.commit().await?;
        Ok(Address(address))
    }

    async fn update_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AddressInput,
    ) -> ApiResult<Address> {
        let customer = me(ctx).await?;
        let clean = input.clean()?;
        let db = &services(ctx).db;
        let txn = db.begin().await?;
        let address = own_address(&txn, customer.id, &id).await?;
        let address_id = address.id;
        let mut active = address.into_active_model();
        active.title = Set(clean.title);
        active.recipient_name = Set(clean.recipient_name);
        active.recipient_phone = Set(clean.recipient_phone);
        active.province = Set(clean.province);
        active.city = Set(clean.city);
        active.address_line = Set(clean.address_line);
        active.postal_code = Set(clean.postal_code);
        active.updated_at = Set(Utc::now());
        active.update(&txn).await?;
        if input.is_default == Some(true) {
            make_default(&txn, customer.id, address_id).await?;
        }
        let address = own_address(&txn, customer.id, &id).await?;
        txn.commit().await?;
        Ok(Address(address))
    }

    /// Deletes an address; when it was the default, the oldest remaining one becomes default.
    async fn remove_address(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let customer = me(ctx).await?;
        let db = &services(ctx).db;
        let txn = db.begin().await?;
        let address = own_address(&txn, customer.id, &id).await?;
        customer_addresses::Entity::delete_by_id(address.id)
            .exec(&txn)
            .await?;
        if address.is_default {
            let next = customer_addresses::Entity::find()
                .filter(customer_addresses::Column::CustomerId.eq(customer.id))
                .order_by_asc(customer_addresses::Column::CreatedAt)
                .one(&txn)
                .await?;
            if let Some(next) = next {
                make_default(&txn, customer.id, next.id).await?;
            }
        }
        txn.commit().await?;
        Ok(true)
    }

    async fn set_default_address(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Address> {
        let customer = me(ctx).await?;
        let db = &services(ctx).db;
        let txn = db.begin().await?;
        let address = own_address(&txn, customer.id, &id).await?;
        make_default(&txn, customer.id, address.id).await?;
        let address = own_address(&txn, customer.id, &id).await?;
        txn.commit().await?;
        Ok(Address(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalize_or_are_refused_with_a_code() {
        for input in [
            "09121234567",
            "+989121234567",
            "00989121234567",
            "989121234567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "٠٩١٢١٢٣٤٥٦٧",
            "+۹۸۹۱۲۱۲۳۴۵۶۷",
        ] {
            assert_eq!(
                parse_phone("phone", input).unwrap(),
                "+989121234567",
                "{input}"
            );
        }
        for input in ["02112345678", "12345", "+15551234567", "0912-abc"] {
            let err = parse_phone("phone", input).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{input}");
        }
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(
            clean_email(" Ali@Example.ir ").unwrap().as_deref(),
            Some("ali@example.ir")
        );
        assert_eq!(clean_email("").unwrap(), None);
        for bad in ["ali", "ali@", "@x.ir", "ali@x", "a b@x.ir", "ali@x..ir"] {
            assert!(clean_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes_take_persian_digits() {
        assert_eq!(clean_postal_code("۱۲۳۴۵-۶۷۸۹۰").unwrap(), "1234567890");
        assert!(clean_postal_code("12345").is_err());
    }
}
