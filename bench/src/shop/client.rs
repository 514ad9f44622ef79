//! GraphQL over HTTP and the steps of a customer (sign-in, address, cart, checkout, sandbox
//! payment) as the shop's browser client makes them.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};

use super::proc::ServerProc;

pub const REQUEST_OTP: &str = "mutation($p: String!) { requestOtp(phone: $p) { sentAt } }";
pub const VERIFY_OTP: &str =
    "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) { accessToken } }";
pub const ADD_ADDRESS: &str = "mutation($i: AddressInput!) { addAddress(input: $i) { id } }";
pub const ADD_TO_CART: &str =
    "mutation($v: ID!) { addToCart(variantId: $v, quantity: 1) { lines { id } grandTotal } }";
pub const REMOVE_LINE: &str = "mutation($l: ID!) { removeCartLine(lineId: $l) { lines { id } } }";
pub const CHECKOUT: &str =
    "mutation($i: CheckoutInput!) { checkout(input: $i) { number status grandTotal } }";
pub const START_PAYMENT: &str =
    "mutation($o: String!) { startPayment(orderNumber: $o) { paymentId redirectUrl } }";
pub const STAFF_SIGN_IN: &str =
    "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }";

/// A GraphQL answer: its data, or the error code of a refusal (the caller decides which
/// refusals are expected).
pub enum Answer {
    Data(Value),
    Refused { code: String, body: String },
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        Ok(Api {
            http: reqwest::Client::builder()
                // The sandbox and the callback answer 303s the bench reads itself.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(256)
                .build()?,
            base: base.to_string(),
        })
    }

    /// POSTs an operation to `path` (`/graphql` or `/admin/graphql`). A transport error or a
    /// status other than 200 is an error; GraphQL errors are a refusal.
    pub async fn gql(
        &self,
        path: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "accept",
                "application/graphql-response+json, application/json",
            )
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status == 200, "POST {path}: HTTP {status}: {text:.300}");
        let mut body: Value =
            serde_json::from_str(&text).with_context(|| format!("{text:.300}"))?;
        if let Some(errors) = body.get("errors").and_then(Value::as_array) {
            if !errors.is_empty() {
                let code = errors[0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or("NO_CODE")
                    .to_string();
                return Ok(Answer::Refused { code, body: text });
            }
        }
        Ok(Answer::Data(body["data"].take()))
    }

    /// Like [`Api::gql`], with any refusal an error.
    pub async fn must(
        &self,
        path: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        match self.gql(path, token, query, variables).await? {
            Answer::Data(data) => Ok(data),
            Answer::Refused { body, .. } => bail!("{path}: {body:.400}"),
        }
    }

    /// A status-checked GET or POST of a path; returns the response's `location` and body.
    pub async fn step(
        &self,
        method: reqwest::Method,
        path: &str,
        expect: u16,
    ) -> anyhow::Result<(String, String)> {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await?;
        ensure!(
            status.as_u16() == expect,
            "{method} {path}: HTTP {status} (expected {expect}): {body:.300}"
        );
        Ok((location, body))
    }
}

/// A signed-in customer with a saved address.
pub struct Customer {
    pub token: String,
    pub address: String,
    pub payments: u32,
}

/// Signs customer number `n` in by OTP (the code read from the server's log) and saves an
/// address.
pub async fn sign_in(api: &Api, server: &ServerProc, n: u64) -> anyhow::Result<Customer> {
    let national = format!("0912{n:07}");
    let e164 = format!("+98912{n:07}");
    api.must("/graphql", None, REQUEST_OTP, json!({ "p": national }))
        .await?;
    let code = server.otp_code(&e164).await?;
    let data = api
        .must(
            "/graphql",
            None,
            VERIFY_OTP,
            json!({ "p": national, "c": code }),
        )
        .await?;
    let token = data["verifyOtp"]["accessToken"]
        .as_str()
        .context("verifyOtp gave no accessToken")?
        .to_string();
    let data = api
        .must(
            "/graphql",
            Some(&token),
            ADD_ADDRESS,
            json!({ "i": {
                "title": "خانه", "recipientName": "سارا احمدی", "recipientPhone": "09121234567",
                "province": "تهران", "city": "تهران", "addressLine": "خیابان ولیعصر، پلاک ۱۲",
                "postalCode": "1234567890",
            }}),
        )
        .await?;
    let address = data["addAddress"]["id"]
        .as_str()
        .context("addAddress gave no id")?
        .to_string();
    Ok(Customer {
        token,
        address,
        payments: 0,
    })
}

