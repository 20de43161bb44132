//! Metadata mitigations (spec/10): what the node does so that the timing and the sizes of its
//! answers say less about the request behind them.
//!
//! - Timing: an answer leaves no earlier than `privacy.min_latency_ms` after its request
//!   arrived, then after a further uniform delay of up to `privacy.jitter_ms`; a stream's first
//!   byte is held the same way.
//! - Sizes: with `privacy.pad_bytes` = `F`, a plain JSON answer is padded with trailing spaces
//!   (JSON whitespace) to a multiple of `F`, and a stream is relayed in frames of exactly `F`
//!   bytes, its end padded with an event-stream comment line so the whole is a multiple of `F`.
//!
//! The fixed-class charge, the third mitigation, lives in [`crate::pricing`].

use crate::config::PrivacyConfig;
use bytes::Bytes;
use rand::Rng;
use std::time::{Duration, Instant};

/// The node's answer-timing and padding settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mitigations {
    min_latency: Duration,
    jitter: Duration,
    pad_bytes: usize,
}

impl Mitigations {
    /// The mitigations `config` asks for.
    pub fn new(config: &PrivacyConfig) -> Self {
        Self {
            min_latency: Duration::from_millis(config.min_latency_ms),
            jitter: Duration::from_millis(config.jitter_ms),
            pad_bytes: config.pad_bytes,
        }
    }

    /// When an answer ready at `ready` to a request that arrived at `arrived` may leave: at
    /// `arrived + min_latency` at the earliest, then after a uniform delay in `[0, jitter]`.
    pub fn release_at(&self, arrived: Instant, ready: Instant, rng: &mut impl Rng) -> Instant {
        ready.max(arrived + self.min_latency) + self.jitter_sample(rng)
    }

    fn jitter_sample(&self, rng: &mut impl Rng) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        let most = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.gen_range(0..=most))
    }

    /// Whether answers are held at all.
    pub fn holds(&self) -> bool {
        !(self.min_latency.is_zero() && self.jitter.is_zero())
    }

    /// A plain answer of type `content_type`, padded when it is JSON.
    pub fn pad_answer(&self, content_type: Option<&str>, body: Bytes) -> Bytes {
        let json = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        if !json || self.pad_bytes == 0 {
            return body;
        }
        let mut padded = Vec::with_capacity(padded_len(body.len(), self.pad_bytes));
        padded.extend_from_slice(&body);
        padded.resize(padded_len(body.len(), self.pad_bytes), b' ');
        Bytes::from(padded)
    }

    /// The settings as `/v1/info` publishes them, so a client knows what the node does.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "minLatencyMs": u64::try_from(self.min_latency.as_millis()).unwrap_or(u64::MAX),
            "jitterMs": u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX),
            "padBytes": self.pad_bytes,
        })
    }

    /// A framer for one relayed stream.
    pub fn framer(&self) -> Framer {
        Framer { frame: self.pad_bytes, buffer: Vec::new() }
    }
}

/// `len` rounded up to a multiple of `unit` (`len` itself when `unit` is 0).
pub fn padded_len(len: usize, unit: usize) -> usize {
    if unit == 0 { len } else { len.div_ceil(unit).max(1) * unit }
}

/// Cuts a relayed event stream into frames of exactly `frame` bytes (passes chunks through
/// when `frame` is 0). Holds at most one frame less a byte.
#[derive(Debug)]
pub struct Framer {
    frame: usize,
    buffer: Vec<u8>,
}

impl Framer {
    /// The whole frames `chunk` completes.
    pub fn push(&mut self, chunk: Bytes) -> Vec<Bytes> {
        if self.frame == 0 {
            return if chunk.is_empty() { Vec::new() } else { vec![chunk] };
        }
        self.buffer.extend_from_slice(&chunk);
        let whole = self.buffer.len() / self.frame * self.frame;
        let rest = self.buffer.split_off(whole);
        let frames = std::mem::replace(&mut self.buffer, rest);
        frames.chunks(self.frame).map(Bytes::copy_from_slice).collect()
    }

