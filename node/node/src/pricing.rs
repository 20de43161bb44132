//! Metering: what a served request costs, from the upstream's `usage`, rounded up to a charge
//! class so the refund tells the provider (and anyone watching) only a few bits.

use crate::config::PricingConfig;
use serde_json::Value;

/// Token counts an OpenAI-compatible upstream reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
}

impl Usage {
    /// The `usage` object of a response or a stream chunk, if it carries one.
    pub fn from_response(response: &Value) -> Option<Self> {
        let usage = response.get("usage")?;
        Some(Self {
            prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
            completion_tokens: usage.get("completion_tokens")?.as_u64()?,
        })
    }
}

/// Prices and charge classes of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    per_request: u64,
    per_prompt_token: u64,
    per_completion_token: u64,
    buckets: Vec<u64>,
    c_max: u64,
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
        }
    }

    /// The charge classes, increasing; the last is `C_MAX`.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// The charge of a request: `C_MAX` when the upstream reported no usage (the client asked
    /// for nothing it could be metered on, or the stream broke), else the price rounded up to
    /// the smallest class that covers it, capped at `C_MAX`.
    pub fn charge(&self, usage: Option<Usage>) -> u64 {
        let Some(usage) = usage else { return self.c_max };
        let cost = u128::from(self.per_request)
            + u128::from(usage.prompt_tokens) * u128::from(self.per_prompt_token)
            + u128::from(usage.completion_tokens) * u128::from(self.per_completion_token);
        self.round_up(cost)
    }

    /// The charge of a request priced per call only (the generic proxy route).
    pub fn flat_charge(&self) -> u64 {
        self.round_up(u128::from(self.per_request))
    }

    fn round_up(&self, cost: u128) -> u64 {
        if cost == 0 {
            return 0;
        }
        self.buckets.iter().copied().find(|&b| u128::from(b) >= cost).unwrap_or(self.c_max)
    }

    /// The JSON a 402 and `/v1/info` publish.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "perRequest": self.per_request.to_string(),
            "perPromptToken": self.per_prompt_token.to_string(),
            "perCompletionToken": self.per_completion_token.to_string(),
            "buckets": self.buckets.iter().map(u64::to_string).collect::<Vec<_>>(),
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
        };
        let pricing = Pricing::new(&config, 100);
        assert_eq!(pricing.buckets(), &[5, 10, 100], "classes above C_MAX dropped");
        assert_eq!(pricing.flat_charge(), 10);
        assert_eq!(pricing.charge(usage(3, 3)), 10);
    }

    #[test]
    fn reads_openai_usage() {
        let response = serde_json::json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        assert_eq!(Usage::from_response(&response), usage(3, 4));
        assert_eq!(Usage::from_response(&serde_json::json!({"choices": []})), None);
        assert_eq!(Usage::from_response(&serde_json::json!({"usage": null})), None);
    }
}
