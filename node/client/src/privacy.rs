//! The client's metadata mitigations (spec/10): a random delay before each paid call, no
//! connection kept from one call to the next, and an optional SOCKS5 proxy (Tor, or a mixnet
//! the user runs) with credentials of its own for each note, so that Tor puts each note on a
//! circuit of its own (Tor isolates streams by SOCKS credentials).

use crate::{ApiRequest, ClientError};
use rand::Rng;
use std::{collections::HashMap, sync::Mutex, time::Duration};

/// How far the client goes to hide its calls' metadata. The default hides what costs nothing:
/// no connection is ever reused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivacyOptions {
    /// Each paid call waits a uniform random delay of up to this long, once its note is held
    /// and its previous ticket settled, before it is proven and sent: the provider cannot time
    /// a call against the settlement lookup before it, nor read the user's own rhythm exactly.
    pub max_delay: Duration,
    /// Every connection to a provider goes through this SOCKS5 proxy, `socks5h://host:port`
    /// (the proxy resolves names: no DNS query leaves from here). The proxy sees one random
    /// user name per note (or per call), unrelated to each other.
    pub socks5: Option<String>,
    /// Behind `socks5`: a circuit for every call and lookup, not one per note. Calls of one
    /// note then leave by different exits; each costs Tor a circuit (built ahead, mostly).
    pub circuit_per_call: bool,
    /// JSON request bodies are padded with spaces (JSON whitespace) to a multiple of this many
    /// bytes (0: off), so the size on the wire says less about the prompt. The upstream still
    /// counts the prompt's tokens: this hides the size from the network and the node's logs.
    pub pad_bytes: usize,
}

impl PrivacyOptions {
    /// The delay before one call: uniform in `[0, max_delay]`.
    pub fn delay(&self, rng: &mut impl Rng) -> Duration {
        let most = u64::try_from(self.max_delay.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(if most == 0 { 0 } else { rng.gen_range(0..=most) })
    }

    /// `request` as it is sent: its JSON body, if it has one, padded to a multiple of
    /// `pad_bytes`.
    pub fn padded(&self, request: &ApiRequest) -> ApiRequest {
        let json = request.content_type.as_deref().is_some_and(|t| t.contains("json"));
        let mut padded = request.clone();
        if json && self.pad_bytes > 0 && !request.body.is_empty() {
            let len = request.body.len().div_ceil(self.pad_bytes).max(1) * self.pad_bytes;
            padded.body.resize(len, b' ');
        }
        padded
    }

    fn check(&self) -> Result<(), ClientError> {
        let Some(url) = &self.socks5 else { return Ok(()) };
        let bad = |reason: &str| ClientError::Provider {
            url: url.clone(),
            reason: format!("--socks5: {reason}"),
        };
        if !url.starts_with("socks5h://") {
            return Err(bad(
                "must be a SOCKS5 URL that lets the proxy resolve names, such as socks5h://127.0.0.1:9050 (Tor's port): socks5:// would look the provider up in local DNS",
            ));
        }
        if url.contains('@') {
            return Err(bad("must carry no credentials: the client sets its own for each note"));
        }
        reqwest::Proxy::all(url).map(|_| ()).map_err(|e| bad(&e.to_string()))
    }
}

/// Who a connection speaks for: the provider's public terms, or one note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// `GET /v1/info`: nothing of the wallet's.
    Terms,
    /// A note's paid calls and settlement lookups.
    Note(usize),
}

/// The HTTP clients, one for each identity behind a SOCKS5 proxy, one for all without. None
/// keeps a connection open: two calls on one connection are two calls of one user.
pub(crate) struct Connections {
    options: PrivacyOptions,
    clients: Mutex<HashMap<Identity, reqwest::Client>>,
}

impl Connections {
    pub(crate) fn new(options: PrivacyOptions) -> Result<Self, ClientError> {
        options.check()?;
        Ok(Self { options, clients: Mutex::new(HashMap::new()) })
    }

    pub(crate) fn options(&self) -> &PrivacyOptions {
        &self.options
    }

    /// The client for `identity`.
    pub(crate) fn client(&self, identity: Identity) -> Result<reqwest::Client, ClientError> {
        // Without a proxy every identity shares one client: none keeps a connection anyway.
        let key = if self.options.socks5.is_some() { identity } else { Identity::Terms };
        // A fresh random name for every identity (and every call): names tell the proxy
        // nothing of each other, and no circuit is kept from an earlier run.
        let user = || format!("{:032x}", rand::random::<u128>());
        if self.options.circuit_per_call
            && self.options.socks5.is_some()
            && matches!(identity, Identity::Note(_))
        {
            return self.build(&user());
        }
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = self.build(&user())?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// A client that keeps no connection, behind the proxy as `user` when there is one.
    fn build(&self, user: &str) -> Result<reqwest::Client, ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(crate::client::SILENCE_LIMIT)
            // A provider's answer is its own: never follow it elsewhere with the payment.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0);
        let proxy_url = self.options.socks5.as_deref().unwrap_or("-");
        if let Some(url) = &self.options.socks5 {
            let proxy = reqwest::Proxy::all(url)
                .map_err(|e| crate::client::provider_error(proxy_url, e))?
                .basic_auth(user, "zkcredits");
            builder = builder.proxy(proxy);
        }
        builder.build().map_err(|e| crate::client::provider_error(proxy_url, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_are_uniform_within_the_bound() {
        let options =
            PrivacyOptions { max_delay: Duration::from_millis(200), ..PrivacyOptions::default() };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let delays: Vec<Duration> = (0..2_000).map(|_| options.delay(&mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(200)));
        let mean = delays.iter().sum::<Duration>() / 2_000;
        assert!((Duration::from_millis(95)..=Duration::from_millis(105)).contains(&mean));
        assert_eq!(PrivacyOptions::default().delay(&mut rng), Duration::ZERO);
    }

    #[test]
    fn json_bodies_are_padded_with_whitespace() {
        let options = PrivacyOptions { pad_bytes: 1_024, ..PrivacyOptions::default() };
        let request = ApiRequest::post_json("/v1/chat/completions", br#"{"messages":[]}"#.to_vec());
        let padded = options.padded(&request);
        assert_eq!(padded.body.len(), 1_024);
        let parsed: serde_json::Value = serde_json::from_slice(&padded.body).expect("still JSON");
        assert_eq!(parsed, serde_json::json!({"messages": []}));
        let long = ApiRequest::post_json("/v1/x", vec![b' '; 1_025]);
        assert_eq!(options.padded(&long).body.len(), 2_048);
        let mut binary = request.clone();
        binary.content_type = Some("application/octet-stream".into());
        assert_eq!(options.padded(&binary).body, request.body, "not JSON: as is");
        assert_eq!(PrivacyOptions::default().padded(&request).body, request.body, "off");
        let empty = ApiRequest::post_json("/proxy/v1/models", Vec::new());
        assert!(options.padded(&empty).body.is_empty(), "no body, no padding (GET)");
    }

    #[test]
    fn only_a_plain_socks5_url_is_taken() {
        let with = |url: &str| PrivacyOptions { socks5: Some(url.into()), ..Default::default() };
        assert!(with("socks5h://127.0.0.1:9050").check().is_ok());
        for (url, says) in [
            ("socks5://127.0.0.1:9050", "local DNS"),
            ("http://127.0.0.1:8080", "SOCKS5 URL"),
            ("socks4://127.0.0.1:9050", "SOCKS5 URL"),
            ("socks5h://me:pw@127.0.0.1:9050", "no credentials"),
        ] {
            let err = with(url).check().expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
