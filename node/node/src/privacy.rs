//! Metadata mitigations (spec/10): what the node does so that the timing and the sizes of its
//! answers say less about the request behind them.
//!
//! - Timing: an answer leaves no earlier than `privacy.min_latency_ms` (`L`) after its request
//!   arrived; with `privacy.latency_classes`, it is held on to the next of `L`, `2L`, `4L`, …,
//!   so its latency tells only its class; then a further uniform delay of up to
//!   `privacy.jitter_ms`. A stream's first byte is held the same way.
//! - Sizes: with `privacy.pad_bytes` = `F`, answers are padded to a size class, the smallest
//!   of `F`, `2F`, `4F`, … that holds them: a plain JSON answer (`application/json` or
//!   `+json`) with trailing spaces (JSON whitespace), a stream with event-stream comment lines,
//!   relayed in frames of exactly `F` bytes.
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
    latency_classes: bool,
    jitter: Duration,
    pad_bytes: usize,
}

impl Mitigations {
    /// The mitigations `config` asks for.
    pub fn new(config: &PrivacyConfig) -> Self {
        Self {
            min_latency: Duration::from_millis(config.min_latency_ms),
            latency_classes: config.latency_classes,
            jitter: Duration::from_millis(config.jitter_ms),
            pad_bytes: config.pad_bytes,
        }
    }

    /// When an answer ready at `ready` to a request that arrived at `arrived` may leave: at
    /// `arrived + min_latency` at the earliest, on a latency class when they are on, then
    /// after a uniform delay in `[0, jitter]`.
    pub fn release_at(&self, arrived: Instant, ready: Instant, rng: &mut impl Rng) -> Instant {
        let mut held = ready.saturating_duration_since(arrived).max(self.min_latency);
        if self.latency_classes && !self.min_latency.is_zero() {
            let mut class = self.min_latency;
            while class < held {
                class = class.saturating_mul(2);
            }
            held = class;
        }
        arrived + held + self.jitter_sample(rng)
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
        // JSON itself, not JSON Lines nor JSON text sequences: their parsers read line by line.
        let json = content_type.is_some_and(|t| {
            let mime = t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
        if !json || self.pad_bytes == 0 {
            return body;
        }
        let size = padded_len(body.len(), self.pad_bytes);
        let mut padded = Vec::with_capacity(size);
        padded.extend_from_slice(&body);
        padded.resize(size, b' ');
        Bytes::from(padded)
    }

    /// The settings as `/v1/info` publishes them, so a client knows what the node does.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "minLatencyMs": u64::try_from(self.min_latency.as_millis()).unwrap_or(u64::MAX),
            "latencyClasses": self.latency_classes,
            "jitterMs": u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX),
            "padBytes": self.pad_bytes,
        })
    }

    /// A framer for one relayed stream.
    pub fn framer(&self) -> Framer {
        Framer { frame: self.pad_bytes, buffer: Vec::new(), relayed: 0, at_line_start: false }
    }
}

/// The size class of `len`: the smallest of `unit`, `2·unit`, `4·unit`, … that holds it
/// (`len` itself when `unit` is 0).
pub fn padded_len(len: usize, unit: usize) -> usize {
    if unit == 0 {
        return len;
    }
    let mut class = unit;
    while class < len {
        class = class.saturating_mul(2);
    }
    class
}

/// The longest padding comment line: event-stream readers buffer a line whole.
const MAX_COMMENT_LINE: usize = 1_024;

/// Cuts a relayed event stream into frames of exactly `frame` bytes and pads its end to a
/// size class (passes chunks through when `frame` is 0). Holds at most one frame less a byte.
#[derive(Debug)]
pub struct Framer {
    frame: usize,
    buffer: Vec<u8>,
    /// Bytes already relayed in whole frames.
    relayed: usize,
    /// The last byte pushed ended a line.
    at_line_start: bool,
}

impl Framer {
    /// The whole frames `chunk` completes.
    pub fn push(&mut self, chunk: Bytes) -> Vec<Bytes> {
        if self.frame == 0 {
            return if chunk.is_empty() { Vec::new() } else { vec![chunk] };
        }
        if let Some(&last) = chunk.last() {
            self.at_line_start = last == b'\n';
        }
        self.buffer.extend_from_slice(&chunk);
        let whole = self.buffer.len() / self.frame * self.frame;
        let rest = self.buffer.split_off(whole);
        let frames = std::mem::replace(&mut self.buffer, rest);
        self.relayed += frames.len();
        frames.chunks(self.frame).map(Bytes::copy_from_slice).collect()
    }

    /// Whether the stream is framed and padded at all.
    pub fn pads(&self) -> bool {
        self.frame != 0
    }

    /// What is left, padded to the stream's size class with comment lines (`:` then spaces),
    /// which event-stream readers skip: the last partial frame completed, then as many whole
    /// frames of comments (one frame, shared) as the class needs. Only a stream that ended at
    /// a line start is padded: a comment appended to a cut line would change that line.
    pub fn finish(&mut self) -> impl Iterator<Item = Bytes> + use<> {
        let mut rest = std::mem::take(&mut self.buffer);
        if self.frame == 0 || !self.at_line_start {
            let frames: Vec<Bytes> =
                rest.chunks(self.frame.max(1)).map(Bytes::copy_from_slice).collect();
            return frames.into_iter().chain(std::iter::repeat_n(Bytes::new(), 0));
        }
        if !rest.is_empty() {
            let mut pad = self.frame - rest.len();
            // A comment line takes at least its `:` and its newline.
            if pad == 1 {
                pad += self.frame;
            }
            comment_lines(&mut rest, pad);
        }
        let frames: Vec<Bytes> = rest.chunks(self.frame).map(Bytes::copy_from_slice).collect();
        let sent = (self.relayed / self.frame) + frames.len();
        let fillers = sent.max(1).next_power_of_two() - sent;
        let mut filler = Vec::with_capacity(self.frame);
        comment_lines(&mut filler, self.frame);
        frames.into_iter().chain(std::iter::repeat_n(Bytes::from(filler), fillers))
    }
}