/// The outcome of adding one unit of a variant and checking out.
pub enum Placed {
    /// The order's number, and the instant the checkout request was about to be sent.
    Order {
        number: String,
        sent: std::time::Instant,
    },
    /// Refused for stock (`BAD_USER_INPUT`/`CONFLICT`), at the cart or at checkout.
    OutOfStock,
}

/// Adds one unit of `variant` and checks out. A refusal for stock empties the cart again.
pub async fn place_order(api: &Api, customer: &Customer, variant: i64) -> anyhow::Result<Placed> {
    let token = Some(customer.token.as_str());
    let lines = match api
        .gql(
            "/graphql",
            token,
            ADD_TO_CART,
            json!({ "v": variant.to_string() }),
        )
        .await?
    {
        Answer::Data(data) => data["addToCart"]["lines"]
            .as_array()
            .context("addToCart gave no lines")?
            .iter()
            .filter_map(|line| line["id"].as_str().map(str::to_string))
            .collect::<Vec<_>>(),
        Answer::Refused { code, .. } if code == "BAD_USER_INPUT" => return Ok(Placed::OutOfStock),
        Answer::Refused { body, .. } => bail!("addToCart: {body:.400}"),
    };
    let key = uuid::Uuid::new_v4().to_string();
    let sent = std::time::Instant::now();
    match api
        .gql(
            "/graphql",
            token,
            CHECKOUT,
            json!({ "i": { "addressId": customer.address, "idempotencyKey": key } }),
        )
        .await?
    {
        Answer::Data(data) => Ok(Placed::Order {
            number: data["checkout"]["number"]
                .as_str()
                .context("checkout gave no number")?
                .to_string(),
            sent,
        }),
        Answer::Refused { code, .. } if code == "BAD_USER_INPUT" || code == "CONFLICT" => {
            for line in lines {
                api.must("/graphql", token, REMOVE_LINE, json!({ "l": line }))
                    .await?;
            }
            Ok(Placed::OutOfStock)
        }
        Answer::Refused { body, .. } => bail!("checkout: {body:.400}"),
    }
}

/// startPayment, the sandbox page, its Pay button, then the gateway's callback, which must
/// answer that the order is paid (soak/soak.py's `pay`, in Rust).
pub async fn pay(api: &Api, customer: &mut Customer, order: &str) -> anyhow::Result<()> {
    customer.payments += 1;
    let data = api
        .must(
            "/graphql",
            Some(&customer.token),
            START_PAYMENT,
            json!({ "o": order }),
        )
        .await?;
    let redirect = data["startPayment"]["redirectUrl"]
        .as_str()
        .context("startPayment gave no redirectUrl")?;
    let page = path_and_query(redirect)?;
    let (_, html) = api.step(reqwest::Method::GET, &page, 200).await?;
    ensure!(
        html.contains(&format!("action=\"{page}/pay\"")),
        "no Pay form on {page}"
    );
    let (callback, _) = api
        .step(reqwest::Method::POST, &format!("{page}/pay"), 303)
        .await?;
    let (result, _) = api
        .step(reqwest::Method::GET, &path_and_query(&callback)?, 303)
        .await?;
    ensure!(
        result.contains("status=paid"),
        "order {order}: the callback answered {result}"
    );
    Ok(())
}

/// `/path?query` of an absolute URL or of a path.
fn path_and_query(url: &str) -> anyhow::Result<String> {
    if url.starts_with('/') {
        return Ok(url.to_string());
    }
    let parsed = reqwest::Url::parse(url).with_context(|| format!("URL {url}"))?;
    Ok(match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_string(),
    })
}
