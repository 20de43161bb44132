//! Metering: what a served request costs, from the upstream's `usage`, rounded up to a charge
//! class so the refund tells the provider (and anyone watching) only a few bits.

use crate::config::PricingConfig;
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;

/// Token counts an OpenAI-compatible upstream reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
}

impl Usage {
    /// The `usage` object of a response or a stream chunk, if it carries one. Without
    /// `completion_tokens`, they are `total_tokens − prompt_tokens` (zero for answers that
    /// generate nothing, such as embeddings).
    pub fn from_response(response: &Value) -> Option<Self> {
        let usage = response.get("usage")?;
        let prompt_tokens = usage.get("prompt_tokens")?.as_u64()?;
        let completion_tokens = match (usage.get("completion_tokens"), usage.get("total_tokens")) {
            (Some(count), _) => count.as_u64()?,
            (None, Some(total)) => total.as_u64()?.saturating_sub(prompt_tokens),
            (None, None) => 0,
        };
        Some(Self { prompt_tokens, completion_tokens })
    }
}

/// How a route is priced: a base price per call, plus the price of reported usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePrice {
    /// Charged for every call.
    pub base: u64,
    /// An answer without `usage` costs `C_MAX`.
    pub metered: bool,
    /// Fixed-class mode: every answered call costs this, or the class its usage costs when
    /// that is more.
    pub fixed: Option<u64>,
}

/// Prices and charge classes of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    per_request: u64,
    per_prompt_token: u64,
    per_completion_token: u64,
    buckets: Vec<u64>,
    c_max: u64,
    /// Fixed-class mode: the charge of every answered chat call and its token cap.
    fixed: Option<(u64, u64)>,
    /// `(method, upstream path)` → price, of the routes `/proxy` forwards.
    proxy: BTreeMap<(String, String), RoutePrice>,
}

impl Pricing {
    /// The configured prices under `c_max`. Classes above `C_MAX` are dropped; `C_MAX` is always
    /// the last class.
    pub fn new(config: &PricingConfig, c_max: u64) -> Self {
        let mut buckets: Vec<u64> = if config.buckets.is_empty() {
            (0..8).rev().map(|shift| c_max >> shift).filter(|&b| b > 0).collect()
        } else {
            config.buckets.iter().copied().filter(|&b| b > 0 && b < c_max).collect()
        };
        if buckets.last() != Some(&c_max) {
            buckets.push(c_max);
        }
        buckets.dedup();
        Self {
            per_request: config.per_request,
            per_prompt_token: config.per_prompt_token,
            per_completion_token: config.per_completion_token,
            buckets,
            c_max,
            fixed: (config.fixed_charge > 0)
                .then(|| (config.fixed_charge.min(c_max), config.fixed_max_tokens)),
            proxy: config
                .proxy
                .iter()
                .map(|r| {
                    let price = RoutePrice { base: r.price, metered: r.metered, fixed: None };
                    ((r.method.clone(), r.path.clone()), price)
                })
                .collect(),
        }
    }

    /// The price of `method path` through `/proxy`, if the route is forwarded at all.
    pub fn proxy_route(&self, method: &str, path: &str) -> Option<RoutePrice> {
        self.proxy.get(&(method.to_owned(), path.to_owned())).copied()
    }

    /// The charge classes, increasing; the last is `C_MAX`.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// The chat route's price: `per_request` per call, metered, or the fixed class.
    pub fn chat(&self) -> RoutePrice {
        RoutePrice { base: self.per_request, metered: true, fixed: self.fixed.map(|(c, _)| c) }
    }

    /// A chat request's body as it goes upstream: in fixed-class mode, `max_tokens` and
    /// `max_completion_tokens` lowered to the cap (`max_tokens` set when neither is there),
    /// one choice (`n` = 1, no `best_of`), so that an answer's completion stays within what
    /// the fixed charge covers. `None` in fixed-class mode for a body that is not a JSON
    /// object: an upstream with a laxer parser could read it without the cap.
    pub fn chat_body(&self, body: Bytes) -> Option<Bytes> {
        let Some((_, cap)) = self.fixed else { return Some(body) };
        let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(&body) else {
            return None;
        };
        if request.contains_key("n") {
            request.insert("n".into(), Value::from(1));
        }
        request.remove("best_of");
        let mut capped = false;
        for key in ["max_tokens", "max_completion_tokens"] {
            if let Some(asked) = request.get_mut(key) {
                capped = true;
                if asked.as_u64().is_none_or(|n| n > cap) {
                    *asked = Value::from(cap);
                }
            }
        }
        if !capped {
            request.insert("max_tokens".into(), Value::from(cap));
        }
        serde_json::to_vec(&request).ok().map(Bytes::from)
    }