/// Appends `len` (at least 2) bytes of comment lines, each at most [`MAX_COMMENT_LINE`].
fn comment_lines(out: &mut Vec<u8>, mut len: usize) {
    while len > 0 {
        let mut line = len.min(MAX_COMMENT_LINE);
        if len - line == 1 {
            line -= 1;
        }
        out.push(b':');
        out.resize(out.len() + line - 2, b' ');
        out.push(b'\n');
        len -= line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mitigations(min_latency_ms: u64, jitter_ms: u64, pad_bytes: usize) -> Mitigations {
        Mitigations::new(&PrivacyConfig {
            min_latency_ms,
            latency_classes: false,
            jitter_ms,
            pad_bytes,
        })
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
    fn latency_classes_hold_each_answer_to_the_next_doubling_of_the_floor() {
        let m = Mitigations::new(&PrivacyConfig {
            min_latency_ms: 250,
            latency_classes: true,
            ..PrivacyConfig::default()
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let arrived = Instant::now();
        for (ready_ms, class_ms) in [(0, 250), (250, 250), (251, 500), (900, 1_000), (3_000, 4_000)]
        {
            let ready = arrived + Duration::from_millis(ready_ms);
            let held = m.release_at(arrived, ready, &mut rng) - arrived;
            assert_eq!(held, Duration::from_millis(class_ms), "ready after {ready_ms} ms");
        }
    }

    #[test]
    fn plain_json_answers_are_padded_with_whitespace_to_a_size_class() {
        let m = mitigations(0, 0, 256);
        let body = Bytes::from_static(br#"{"choices":[],"usage":{"prompt_tokens":3}}"#);
        let padded = m.pad_answer(Some("application/json; charset=utf-8"), body.clone());
        assert_eq!(padded.len(), 256);
        let parsed: serde_json::Value = serde_json::from_slice(&padded).expect("still JSON");
        assert_eq!(parsed, serde_json::from_slice::<serde_json::Value>(&body).expect("JSON"));
        assert_eq!(m.pad_answer(Some("audio/mpeg"), body.clone()), body, "not JSON: as is");
        assert_eq!(mitigations(0, 0, 0).pad_answer(Some("application/json"), body.clone()), body);
        for (len, padded) in
            [(0, 256), (1, 256), (256, 256), (257, 512), (700, 1_024), (5_000, 8_192)]
        {
            assert_eq!(padded_len(len, 256), padded);
        }
    }

    #[test]
    fn streams_leave_in_whole_frames_padded_to_a_size_class_by_comments() {
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        for events in [1, 3, 40] {
            let stream = format!(
                "{}data: {{\"usage\":{{\"prompt_tokens\":2}}}}\n\nevent: zkcredits.settlement\ndata: {{}}\n\n",
                event.repeat(events)
            );
            for frame in [16, 64, 100, 1_024] {
                for cut in [1, 7, 50] {
                    let mut framer = mitigations(0, 0, frame).framer();
                    let mut frames = Vec::new();
                    for chunk in stream.as_bytes().chunks(cut) {
                        frames.extend(framer.push(Bytes::copy_from_slice(chunk)));
                    }
                    frames.extend(framer.finish());
                    assert!(
                        frames.iter().all(|f| f.len() == frame),
                        "every frame is {frame} bytes"
                    );
                    let whole: Vec<u8> = frames.concat();
                    assert!(
                        (whole.len() / frame).is_power_of_two(),
                        "a size class: {}",
                        whole.len()
                    );
                    assert!(
                        whole.len() >= stream.len() + 2
                            && whole.len() < 4 * stream.len() + 2 * frame
                    );
                    assert!(whole.starts_with(stream.as_bytes()));
                    let pad = std::str::from_utf8(&whole[stream.len()..]).expect("text");
                    for line in pad.split_terminator('\n') {
                        assert!(line.starts_with(':') && line.len() < MAX_COMMENT_LINE, "{line:?}");
                    }
                    assert!(pad.ends_with('\n'));
                }
            }
        }
        // A stream cut mid-line is flushed as is: a comment would join the cut line.
        let mut framer = mitigations(0, 0, 16).framer();
        assert!(framer.push(Bytes::from_static(b"data: {\"cho")).is_empty());
        assert_eq!(framer.finish().collect::<Vec<_>>().concat(), b"data: {\"cho");
        // A stream that ended on a frame's edge is still padded to its class.
        let mut framer = mitigations(0, 0, 16).framer();
        assert_eq!(framer.push(Bytes::from(vec![b'\n'; 48])).len(), 3);
        assert_eq!(framer.finish().collect::<Vec<_>>().concat().len(), 16, "48 bytes go up to 64");
        // No framing: chunks pass as they come.
        let mut framer = mitigations(0, 0, 0).framer();
        assert_eq!(framer.push(Bytes::from_static(b"abc")), vec![Bytes::from_static(b"abc")]);
        assert!(framer.finish().next().is_none());
    }
}
