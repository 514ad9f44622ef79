//! Kavenegar's REST API (`https://api.kavenegar.com/v1/{API-KEY}/{method}.json`).
//!
//! Parameters go form-encoded in a POST; every answer has the shape
//! `{"return":{"status":200,"message":"..."},"entries":[...]}`, where `return.status` 200
//! means accepted and anything else is Kavenegar's error code (the HTTP status mirrors it).
//! OTP codes use `verify/lookup` (a template approved in the panel, `token` fills `%token%`):
//! it is delivered on the fast service line even to numbers that block advertising.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{SmsError, SmsProvider, SmsSettings};

pub struct Kavenegar {
    http: reqwest::Client,
    /// `{base_url}/v1/{api_key}`; holds the key, so never logged.
    root: String,
    otp_template: String,
    sender: String,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(rename = "return")]
    outcome: Outcome,
}

#[derive(Debug, Deserialize)]
struct Outcome {
    status: i64,
    #[serde(default)]
    message: String,
}

impl Kavenegar {
    pub fn new(settings: &SmsSettings) -> Self {
        let key = settings
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_string())
            .unwrap_or_default();
        Kavenegar {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
                .build()
                .unwrap_or_default(),
            root: format!("{}/v1/{key}", settings.base_url.trim_end_matches('/')),
            otp_template: settings.otp_template.clone(),
            sender: settings.sender.clone(),
        }
    }

    async fn call(&self, method: &str, form: &[(&str, &str)]) -> Result<(), SmsError> {
        let response = self
            .http
            .post(format!("{}/{method}.json", self.root))
            .form(form)
            .send()
            .await
            // Without the URL: it holds the API key.
            .map_err(|e| SmsError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| SmsError::Transport(format!("HTTP {status}: {}", e.without_url())))?;
        if answer.outcome.status == 200 {
            Ok(())
        } else {
            Err(SmsError::Refused {
                status: answer.outcome.status,
                message: answer.outcome.message,
            })
        }
    }
}

/// Kavenegar takes national numbers (`09121234567`).
fn receptor(phone_e164: &str) -> String {
    match phone_e164.strip_prefix("+98") {
        Some(national) => format!("0{national}"),
        None => phone_e164.to_string(),
    }
}

#[async_trait::async_trait]
impl SmsProvider for Kavenegar {
    async fn send_otp(&self, phone_e164: &str, code: &str) -> Result<(), SmsError> {
        let receptor = receptor(phone_e164);
        self.call(
            "verify/lookup",
            &[
                ("receptor", receptor.as_str()),
                ("token", code),
                ("template", self.otp_template.as_str()),
            ],
        )
        .await
    }

    async fn send_text(
        &self,
        phone_e164: &str,
        text: &str,
        dedupe_id: i64,
    ) -> Result<(), SmsError> {
        let receptor = receptor(phone_e164);
        let local_id = dedupe_id.to_string();
        let mut form = vec![
            ("receptor", receptor.as_str()),
            ("message", text),
            ("localid", local_id.as_str()),
        ];
        if !self.sender.is_empty() {
            form.push(("sender", self.sender.as_str()));
        }
        self.call("sms/send", &form).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receptor_is_national() {
        assert_eq!(receptor("+989121234567"), "09121234567");
    }

    #[test]
    fn answers_parse() {
        let ok: Answer = serde_json::from_str(
            r#"{"return":{"status":200,"message":"تایید شد"},"entries":[{"messageid":8792343,"status":5}]}"#,
        )
        .unwrap();
        assert_eq!(ok.outcome.status, 200);
        let refused: Answer = serde_json::from_str(
            r#"{"return":{"status":424,"message":"الگوی مورد نظر پیدا نشد"},"entries":null}"#,
        )
        .unwrap();
        assert_eq!(refused.outcome.status, 424);
    }
}