    /// The charge of a chat request: `C_MAX` when the upstream reported no usage (the client
    /// asked for nothing it could be metered on, or the stream broke), else the price rounded up
    /// to the smallest class that covers it, capped at `C_MAX`.
    pub fn charge(&self, usage: Option<Usage>) -> u64 {
        self.charge_route(self.chat(), usage)
    }

    /// The charge of a call on a route priced `price`: its base plus the price of `usage`,
    /// rounded up to a class; `C_MAX` for a metered route that reported no usage.
    pub fn charge_route(&self, price: RoutePrice, usage: Option<Usage>) -> u64 {
        let usage = match (usage, price.fixed) {
            (Some(usage), _) => usage,
            (None, Some(fixed)) => return fixed,
            (None, None) if price.metered => return self.c_max,
            (None, None) => Usage::default(),
        };
        let cost = u128::from(price.base)
            + u128::from(usage.prompt_tokens) * u128::from(self.per_prompt_token)
            + u128::from(usage.completion_tokens) * u128::from(self.per_completion_token);
        match price.fixed {
            // Above the fixed class only when the usage costs more: a long prompt pays for itself.
            Some(fixed) if cost <= u128::from(fixed) => fixed,
            _ => self.round_up(cost),
        }
    }

    /// The charge of a call priced by its base alone (an upstream error answer).
    pub fn flat_charge(&self, price: RoutePrice) -> u64 {
        if let Some(fixed) = price.fixed {
            return fixed;
        }
        self.round_up(u128::from(price.base))
    }

    fn round_up(&self, cost: u128) -> u64 {
        if cost == 0 {
            return 0;
        }
        self.buckets.iter().copied().find(|&b| u128::from(b) >= cost).unwrap_or(self.c_max)
    }

    /// The JSON a 402 and `/v1/info` publish.
    pub fn to_json(&self) -> Value {
        let mut json = self.classes_json();
        if let Some((charge, max_tokens)) = self.fixed {
            json["fixedCharge"] = Value::from(charge.to_string());
            json["fixedMaxTokens"] = Value::from(max_tokens.to_string());
        }
        json
    }

