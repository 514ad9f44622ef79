//! A simulator of Zarinpal's REST API v4, served in-process on a random port:
//! `request.json`, the `StartPay` page (with forms a test presses as a customer would) and
//! `verify.json`, with the real JSON shapes, codes 100/101 and the documented error codes,
//! plus injected faults (5xx, lost answers, malformed bodies). Shared by the test binaries
//! that talk to Zarinpal.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{json, Value};
use server::config::CurrencyUnit;
use server::payment::zarinpal::{ZarinpalConfig, ZarinpalGateway};

/// The merchant id the simulator knows (36 characters, like Zarinpal's).
pub const MERCHANT: &str = "1344b5d4-0048-11e8-94db-005056a205be";

// ---------------------------------------------------------------------------------------------
// The Zarinpal simulator
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimState {
    Pending,
    Paid,
    Cancelled,
    Verified,
}

pub struct SimSession {
    pub merchant_id: String,
    /// In the session's own currency, as the merchant sent it.
    pub amount: i64,
    pub callback_url: String,
    pub state: SimState,
    pub ref_id: i64,
}

/// A fault served instead of (or around) the next verification's normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 502 with a text body, the verification not processed.
    ServerError,
    /// The verification is processed, then the answer is held back this long (longer than
    /// the client's timeout: the answer is lost, the effect is not).
    AnswerLost(Duration),
    /// HTTP 200 with this body, the verification not processed.
    Body(&'static str),
}

#[derive(Default)]
pub struct Sim {
    pub sessions: HashMap<String, SimSession>,
    pub next_authority: u64,
    pub next_ref: i64,
    pub verify_faults: VecDeque<Fault>,
    pub verify_calls: u32,
    /// Bodies of the `request.json` calls received.
    pub requests: Vec<Value>,
}

pub type Shared = Arc<Mutex<Sim>>;

pub struct Simulator {
    pub base: String,
    pub sim: Shared,
    /// A browser that does not follow redirects, so the test can read them.
    pub browser: reqwest::Client,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Zarinpal's refusal: `data` empty, `errors` filled.
pub fn refusal(code: i32, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "data": [],
            "errors": { "code": code, "message": message, "validations": [] }
        })),
    )
        .into_response()
}

/// The merchant id of a call, or the code and message Zarinpal refuses it with.
pub fn check_merchant(body: &Value) -> Result<String, (i32, &'static str)> {
    match body["merchant_id"].as_str() {
        Some(MERCHANT) => Ok(MERCHANT.to_owned()),
        Some(id) if id.len() == 36 => Err((
            -10,
            "Terminal is not valid, please check merchant_id or ip address.",
        )),
        _ => Err((-9, "The input params invalid, validation error.")),
    }
}

pub async fn sim_request(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    sim.lock().unwrap().requests.push(body.clone());
    let merchant_id = match check_merchant(&body) {
        Ok(id) => id,
        Err((code, message)) => return refusal(code, message),
    };
    let currency = body["currency"].as_str().unwrap_or("IRR");
    let Some(amount) = body["amount"].as_i64() else {
        return refusal(-9, "The input params invalid, validation error.");
    };
    let rial = match currency {
        "IRR" => amount,
        "IRT" => amount * 10,
        _ => return refusal(-9, "The input params invalid, validation error."),
    };
    if rial < 1_000 {
        return refusal(-9, "The input params invalid, validation error.");
    }
    if rial > 1_000_000_000 {
        return refusal(-41, "Maximum amount is 100,000,000 tomans.");
    }
    let description = body["description"].as_str().unwrap_or_default();
    let callback_url = body["callback_url"].as_str().unwrap_or_default();
    if description.is_empty() || description.chars().count() > 500 {
        return refusal(-9, "The input params invalid, validation error.");
    }
    if !callback_url.starts_with("http") {
        return refusal(-9, "The input params invalid, validation error.");
    }
    let mut sim = sim.lock().unwrap();
    sim.next_authority += 1;
    let authority = format!("A{:035}", 217_885_159 + sim.next_authority);
    sim.sessions.insert(
        authority.clone(),
        SimSession {
            merchant_id,
            amount,
            callback_url: callback_url.to_owned(),
            state: SimState::Pending,
            ref_id: 0,
        },
    );
    Json(json!({
        "data": {
            "code": 100,
            "message": "Success",
            "authority": authority,
            "fee_type": "Merchant",
            "fee": 0
        },
        "errors": []
    }))
    .into_response()
}

pub async fn sim_start_pay(State(sim): State<Shared>, Path(authority): Path<String>) -> Response {
    let sim = sim.lock().unwrap();
    match sim.sessions.get(&authority) {
        Some(session) if session.state == SimState::Pending => Html(format!(
            r#"<h1>درگاه پرداخت</h1><p>{}</p>
<form method="post" action="/pg/StartPay/{authority}/pay"><button>Pay</button></form>
<form method="post" action="/pg/StartPay/{authority}/cancel"><button>Cancel</button></form>"#,
            session.amount
        ))
        .into_response(),
        Some(_) => (StatusCode::GONE, "session closed").into_response(),
        None => (StatusCode::NOT_FOUND, "unknown authority").into_response(),
    }
}

