//! The callback: the gateway sends the customer's browser back to the store with
//! `?Authority=<authority>&Status=OK|NOK` (Zarinpal's form; the sandbox uses it too).
//!
//! The query travels through the customer's browser, so it is a hint, not a proof: `OK` only
//! says a verification is worth making, and the authority must still be matched to a payment
//! the store opened. Parsing is strict (both keys once, known status, a plausible authority) so
//! that junk is refused before it reaches the database or the gateway.

use super::PaymentError;

/// Longest authority accepted; Zarinpal's are 36 characters.
const MAX_AUTHORITY_LEN: usize = 64;

/// What the customer's browser reports on return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub authority: String,
    pub status: CallbackStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackStatus {
    /// `OK`: the gateway says the customer paid; verify before believing it.
    Ok,
    /// `NOK`: cancelled or failed at the gateway.
    Nok,
}

impl Callback {
    /// Parses the callback's query string (with or without the leading `?`).
    pub fn from_query(query: &str) -> Result<Callback, PaymentError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut url = reqwest::Url::parse("http://callback.invalid/")
            .map_err(|e| PaymentError::InvalidCallback(e.to_string()))?;
        url.set_query(Some(query));
        let mut authority = None;
        let mut status = None;
        for (key, value) in url.query_pairs() {
            let slot = match key.as_ref() {
                "Authority" => &mut authority,
                "Status" => &mut status,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(PaymentError::InvalidCallback(format!("{key} given twice")));
            }
        }
        let authority =
            authority.ok_or_else(|| PaymentError::InvalidCallback("no Authority".into()))?;
        if authority.is_empty()
            || authority.len() > MAX_AUTHORITY_LEN
            || !authority.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PaymentError::InvalidCallback(
                "Authority is not a gateway authority".into(),
            ));
        }
        let status = match status.as_deref() {
            Some("OK") => CallbackStatus::Ok,
            Some("NOK") => CallbackStatus::Nok,
            Some(_) => {
                return Err(PaymentError::InvalidCallback(
                    "Status is not OK or NOK".into(),
                ))
            }
            None => return Err(PaymentError::InvalidCallback("no Status".into())),
        };
        Ok(Callback { authority, status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gateway_form() {
        let cb = Callback::from_query("?Authority=A0000000000000000000000000000wnr8yd4&Status=OK")
            .unwrap();
        assert_eq!(cb.authority, "A0000000000000000000000000000wnr8yd4");
        assert_eq!(cb.status, CallbackStatus::Ok);
        let cb = Callback::from_query("Status=NOK&Authority=S1&utm=x").unwrap();
        assert_eq!(cb.status, CallbackStatus::Nok);
    }

    #[test]
    fn refuses_what_the_gateway_never_sends() {
        for query in [
            "",
            "Status=OK",
            "Authority=A1",
            "Authority=A1&Status=ok",
            "Authority=A1&Status=PAID",
            "Authority=A1&Authority=A2&Status=OK",
            "Authority=A1&Status=OK&Status=NOK",
            "Authority=&Status=OK",
            "Authority=A1%27%3B--&Status=OK",
        ] {
            assert!(Callback::from_query(query).is_err(), "{query}");
        }
    }
}