    /// What is left, padded to a whole frame with a comment line (`:` then spaces), which
    /// event-stream readers skip. Only a stream that ended at a line start is padded: a comment
    /// appended to a cut line would change that line.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut rest = std::mem::take(&mut self.buffer);
        if rest.is_empty() {
            return Vec::new();
        }
        if rest.ends_with(b"\n") {
            let mut pad = padded_len(rest.len(), self.frame) - rest.len();
            // A comment line takes at least its `:` and its newline.
            if pad == 1 {
                pad += self.frame;
            }
            rest.push(b':');
            rest.resize(rest.len() + pad - 2, b' ');
            rest.push(b'\n');
        }
        rest.chunks(self.frame.max(1)).map(Bytes::copy_from_slice).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mitigations(min_latency_ms: u64, jitter_ms: u64, pad_bytes: usize) -> Mitigations {
        Mitigations::new(&PrivacyConfig { min_latency_ms, jitter_ms, pad_bytes })
    }

    #[test]
    fn answers_leave_after_the_floor_then_within_the_jitter() {
        let m = mitigations(100, 20, 0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let arrived = Instant::now();
        let mut sum = Duration::ZERO;
        for _ in 0..1_000 {
            // A fast answer is held to the floor, then jittered.
            let held =
                m.release_at(arrived, arrived + Duration::from_millis(3), &mut rng) - arrived;
            assert!((Duration::from_millis(100)..=Duration::from_millis(120)).contains(&held));
            sum += held;
            // A slow one is jittered from when it is ready.
            let ready = arrived + Duration::from_millis(400);
            let slow = m.release_at(arrived, ready, &mut rng) - ready;
            assert!(slow <= Duration::from_millis(20));
        }
        let mean = sum / 1_000;
        assert!(
            (Duration::from_millis(108)..=Duration::from_millis(112)).contains(&mean),
            "uniform: the mean is the middle, got {mean:?}"
        );
        let off = Mitigations::default();
        assert!(!off.holds());
        let ready = arrived + Duration::from_millis(3);
        assert_eq!(off.release_at(arrived, ready, &mut rng), ready, "off: no delay");
    }

    #[test]
    fn plain_json_answers_are_padded_with_whitespace() {
        let m = mitigations(0, 0, 256);
        let body = Bytes::from_static(br#"{"choices":[],"usage":{"prompt_tokens":3}}"#);
        let padded = m.pad_answer(Some("application/json; charset=utf-8"), body.clone());
        assert_eq!(padded.len(), 256);
        let parsed: serde_json::Value = serde_json::from_slice(&padded).expect("still JSON");
        assert_eq!(parsed, serde_json::from_slice::<serde_json::Value>(&body).expect("JSON"));
        assert_eq!(m.pad_answer(Some("audio/mpeg"), body.clone()), body, "not JSON: as is");
        assert_eq!(mitigations(0, 0, 0).pad_answer(Some("application/json"), body.clone()), body);
        for (len, padded) in [(0, 256), (1, 256), (256, 256), (257, 512)] {
            assert_eq!(padded_len(len, 256), padded);
        }
    }

    #[test]
    fn streams_leave_in_whole_frames_and_end_in_a_comment() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":5}}\n\n\
                      event: zkcredits-settlement\ndata: {}\n\n";
        for frame in [16, 64, 100, 1_024] {
            for cut in [1, 7, 50] {
                let mut framer = mitigations(0, 0, frame).framer();
                let mut frames = Vec::new();
                for chunk in stream.as_bytes().chunks(cut) {
                    frames.extend(framer.push(Bytes::copy_from_slice(chunk)));
                }
                frames.extend(framer.finish());
                assert!(frames.iter().all(|f| f.len() == frame), "every frame is {frame} bytes");
                let whole: Vec<u8> = frames.concat();
                assert!(whole.starts_with(stream.as_bytes()));
                let pad = std::str::from_utf8(&whole[stream.len()..]).expect("text");
                assert!(pad.starts_with(':') && pad.ends_with('\n'), "one comment line: {pad:?}");
                assert!(pad.len() >= 2 && pad.len() < frame + 2);
            }
        }
        // A stream cut mid-line is flushed as is: a comment would join the cut line.
        let mut framer = mitigations(0, 0, 16).framer();
        assert!(framer.push(Bytes::from_static(b"data: {\"cho")).is_empty());
        assert_eq!(framer.finish().concat(), b"data: {\"cho");
        // No framing: chunks pass as they come.
        let mut framer = mitigations(0, 0, 0).framer();
        assert_eq!(framer.push(Bytes::from_static(b"abc")), vec![Bytes::from_static(b"abc")]);
        assert!(framer.finish().is_empty());
    }
}