    fn classes_json(&self) -> Value {
        serde_json::json!({
            "perRequest": self.per_request.to_string(),
            "perPromptToken": self.per_prompt_token.to_string(),
            "perCompletionToken": self.per_completion_token.to_string(),
            "buckets": self.buckets.iter().map(u64::to_string).collect::<Vec<_>>(),
            "proxy": self.proxy.iter().map(|((method, path), price)| serde_json::json!({
                "method": method,
                "path": format!("/proxy{path}"),
                "price": price.base.to_string(),
                "metered": price.metered,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prompt_tokens: u64, completion_tokens: u64) -> Option<Usage> {
        Some(Usage { prompt_tokens, completion_tokens })
    }

    #[test]
    fn default_classes_are_powers_of_two_fractions() {
        let pricing = Pricing::new(&PricingConfig::default(), 1_024);
        assert_eq!(pricing.buckets(), &[8, 16, 32, 64, 128, 256, 512, 1_024]);
        // 10 prompt tokens at 1 and 5 completion tokens at 3 cost 25: class 32.
        assert_eq!(pricing.charge(usage(10, 5)), 32);
        assert_eq!(pricing.charge(usage(0, 0)), 0);
        assert_eq!(pricing.charge(usage(1, 0)), 8);
        assert_eq!(pricing.charge(usage(u64::MAX, u64::MAX)), 1_024, "capped, no overflow");
        assert_eq!(pricing.charge(None), 1_024, "unmetered costs C_MAX");
    }

    #[test]
    fn configured_classes_and_flat_price() {
        let config = PricingConfig {
            per_request: 7,
            per_prompt_token: 0,
            per_completion_token: 0,
            buckets: vec![5, 10, 5_000],
            ..PricingConfig::default()
        };
        let pricing = Pricing::new(&config, 100);
        assert_eq!(pricing.buckets(), &[5, 10, 100], "classes above C_MAX dropped");
        assert_eq!(pricing.flat_charge(pricing.chat()), 10);
        assert_eq!(pricing.charge(usage(3, 3)), 10);
    }

    #[test]
    fn proxy_routes_are_priced_by_base_and_usage() {
        let route = |method: &str, path: &str, price, metered| crate::config::ProxyRoute {
            method: method.into(),
            path: path.into(),
            price,
            metered,
            free: false,
        };
        let config = PricingConfig {
            proxy: vec![
                route("POST", "/v1/embeddings", 0, true),
                route("GET", "/v1/models", 3, false),
            ],
            ..PricingConfig::default()
        };
        let pricing = Pricing::new(&config, 1_024);
        assert_eq!(pricing.proxy_route("POST", "/v1/chat/completions"), None);
        assert_eq!(pricing.proxy_route("GET", "/v1/embeddings"), None, "the method is part of it");
        let embeddings = pricing.proxy_route("POST", "/v1/embeddings").expect("listed");
        assert_eq!(pricing.charge_route(embeddings, usage(20, 0)), 32);
        assert_eq!(pricing.charge_route(embeddings, None), 1_024, "metered without usage");
        let models = pricing.proxy_route("GET", "/v1/models").expect("listed");
        assert_eq!(pricing.charge_route(models, None), 8, "its base, rounded up");
        assert_eq!(pricing.charge_route(models, usage(10, 0)), 16, "base plus reported usage");
    }

    #[test]
    fn fixed_class_mode_charges_one_class_and_caps_the_answer() {
        let config =
            PricingConfig { fixed_charge: 300, fixed_max_tokens: 64, ..PricingConfig::default() };
        let pricing = Pricing::new(&config, 1_024);
        for usage in [usage(1, 1), usage(60, 64), None] {
            assert_eq!(pricing.charge(usage), 300, "no refund tells anything: {usage:?}");
        }
        assert_eq!(pricing.charge(usage(250, 64)), 512, "a longer prompt pays its own class");
        assert_eq!(pricing.flat_charge(pricing.chat()), 300, "an upstream error too");
        assert_eq!(pricing.to_json()["fixedCharge"], "300");
        assert_eq!(pricing.to_json()["fixedMaxTokens"], "64");
        let embeddings = crate::config::ProxyRoute {
            method: "POST".into(),
            path: "/v1/embeddings".into(),
            price: 0,
            metered: true,
            free: false,
        };
        let proxied =
            Pricing::new(&PricingConfig { proxy: vec![embeddings], ..config.clone() }, 1_024);
        let route = proxied.proxy_route("POST", "/v1/embeddings").expect("listed");
        assert_eq!(
            proxied.charge_route(route, usage(20, 0)),
            32,
            "proxy routes keep their classes"
        );
        let capped = |body: &str| -> Value {
            let sent = pricing.chat_body(Bytes::from(body.to_owned())).expect("an object");
            serde_json::from_slice(&sent).expect("JSON")
        };
        assert_eq!(capped(r#"{"messages":[]}"#)["max_tokens"], 64, "set when absent");
        assert_eq!(capped(r#"{"max_tokens":10}"#)["max_tokens"], 10, "a smaller ask stands");
        assert_eq!(capped(r#"{"max_tokens":9000}"#)["max_tokens"], 64);
        assert_eq!(capped(r#"{"max_tokens":"lots"}"#)["max_tokens"], 64);
        let newer = capped(r#"{"max_completion_tokens":9000}"#);
        assert_eq!(newer["max_completion_tokens"], 64);
        assert!(newer.get("max_tokens").is_none(), "the newer name alone is capped alone");
        let one = capped(r#"{"n":128,"best_of":9,"max_tokens":64}"#);
        assert_eq!((one["n"].as_u64(), one.get("best_of")), (Some(1), None), "one choice");
        for unread in [&b"[1]"[..], b"{\"max_tokens\":9000,\"x\":NaN}", b"\xef\xbb\xbf{}"] {
            assert_eq!(
                pricing.chat_body(Bytes::copy_from_slice(unread)),
                None,
                "refused, not sent"
            );
        }
        let over = PricingConfig { fixed_charge: 5_000, ..config };
        assert_eq!(Pricing::new(&over, 1_024).charge(None), 1_024, "capped at C_MAX");
        let off = Pricing::new(&PricingConfig::default(), 1_024);
        let body = Bytes::from_static(br#"{"max_tokens":9000}"#);
        assert_eq!(off.chat_body(body.clone()), Some(body), "off: the body goes as it came");
        assert!(off.to_json().get("fixedCharge").is_none());
    }

    #[test]
    fn reads_openai_usage() {
        let response = serde_json::json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        assert_eq!(Usage::from_response(&response), usage(3, 4));
        let embedding = serde_json::json!({"usage": {"prompt_tokens": 8, "total_tokens": 8}});
        assert_eq!(Usage::from_response(&embedding), usage(8, 0));
        let totals_only = serde_json::json!({"usage": {"prompt_tokens": 8, "total_tokens": 50}});
        assert_eq!(Usage::from_response(&totals_only), usage(8, 42));
        let broken = serde_json::json!({"usage": {"prompt_tokens": 8, "completion_tokens": "x"}});
        assert_eq!(Usage::from_response(&broken), None);
        assert_eq!(Usage::from_response(&serde_json::json!({"choices": []})), None);
        assert_eq!(Usage::from_response(&serde_json::json!({"usage": null})), None);
    }
}
