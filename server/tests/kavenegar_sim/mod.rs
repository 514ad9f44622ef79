//! A local simulator of Kavenegar's REST API, for tests only: the two methods the server uses
//! (`verify/lookup` and `sms/send`), answered as the real service answers them, with every
//! accepted message recorded so a test can read the OTP code the server sent.
//!
//! Faithful parts: the API key is part of the path (`/v1/{API-KEY}/{method}.json`) and a wrong
//! one is refused with 403; parameters arrive form-encoded (POST) or in the query (GET); every
//! answer is `{"return":{"status":...,"message":"..."},"entries":[...]}` with the HTTP status
//! mirroring `return.status`; a missing parameter is 400, an unknown template 424, a receptor
//! that is not a mobile number 411. `sms/send` honours `localid` as Kavenegar documents it: a
//! message whose `localid` was already accepted is not sent again, and the first send's entry
//! is answered instead.
//!
//! Faults for retry tests: [`Kavenegar::refuse_next_sends`] answers 418 (account credit too
//! low) without sending; [`Kavenegar::lose_next_answers`] sends, then answers 502 as a proxy
//! that lost the answer would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::any;
use axum::{Form, Json, Router};
use serde_json::{json, Value};

/// One message the simulator accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `verify/lookup` or `sms/send`.
    pub method: String,
    pub receptor: String,
    /// The OTP code (`verify/lookup`).
    pub token: Option<String>,
    pub template: Option<String>,
    /// The text (`sms/send`).
    pub message: Option<String>,
    pub sender: Option<String>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sent>,
    next_id: i64,
    /// Entries of accepted `sms/send` calls by their `localid`.
    by_local_id: HashMap<String, Value>,
    refuse_sends: usize,
    lose_answers: usize,
}

#[derive(Clone)]
struct Shared {
    api_key: String,
    templates: Vec<String>,
    inner: Arc<Mutex<Inner>>,
}

pub struct Kavenegar {
    pub base_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Kavenegar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Kavenegar {
    /// Starts the simulator on a free port, knowing `api_key` and the verify `templates`.
    pub async fn start(api_key: &str, templates: &[&str]) -> Kavenegar {
        let shared = Shared {
            api_key: api_key.into(),
            templates: templates.iter().map(|t| (*t).to_string()).collect(),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/{key}/verify/lookup.json", any(lookup))
            .route("/v1/{key}/sms/send.json", any(send))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Kavenegar {
            base_url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Every accepted message, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.inner.lock().unwrap().sent.clone()
    }

    /// The next `n` `sms/send` calls are refused with 418 (credit too low) and not sent.
    pub fn refuse_next_sends(&self, n: usize) {
        self.shared.inner.lock().unwrap().refuse_sends = n;
    }

    /// The next `n` `sms/send` calls are sent, but answered 502 (the answer was lost).
    pub fn lose_next_answers(&self, n: usize) {
        self.shared.inner.lock().unwrap().lose_answers = n;
    }

    /// The newest OTP code sent to `receptor` (national form, `09...`).
    pub fn last_code(&self, receptor: &str) -> Option<String> {
        self.sent()
            .into_iter()
            .rev()
            .find(|s| s.method == "verify/lookup" && s.receptor == receptor)
            .and_then(|s| s.token)
    }
}

fn answer(status: u16, message: &str, entries: Value) -> axum::response::Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(json!({ "return": { "status": status, "message": message }, "entries": entries })),
    )
        .into_response()
}

/// Kavenegar accepts `09...`, `9...`, `+989...` and `00989...` receptors.
fn mobile(receptor: &str) -> Option<String> {
    let digits = receptor.trim_start_matches('+');
    let national = digits
        .strip_prefix("0098")
        .or_else(|| digits.strip_prefix("98").filter(|r| r.len() == 10))
        .or_else(|| digits.strip_prefix('0'))
        .unwrap_or(digits);
    (national.len() == 10
        && national.starts_with('9')
        && national.bytes().all(|b| b.is_ascii_digit()))
    .then(|| format!("0{national}"))
}

fn record(shared: &Shared, sent: Sent) -> Value {
    let mut inner = shared.inner.lock().unwrap();
    inner.next_id += 1;
    let entry = json!({
        "messageid": 8_792_000 + inner.next_id,
        "message": sent.message.clone().or_else(|| sent.token.clone()).unwrap_or_default(),
        "status": 5,
        "statustext": "ارسال به مخابرات",
        "sender": sent.sender.clone().unwrap_or_else(|| "10004346".into()),
        "receptor": sent.receptor,
        "date": chrono::Utc::now().timestamp(),
        "cost": 120,
    });
    inner.sent.push(sent);
    json!([entry])
}

async fn lookup(
    State(shared): State<Shared>,
    Path(key): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> axum::response::Response {
    if key != shared.api_key {
        return answer(403, "کد شناسائی API-Key معتبر نمیباشد", Value::Null);
    }
    let (Some(receptor), Some(token), Some(template)) = (
        params.get("receptor"),
        params.get("token"),
        params.get("template"),
    ) else {
        return answer(400, "پارامترها ناقص هستند", Value::Null);
    };
    if !shared.templates.contains(template) {
        return answer(424, "الگوی مورد نظر پیدا نشد", Value::Null);
    }
    let Some(receptor) = mobile(receptor) else {
        return answer(411, "دریافت کننده نامعتبر است", Value::Null);
    };
    if token.is_empty() || token.contains(' ') {
        return answer(431, "ساختار کد صحیح نمی‌باشد", Value::Null);
    }
    let entries = record(
        &shared,
        Sent {
            method: "verify/lookup".into(),
            receptor,
            token: Some(token.clone()),
            template: Some(template.clone()),
            message: None,
            sender: None,
        },
    );
    answer(200, "تایید شد", entries)
}

async fn send(
    State(shared): State<Shared>,
    Path(key): Path<String>,
    Form(params): Form<HashMap<String, String>>,
) -> axum::response::Response {
    if key != shared.api_key {
        return answer(403, "کد شناسائی API-Key معتبر نمیباشد", Value::Null);
    }
    let (Some(receptor), Some(message)) = (params.get("receptor"), params.get("message")) else {
        return answer(400, "پارامترها ناقص هستند", Value::Null);
    };
    let Some(receptor) = mobile(receptor) else {
        return answer(411, "دریافت کننده نامعتبر است", Value::Null);
    };
    let local_id = params.get("localid").cloned();
    {
        let mut inner = shared.inner.lock().unwrap();
        if let Some(entries) = local_id.as_ref().and_then(|id| inner.by_local_id.get(id)) {
            return answer(200, "تایید شد", entries.clone());
        }
        if inner.refuse_sends > 0 {
            inner.refuse_sends -= 1;
            return answer(418, "اعتبار حساب شما کافی نیست", Value::Null);
        }
    }
    let entries = record(
        &shared,
        Sent {
            method: "sms/send".into(),
            receptor,
            token: None,
            template: None,
            message: Some(message.clone()),
            sender: params.get("sender").cloned(),
        },
    );
    let mut inner = shared.inner.lock().unwrap();
    if let Some(id) = local_id {
        inner.by_local_id.insert(id, entries.clone());
    }
    if inner.lose_answers > 0 {
        inner.lose_answers -= 1;
        return (StatusCode::BAD_GATEWAY, "Bad Gateway").into_response();
    }
    answer(200, "تایید شد", entries)
}
