//! The client's IP address, the key of per-IP rate limits.
//!
//! By default it is the socket's peer address. Behind a reverse proxy every request would then
//! come from the proxy, so `http.trust_forwarded_for` makes the server take the left-most
//! address of `X-Forwarded-For` instead; it must be set only when a proxy that overwrites the
//! header stands in front, since a client can write any value into it.

use std::net::IpAddr;

use axum::http::HeaderMap;

pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| first.trim().parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(&headers, Some(peer), false), Some(peer));
        assert_eq!(
            client_ip(&headers, Some(peer), true),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(client_ip(&HeaderMap::new(), Some(peer), true), Some(peer));
    }
}