/// What the bank's page does when the customer decides: not part of Zarinpal's API, the
/// simulator's stand-in for a customer at the card form.
pub async fn sim_decide(
    State(sim): State<Shared>,
    Path((authority, decision)): Path<(String, String)>,
) -> Response {
    let mut sim = sim.lock().unwrap();
    sim.next_ref += 1;
    let ref_id = 201_000_000 + sim.next_ref;
    let Some(session) = sim.sessions.get_mut(&authority) else {
        return (StatusCode::NOT_FOUND, "unknown authority").into_response();
    };
    if session.state == SimState::Pending {
        if decision == "pay" {
            session.state = SimState::Paid;
            session.ref_id = ref_id;
        } else {
            session.state = SimState::Cancelled;
        }
    }
    let status = match session.state {
        SimState::Paid | SimState::Verified => "OK",
        SimState::Pending | SimState::Cancelled => "NOK",
    };
    let mut url = reqwest::Url::parse(&session.callback_url).unwrap();
    url.query_pairs_mut()
        .append_pair("Authority", &authority)
        .append_pair("Status", status);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The verification itself, as Zarinpal processes and answers it.
pub fn verify_answer(sim: &mut Sim, body: &Value) -> Response {
    let merchant_id = match check_merchant(body) {
        Ok(id) => id,
        Err((code, message)) => return refusal(code, message),
    };
    let (Some(authority), Some(amount)) = (body["authority"].as_str(), body["amount"].as_i64())
    else {
        return refusal(-9, "The input params invalid, validation error.");
    };
    let Some(session) = sim.sessions.get_mut(authority) else {
        return refusal(-54, "Invalid authority.");
    };
    if session.merchant_id != merchant_id {
        return refusal(-53, "Session is not this merchant_id session");
    }
    if matches!(session.state, SimState::Pending | SimState::Cancelled) {
        return refusal(-51, "Session is not valid, session is not active paid try.");
    }
    if session.amount != amount {
        return refusal(-50, "Session is not valid, amounts values is not the same.");
    }
    let code = if session.state == SimState::Paid {
        session.state = SimState::Verified;
        100
    } else {
        101
    };
    Json(json!({
        "data": {
            "code": code,
            "message": if code == 100 { "Paid" } else { "Verified" },
            "card_hash": "1EBE3EBEBE35C7EC0F8D6EE4F2F859107A87822CA179BC9528767EA7B5489B69",
            "card_pan": "502229******5995",
            "ref_id": session.ref_id,
            "fee_type": "Merchant",
            "fee": session.amount / 100
        },
        "errors": []
    }))
    .into_response()
}

pub async fn sim_verify(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let fault = {
        let mut sim = sim.lock().unwrap();
        sim.verify_calls += 1;
        sim.verify_faults.pop_front()
    };
    match fault {
        Some(Fault::ServerError) => (StatusCode::BAD_GATEWAY, "upstream failed").into_response(),
        Some(Fault::Body(text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        Some(Fault::AnswerLost(delay)) => {
            let answer = verify_answer(&mut sim.lock().unwrap(), &body);
            tokio::time::sleep(delay).await;
            answer
        }
        None => verify_answer(&mut sim.lock().unwrap(), &body),
    }
}

impl Simulator {
    pub async fn start() -> Simulator {
        let sim: Shared = Arc::default();
        let router = Router::new()
            .route("/pg/v4/payment/request.json", post(sim_request))
            .route("/pg/v4/payment/verify.json", post(sim_verify))
            .route("/pg/StartPay/{authority}", get(sim_start_pay))
            .route("/pg/StartPay/{authority}/{decision}", post(sim_decide))
            .with_state(sim.clone());
        Simulator {
            base: serve(router).await,
            sim,
            browser: browser(),
        }
    }

    pub fn gateway(&self, merchant_id: &str, unit: CurrencyUnit) -> ZarinpalGateway {
        ZarinpalGateway::new(ZarinpalConfig {
            merchant_id: SecretString::from(merchant_id),
            base_url: format!("{}/", self.base),
            currency_unit: unit,
            timeout: Duration::from_millis(700),
            verify_attempts: 3,
            retry_delay: Duration::from_millis(20),
        })
        .unwrap()
    }

    pub fn fail_next_verifies(&self, faults: impl IntoIterator<Item = Fault>) {
        self.sim.lock().unwrap().verify_faults.extend(faults);
    }

    pub fn verify_calls(&self) -> u32 {
        self.sim.lock().unwrap().verify_calls
    }

    pub fn requests(&self) -> Vec<Value> {
        self.sim.lock().unwrap().requests.clone()
    }

    pub fn ref_id(&self, authority: &str) -> i64 {
        self.sim.lock().unwrap().sessions[authority].ref_id
    }

    /// The customer opens the payment page and presses `button` (`pay` or `cancel`); returns
    /// the URL the gateway sends them back to.
    pub async fn customer(&self, redirect_url: &str, button: &str) -> reqwest::Url {
        let page = self.browser.get(redirect_url).send().await.unwrap();
        assert_eq!(page.status(), 200, "the StartPay page opens");
        let html = page.text().await.unwrap();
        let action = form_action(&html, button);
        let answer = self
            .browser
            .post(format!("{}{action}", self.base))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_redirection(), "{}", answer.status());
        location(&answer)
    }
}

/// The `action` of the page's form whose path ends with `/{button}`.
pub fn form_action(html: &str, button: &str) -> String {
    html.split("action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.ends_with(&format!("/{button}")))
        .unwrap_or_else(|| panic!("no {button} form in {html}"))
        .to_owned()
}

pub fn location(response: &reqwest::Response) -> reqwest::Url {
    let location = response.headers()[header::LOCATION.as_str()]
        .to_str()
        .unwrap();
    reqwest::Url::parse(location).unwrap()
}
